// src/io/ring_io.cpp: sockets on completions (see ring_io.hpp).
#include "ring_io.hpp"

#include <unistd.h>

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
  if (!op.in_flight && s->waiter && !s->eof && !s->error) {
    try {
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
    if (!op.in_flight) delete s;
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
    if (s->reader && s->buffered() == 0) {
      std::size_t k = s->reader->take(p, n);
      p += k;
      n -= k;
    }
    if (n > 0) s->pending.append(p, n);
    wake(s);
    if (s->buffered() >= kHighWater && op.in_flight) Traps::op_cancel(*s->kernel, op);
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
    task->trap_error = std::make_exception_ptr(ReadResourceBusy("another task is already reading this socket"));
    return false;
  }
  try {
    arm(*fd, st, RingState::Mode::Recv);
  } catch (...) {
    task->trap_error = std::current_exception();
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
    task->trap_error = std::make_exception_ptr(ReadResourceBusy("another task is already accepting on this socket"));
    return false;
  }
  try {
    arm(*fd, st, RingState::Mode::Accept);
  } catch (...) {
    task->trap_error = std::current_exception();
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
  int err = std::exchange(st->error, 0);  // the multishot accept ended with it; the next accept re-arms
  throw_system_error("accept", err);
}

bool RingOpAwaiter::await_suspend(std::coroutine_handle<> h) {
  try {
    st = &fd->ring_or_make();
  } catch (...) {
    task = Traps::current();
    task->trap_error = std::current_exception();
    return false;
  }
  IoOp*& slot = state == TaskStatus::ReadWait ? st->reader_op : st->writer_op;
  if (slot) {  // one reader and one writer at a time, as on the readiness path
    task = Traps::current();
    task->trap_error = state == TaskStatus::ReadWait
                           ? std::make_exception_ptr(ReadResourceBusy("another task is already reading this socket"))
                           : std::make_exception_ptr(WriteResourceBusy("another task is already writing this socket"));
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
