// src/io/ring_io.cpp: sockets on completions (see ring_io.hpp).
#include "ring_io.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "socket_errors.hpp"

namespace curio::detail {

namespace {

// A multishot recv stops (is cancelled) once this much arrived unread, so a peer cannot fill
// the process's memory; the next read that waits arms it again (TCP flow control takes over).
constexpr std::size_t kHighWater = 256 * 1024;
// A multishot accept stops once this many connections wait unaccepted (the rest stay in the
// listen backlog, as on epoll).
constexpr std::size_t kAcceptQueue = 64;
// Linux (seen on 6.18) misses the end of stream of an AF_UNIX stream socket when the peer shut
// down while more than about 32 arrivals (its MULTISHOT_MAX_RETRY) were still queued for the
// multishot recv: the request then waits forever. A fresh request sees the end at once, so a
// multishot recv on an AF_UNIX socket is cancelled after this many arrivals and armed again.
constexpr std::uint32_t kUnixRearmArrivals = 32;

// What the first multishot recv/accept found missing in the OS kernel (ring_multishot_missing).
std::atomic<bool> recv_missing{false};
std::atomic<bool> accept_missing{false};
std::atomic<bool> pretend_no_buffers{false};  // tests: registering the buffer ring fails

bool missing_errno(int err) noexcept { return err == EINVAL || err == ENOSYS || err == EOPNOTSUPP; }

// The first completion of s's multishot op is -EINVAL: whether that is the OS kernel refusing
// the multishot form rather than the socket refusing the call (the plain call says which).
bool multishot_refused(const RingState* s) noexcept {
  if (s->mode == RingState::Mode::Accept) {
    int listening = 0;
    socklen_t len = sizeof listening;
    return ::getsockopt(s->op.fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
  }
  char c;
  return ::recv(s->op.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 || errno == EAGAIN || errno == EWOULDBLOCK;
}

void wake(RingState* s) noexcept {
  if (TaskState* t = std::exchange(s->waiter, nullptr)) Traps::reschedule(t);
  s->reader = nullptr;
  s->acceptor = nullptr;
}

void handle_completion(RingState* s, IoOp& op, const IoCompletion& c) noexcept;

void on_completion(IoOp& op, const IoCompletion& c) noexcept {
  auto* s = static_cast<RingState*>(op.owner);
  bool orphan = s->orphan;
  handle_completion(s, op, c);  // deletes an orphan at its last completion
  if (orphan) return;
  // The multishot op ended (flow control, a full accept queue, ENOBUFS...) while a task still
  // waits for it: arm it again now, or that task would wait for a request nobody made.
  // (Ended means this completion is its last: op.in_flight already tells the state after the
  // whole reap, which may hold more completions of the same request after this one.)
  if (!c.more && !op.in_flight && s->waiter && !s->eof && !s->error && !s->fallback) {
    try {
      s->arrivals = 0;
      Traps::op_submit(*s->kernel, op);
    } catch (const SystemError& e) {
      s->error = e.code().value();
      wake(s);
    } catch (...) {
      s->error = ENOMEM;
      wake(s);
    }
  }
}

void handle_completion(RingState* s, IoOp& op, const IoCompletion& c) noexcept {
  if (s->orphan) {
    if (c.res >= 0 && s->mode == RingState::Mode::Accept) ::close(c.res);
    // Its last completion, not !op.in_flight: that is already false while earlier completions
    // of the same reap are dispatched, and deleting at the first left the rest a freed op.
    if (!c.more) delete s;
    return;
  }
  if (!std::exchange(s->delivered, true) && c.res == -EINVAL && !c.more && multishot_refused(s)) {
    (s->mode == RingState::Mode::Accept ? accept_missing : recv_missing).store(true, std::memory_order_relaxed);
    s->fallback = true;  // the waiting task retries on readiness
    wake(s);
    return;
  }
  if (s->mode == RingState::Mode::Accept) {
    if (c.res >= 0) {
      if (s->acceptor) {
        s->acceptor->got = c.res;
        wake(s);
      } else {
        s->accepted.push_back(c.res);
        if (s->accepted.size() >= kAcceptQueue) Traps::op_cancel(*s->kernel, op);
      }
    } else if (-c.res != ECANCELED && !accept_should_retry(-c.res)) {  // a cancel is not an error
      s->error = -c.res;
      wake(s);
    }
    return;
  }
  if (c.res > 0) {
    const char* p = c.data;
    auto n = static_cast<std::size_t>(c.res);
    if (s->reader && s->reader->direct && s->buffered() == 0) {
      std::size_t k = s->reader->take(p, n);
      p += k;
      n -= k;
    }
    if (n > 0) s->pending.append(p, n);
    wake(s);
    if (op.in_flight && (s->buffered() >= kHighWater || (s->unix_domain == 1 && ++s->arrivals >= kUnixRearmArrivals)))
      Traps::op_cancel(*s->kernel, op);
  } else if (c.res == 0) {
    s->eof = true;
    wake(s);
  } else if (c.res != -ECANCELED) {
    s->error = -c.res;
    wake(s);
  }
}

// The multishot op of s, armed if it is not in flight (and there is something to wait for).
void arm(FdHandle& fd, RingState* s, RingState::Mode mode) {
  if (s->mode == RingState::Mode::None) {
    s->mode = mode;
    s->op.kind = mode == RingState::Mode::Recv ? IoOpKind::Recv : IoOpKind::Accept;
    s->op.multishot = true;
    s->op.flags = mode == RingState::Mode::Accept ? SOCK_NONBLOCK | SOCK_CLOEXEC : 0;
    s->op.on_complete = &on_completion;
    s->op.owner = s;
  } else if (s->mode != mode) {
    throw RuntimeError("curio: a socket cannot both accept and receive");
  }
  s->op.fd = fd.fd();
  if (!s->op.in_flight) {
    if (mode == RingState::Mode::Recv && pretend_no_buffers.load(std::memory_order_relaxed))
      throw SystemError(EINVAL, "io_uring_register_buf_ring");
    if (mode == RingState::Mode::Recv) {
      if (s->unix_domain < 0) {
        int domain = 0;
        socklen_t len = sizeof domain;
        s->unix_domain = ::getsockopt(fd.fd(), SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX;
      }
      s->arrivals = 0;
    }
    s->kernel = &Traps::current_kernel_or_throw();
    Traps::op_submit(s->op);
  }
}

}  // namespace

bool ring_sockets_enabled() noexcept {
  static const bool enabled = [] {
    const char* v = std::getenv("CURIO_URING_SOCKETS");
    return v && std::strcmp(v, "1") == 0;
  }();
  return enabled;
}

bool ring_multishot_missing(IoOpKind kind) noexcept {
  return (kind == IoOpKind::Accept ? accept_missing : recv_missing).load(std::memory_order_relaxed);
}

void ring_pretend_no_provided_buffers(bool on) noexcept {
  pretend_no_buffers.store(on, std::memory_order_relaxed);
  if (!on) recv_missing.store(false, std::memory_order_relaxed);
}

RingState* make_ring_state(int fd) {
  auto* s = new RingState();
  s->op.fd = fd;
  return s;
}

void RingStateDeleter::operator()(RingState* s) const noexcept { ring_state_close(s); }

void ring_state_close(RingState* s) noexcept {
  if (TaskState* t = std::exchange(s->waiter, nullptr)) {
    Traps::reschedule(
        t, std::make_exception_ptr(SystemError(EBADF, "the file descriptor was closed while a task waited on it")));
  }
  s->reader = nullptr;
  s->acceptor = nullptr;
  for (int fd : s->accepted) ::close(fd);
  s->accepted.clear();
  // The single ops in flight live in their tasks' frames: their completions (-ECANCELED) wake them.
  for (IoOp* op : {s->writer_op, s->reader_op}) {
    if (op && op->in_flight) Traps::op_cancel(*s->kernel, *op);
  }
  if (s->op.in_flight) {
    s->orphan = true;
    Traps::op_cancel(*s->kernel, s->op);
    Traps::op_flush(*s->kernel);  // the request pins the file: the peer sees the close only once it ends
    return;
  }
  delete s;
}

bool RingRecvAwaiter::await_ready() {
  st = &fd->ring_or_make();
  return st->buffered() > 0 || st->eof || st->error;
}

bool RingRecvAwaiter::await_suspend(std::coroutine_handle<> h) {
  task = Traps::current();
  if (Traps::take_pending_cancel(task)) return false;
  if (st->waiter) {
    task->set_trap_error(std::make_exception_ptr(ReadResourceBusy("another task is already reading this socket")));
    return false;
  }
  try {
    arm(*fd, st, RingState::Mode::Recv);
  } catch (const SystemError& e) {
    if (missing_errno(e.code().value())) {
      // No provided-buffer ring (before Linux 5.19): this read and every later one use readiness.
      recv_missing.store(true, std::memory_order_relaxed);
      fell_back = true;
    } else {
      task->set_trap_error(std::current_exception());
    }
    return false;
  } catch (...) {
    task->set_trap_error(std::current_exception());
    return false;
  }
  st->waiter = task;
  st->reader = this;
  wait_fd = fd->fd();
  undo_fn = &undo;
  Traps::block(task, h, TaskStatus::ReadWait, &Traps::fd_wait_undo, static_cast<FdWaitBase*>(this));
  return true;
}

void RingRecvAwaiter::undo(FdWaitBase* p) noexcept {
  auto* a = static_cast<RingRecvAwaiter*>(p);
  a->st->waiter = nullptr;
  a->st->reader = nullptr;
}

std::size_t RingRecvAwaiter::take(const char* p, std::size_t n) noexcept {
  std::size_t k = n < cap - got ? n : cap - got;
  if (str)
    str->append(p, k);
  else
    std::memcpy(data + got, p, k);
  got += k;
  return k;
}

std::size_t RingRecvAwaiter::await_resume() {
  if (task) Traps::rethrow_trap_error(task);
  if (got > 0) return got;
  if (fell_back || (st->fallback && st->buffered() == 0)) {
    fell_back = true;
    return 0;
  }
  if (st->buffered() > 0) {
    take(st->pending.data() + st->pos, st->buffered());
    st->pos += got;
    if (st->pos == st->pending.size()) {
      st->pos = 0;
      if (st->pending.capacity() > 64)
        std::string().swap(st->pending);  // an idle connection keeps no buffer
      else
        st->pending.clear();
    }
    return got;
  }
  if (st->error) {
    int err = std::exchange(st->error, 0);
    st->eof = true;  // after an error, the stream reads as ended (as recv(2) does)
    throw_system_error("recv", err);
  }
  return 0;  // end of stream
}

bool RingAcceptAwaiter::await_ready() {
  st = &fd->ring_or_make();
  return !st->accepted.empty() || st->error;
}

bool RingAcceptAwaiter::await_suspend(std::coroutine_handle<> h) {
  task = Traps::current();
  if (Traps::take_pending_cancel(task)) return false;
  if (st->waiter) {
    task->set_trap_error(std::make_exception_ptr(ReadResourceBusy("another task is already accepting on this socket")));
    return false;
  }
  try {
    arm(*fd, st, RingState::Mode::Accept);
  } catch (...) {
    task->set_trap_error(std::current_exception());
    return false;
  }
  st->waiter = task;
  st->acceptor = this;
  wait_fd = fd->fd();
  undo_fn = &undo;
  Traps::block(task, h, TaskStatus::ReadWait, &Traps::fd_wait_undo, static_cast<FdWaitBase*>(this));
  return true;
}

void RingAcceptAwaiter::undo(FdWaitBase* p) noexcept {
  auto* a = static_cast<RingAcceptAwaiter*>(p);
  a->st->waiter = nullptr;
  a->st->acceptor = nullptr;
}

int RingAcceptAwaiter::await_resume() {
  if (task) Traps::rethrow_trap_error(task);
  if (got >= 0) return got;
  if (!st->accepted.empty()) {
    int fd = st->accepted.front();
    st->accepted.erase(st->accepted.begin());
    return fd;
  }
  if (st->fallback) {
    fell_back = true;
    return -1;
  }
  int err = std::exchange(st->error, 0);  // the multishot accept ended with it; the next accept re-arms
  throw_system_error("accept", err);
}

bool RingOpAwaiter::await_suspend(std::coroutine_handle<> h) {
  try {
    st = &fd->ring_or_make();
  } catch (...) {
    task = Traps::current();
    task->set_trap_error(std::current_exception());
    return false;
  }
  IoOp*& slot = state == TaskStatus::ReadWait ? st->reader_op : st->writer_op;
  if (slot) {  // one reader and one writer at a time, as on the readiness path
    task = Traps::current();
    task->set_trap_error(
        state == TaskStatus::ReadWait
            ? std::make_exception_ptr(ReadResourceBusy("another task is already reading this socket"))
            : std::make_exception_ptr(WriteResourceBusy("another task is already writing this socket")));
    return false;
  }
  st->kernel = Kernel::current();
  if (!OpAwaiter::await_suspend(h)) return false;
  slot = op;
  return true;
}

int RingOpAwaiter::await_resume() {
  if (st && fd->ring() == st) {
    IoOp*& slot = state == TaskStatus::ReadWait ? st->reader_op : st->writer_op;
    if (slot == op) slot = nullptr;
  }
  return OpAwaiter::await_resume();
}

RingOpAwaiter ring_op(FdHandle& fd, IoOp& op) {
  RingOpAwaiter a;
  static_cast<Traps::OpAwaiter&>(a) = io_op(op);
  a.fd = &fd;
  return a;
}

}  // namespace curio::detail
