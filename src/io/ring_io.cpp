// src/io/ring_io.cpp: sockets on completions (see ring_io.hpp).
#include "ring_io.hpp"

#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "curio/core/frame_pool.hpp"
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

// Linux 6.0 has the multishot recv. On an older release (5.19 has the provided-buffer ring, so
// only the first recv's completion can tell) Socket::recv keeps a frame that can fall back to
// readiness until one multishot recv has worked.
bool multishot_recv_expected() noexcept {
  utsname u{};
  if (::uname(&u) != 0) return false;
  int major = 0, minor = 0;
  if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major >= 6;
}
std::atomic<bool> recv_confirmed{multishot_recv_expected()};  // ring_recv_confirmed

bool missing_errno(int err) noexcept { return err == EINVAL || err == ENOSYS || err == EOPNOTSUPP; }

// The first completion of s's multishot op is -EINVAL: whether that is the OS kernel refusing
// the multishot form rather than the socket refusing the call (the plain call says which).
bool multishot_refused(const RingState* s) noexcept {
  if (s->mode == RingState::Mode::Accept) {
    int listening = 0;
    socklen_t len = sizeof listening;
    return ::getsockopt(s->fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
  }
  char c;
  return ::recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 || errno == EAGAIN || errno == EWOULDBLOCK;
}

void wake(RingState* s) noexcept {
  if (RingWaiter* w = std::exchange(s->waiter, nullptr)) Traps::reschedule(w->task);
}

void destroy(RingState* s) noexcept {
  delete s->backlog;
  s->~RingState();
  FramePool::deallocate(s, sizeof(RingState));
}

void handle_completion(RingState* s, IoRequest& op, const IoCompletion& c) noexcept;
void recv_waiter_undo(Traps::FdWaitBase* p) noexcept;
void read_past_dry_ring(RingState* s, IoRequest& op) noexcept;

void on_completion(IoRequest& op, const IoCompletion& c) noexcept {
  auto* s = static_cast<RingState*>(&op);
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
      Traps::op_submit(*s->kernel(), op);
    } catch (const SystemError& e) {
      s->error = e.code().value();
      wake(s);
    } catch (...) {
      s->error = ENOMEM;
      wake(s);
    }
  }
}

// The multishot recv ended with ENOBUFS: the provided-buffer ring ran dry while this socket had
// bytes. Armed again, its recv met a dry ring again whenever the recvs still armed on other
// sockets took the buffers given back first: with 10,000 busy connections a quarter of them made
// one round trip in 5 s while others made 200 (docs/io.md). So a waiting reader gets the bytes
// by a plain recv here and now (into the thread's scratch buffer, copied out at once like a
// provided buffer), and its next read arms the multishot recv again. With nobody waiting, the
// bytes stay in the socket until a read arms it.
void read_past_dry_ring(RingState* s, IoRequest& op) noexcept {
  if (!s->waiter) return;
  std::span<char> buf = read_scratch();
  ssize_t n;
  do {
    n = ::recv(s->fd, buf.data(), buf.size(), MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // on_completion arms it again for the waiter
  handle_completion(s, op, IoCompletion{n >= 0 ? static_cast<int>(n) : -errno, false, buf.data()});
}

void handle_completion(RingState* s, IoRequest& op, const IoCompletion& c) noexcept {
  if (s->orphan) {
    if (c.res >= 0 && s->mode == RingState::Mode::Accept) ::close(c.res);
    // Its last completion, not !op.in_flight: that is already false while earlier completions
    // of the same reap are dispatched, and deleting at the first left the rest a freed op.
    if (!c.more) destroy(s);
    return;
  }
  bool first = !s->delivered;
  s->delivered = true;
  if (first && c.res == -EINVAL && !c.more && multishot_refused(s)) {
    (s->mode == RingState::Mode::Accept ? accept_missing : recv_missing).store(true, std::memory_order_relaxed);
    s->fallback = true;  // the waiting task retries on readiness
    wake(s);
    return;
  }
  if (s->mode == RingState::Mode::Recv && !recv_confirmed.load(std::memory_order_relaxed))
    recv_confirmed.store(true, std::memory_order_relaxed);
  if (s->mode == RingState::Mode::Accept) {
    if (c.res >= 0) {
      if (s->waiter) {
        static_cast<RingAcceptAwaiter*>(s->waiter)->got = c.res;
        wake(s);
      } else {
        std::vector<int>* queue = nullptr;
        try {
          queue = &s->backlog_or_make().accepted;
          queue->push_back(c.res);
        } catch (...) {
          ::close(c.res);  // out of memory: the connection is refused rather than leaked
          return;
        }
        if (queue->size() >= kAcceptQueue) Traps::op_cancel(*s->kernel(), op);
      }
    } else if (-c.res != ECANCELED && !accept_should_retry(-c.res)) {  // a cancel is not an error
      s->error = -c.res;
      wake(s);
    }
    return;
  }
  if (c.res == -ENOBUFS) {
    read_past_dry_ring(s, op);
    return;
  }
  if (c.res > 0) {
    const char* p = c.data;
    auto n = static_cast<std::size_t>(c.res);
    RingWaiter* w = s->waiter;
    if (w && w->undo_fn == &RingRecvAwaiter::undo && s->buffered() == 0) {
      auto* reader = static_cast<RingRecvAwaiter*>(w);
      if (reader->direct) {
        std::size_t k = reader->take(p, n);
        p += k;
        n -= k;
      }
    } else if (w && w->undo_fn == &recv_waiter_undo && s->buffered() == 0) {
      TaskState* task = w->task;
      if (std::size_t k = ring_recv_hand_over(*w, p, n)) {  // w is a string now: wake its task by hand
        s->waiter = nullptr;
        Traps::reschedule(task);
        p += k;
        n -= k;
      }
    }
    if (n > 0) {
      try {
        s->backlog_or_make().pending.append(p, n);
      } catch (...) {
        s->error = ENOMEM;  // the bytes are lost: the stream ends with the error
      }
    }
    wake(s);
    if (op.in_flight && (s->buffered() >= kHighWater || (s->unix_domain == 1 && ++s->arrivals >= kUnixRearmArrivals)))
      Traps::op_cancel(*s->kernel(), op);
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
    s->kind = mode == RingState::Mode::Recv ? IoOpKind::Recv : IoOpKind::Accept;
    s->multishot = true;
    s->flags = mode == RingState::Mode::Accept ? SOCK_NONBLOCK | SOCK_CLOEXEC : 0;
    s->on_complete = &on_completion;
  } else if (s->mode != mode) {
    throw RuntimeError("curio: a socket cannot both accept and receive");
  }
  s->fd = fd.fd();
  if (!s->in_flight) {
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
    s->owner = &Traps::current_kernel_or_throw();
    Traps::op_submit(*s);
  }
}

// The undo of a waiter that takes its connection when it resumes.
void waiter_undo(Traps::FdWaitBase* p) noexcept { static_cast<RingWaiter*>(p)->st->waiter = nullptr; }
// The same for Socket::recv's waiter: its own address marks the waiters that take their bytes
// by ring_recv_hand_over.
void recv_waiter_undo(Traps::FdWaitBase* p) noexcept { static_cast<RingWaiter*>(p)->st->waiter = nullptr; }

// Registers w as the waiter of st's multishot op (armed first) and blocks its task.
bool wait_for(FdHandle& fd, RingWaiter& w, RingState::Mode mode, std::coroutine_handle<> h,
              void (*undo)(Traps::FdWaitBase*) noexcept, bool& fell_back) {
  w.task = Traps::current();
  if (Traps::take_pending_cancel(w.task)) return false;
  RingState* st = w.st;
  if (st->waiter) {
    w.task->set_trap_error(std::make_exception_ptr(
        mode == RingState::Mode::Recv ? ReadResourceBusy("another task is already reading this socket")
                                      : ReadResourceBusy("another task is already accepting on this socket")));
    return false;
  }
  try {
    arm(fd, st, mode);
  } catch (const SystemError& e) {
    if (mode == RingState::Mode::Recv && missing_errno(e.code().value())) {
      // No provided-buffer ring (before Linux 5.19): this read and every later one use readiness.
      recv_missing.store(true, std::memory_order_relaxed);
      fell_back = true;
    } else {
      w.task->set_trap_error(std::current_exception());
    }
    return false;
  } catch (...) {
    w.task->set_trap_error(std::current_exception());
    return false;
  }
  st->waiter = &w;
  w.wait_fd = fd.fd();
  w.undo_fn = undo;
  Traps::block(w.task, h, TaskStatus::ReadWait, &Traps::fd_wait_undo, static_cast<Traps::FdWaitBase*>(&w));
  return true;
}

// Copies the buffered bytes into take's target (at most what it accepts) and gives the backlog
// back once it is empty.
template <class Take>
std::size_t take_buffered(RingState& st, Take take) {
  RingBacklog& b = *st.backlog;
  std::size_t k = take(b.pending.data() + b.pos, b.pending.size() - b.pos);
  b.pos += k;
  if (b.pos == b.pending.size()) {
    b.pos = 0;
    b.pending.clear();
    st.release_backlog_if_empty();
  }
  return k;
}

// A read found nothing buffered: the error the multishot recv ended with, else end of stream.
void raise_recv_error(RingState& st) {
  if (st.error) {
    int err = std::exchange(st.error, 0);
    st.eof = true;  // after an error, the stream reads as ended (as recv(2) does)
    throw_system_error("recv", err);
  }
}

}  // namespace

bool read_ring_sockets_setting() noexcept {
  const char* v = std::getenv("CURIO_URING_SOCKETS");
  return !(v && std::strcmp(v, "0") == 0);
}

bool ring_multishot_missing(IoOpKind kind) noexcept {
  return (kind == IoOpKind::Accept ? accept_missing : recv_missing).load(std::memory_order_relaxed);
}

void ring_pretend_no_provided_buffers(bool on) noexcept {
  pretend_no_buffers.store(on, std::memory_order_relaxed);
  if (!on) recv_missing.store(false, std::memory_order_relaxed);
}

bool ring_recv_confirmed() noexcept { return recv_confirmed.load(std::memory_order_relaxed); }

RingBacklog& RingState::backlog_or_make() {
  // From malloc, not the frame pool: a burst makes one per connection at once, and the pool
  // would keep them all for this size after it (malloc can reuse the space for others).
  if (!backlog) backlog = new RingBacklog();
  return *backlog;
}

void RingState::release_backlog_if_empty() noexcept {
  if (backlog && mode != Mode::Accept && backlog->empty()) {
    delete std::exchange(backlog, nullptr);  // its string's capacity too: an idle connection keeps no buffer
  }
}

RingState* make_ring_state(int fd) {
  static_assert(sizeof(RingState) == 64, "the completion state is paid per idle connection");
  auto* s = new (FramePool::allocate(sizeof(RingState))) RingState();
  s->fd = fd;
  return s;
}

void RingStateDeleter::operator()(RingState* s) const noexcept { ring_state_close(s); }

void ring_state_close(RingState* s) noexcept {
  if (RingWaiter* w = std::exchange(s->waiter, nullptr)) {
    Traps::reschedule(w->task, std::make_exception_ptr(
                                   SystemError(EBADF, "the file descriptor was closed while a task waited on it")));
  }
  if (s->backlog) {
    for (int fd : s->backlog->accepted) ::close(fd);
    s->backlog->accepted.clear();
  }
  // The single ops in flight live in their tasks' frames: their completions (-ECANCELED) wake them.
  for (IoOp* op : {s->writer_op, s->backlog ? s->backlog->reader_op : nullptr}) {
    if (op && op->in_flight) Traps::op_cancel(*s->kernel(), *op);
  }
  if (s->in_flight) {
    s->orphan = true;
    Traps::op_cancel(*s->kernel(), *s);
    Traps::op_flush(*s->kernel());  // the request pins the file: the peer sees the close only once it ends
    return;
  }
  destroy(s);
}

bool ring_recv_suspend(FdHandle& fd, RingWaiter& w, std::coroutine_handle<> h, bool& fell_back) {
  return wait_for(fd, w, RingState::Mode::Recv, h, &recv_waiter_undo, fell_back);
}

std::string ring_recv_take(RingState& st, std::size_t cap) {
  if (st.buffered() > 0) {
    RingBacklog& b = *st.backlog;
    if (b.pos == 0 && b.pending.size() <= cap) {  // the common case: hand over the string itself
      std::string out = std::move(b.pending);
      b.pending.clear();
      st.release_backlog_if_empty();
      return out;
    }
    std::string out;
    take_buffered(st, [&](const char* p, std::size_t n) {
      std::size_t k = std::min(n, cap);
      out.assign(p, k);
      return k;
    });
    return out;
  }
  raise_recv_error(st);
  return {};  // end of stream
}

bool RingRecvAwaiter::await_ready() {
  st = &fd->ring_or_make();
  return ring_recv_ready(*st);
}

bool RingRecvAwaiter::await_suspend(std::coroutine_handle<> h) {
  return wait_for(*fd, *this, RingState::Mode::Recv, h, &undo, fell_back);
}

void RingRecvAwaiter::undo(FdWaitBase* p) noexcept { static_cast<RingRecvAwaiter*>(p)->st->waiter = nullptr; }

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
  if (fd->ring() != st) throw SystemError(EBADF, "recv: the socket was closed");
  if (fell_back || (st->fallback && st->buffered() == 0)) {
    fell_back = true;
    return 0;
  }
  if (st->buffered() > 0) return take_buffered(*st, [this](const char* p, std::size_t n) { return take(p, n); });
  raise_recv_error(*st);
  return 0;  // end of stream
}

bool RingAcceptAwaiter::await_ready() {
  st = &fd->ring_or_make();
  return (st->backlog && !st->backlog->accepted.empty()) || st->error;
}

bool RingAcceptAwaiter::await_suspend(std::coroutine_handle<> h) {
  return wait_for(*fd, *this, RingState::Mode::Accept, h, &waiter_undo, fell_back);
}

int RingAcceptAwaiter::await_resume() {
  if (task) Traps::rethrow_trap_error(task);
  if (got >= 0) return got;
  if (fd->ring() != st) throw SystemError(EBADF, "accept: the socket was closed");
  if (st->backlog && !st->backlog->accepted.empty()) {
    std::vector<int>& queue = st->backlog->accepted;
    int fd = queue.front();
    queue.erase(queue.begin());
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
  IoOp** slot_ptr = &st->writer_op;
  if (state == TaskStatus::ReadWait) {
    try {
      slot_ptr = &st->backlog_or_make().reader_op;
    } catch (...) {
      task = Traps::current();
      task->set_trap_error(std::current_exception());
      return false;
    }
  }
  IoOp*& slot = *slot_ptr;
  if (slot) {  // one reader and one writer at a time, as on the readiness path
    task = Traps::current();
    task->set_trap_error(
        state == TaskStatus::ReadWait
            ? std::make_exception_ptr(ReadResourceBusy("another task is already reading this socket"))
            : std::make_exception_ptr(WriteResourceBusy("another task is already writing this socket")));
    return false;
  }
  st->owner = Kernel::current();
  if (!OpAwaiter::await_suspend(h)) {
    st->release_backlog_if_empty();
    return false;
  }
  slot = op;
  return true;
}

int RingOpAwaiter::await_resume() {
  if (st && fd->ring() == st) {
    if (state != TaskStatus::ReadWait) {
      if (st->writer_op == op) st->writer_op = nullptr;
    } else if (st->backlog && st->backlog->reader_op == op) {
      st->backlog->reader_op = nullptr;
      st->release_backlog_if_empty();
    }
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
