// curio/io/detail/fd_handle.hpp: FdHandle, an owned non-blocking file descriptor and its
// registration with the kernel's poller. The registration is made on the first wait (one
// epoll_ctl per descriptor lifetime, none per operation) and released before the close, so a
// reused descriptor number can never wake a stale waiter.
#pragma once

#include <cerrno>
#include <memory>
#include <span>
#include <utility>

#include "curio/core/frame_pool.hpp"
#include "curio/core/traps.hpp"

namespace curio::detail {

// On an io_uring kernel: the descriptor's completion state (a multishot recv or accept, the
// bytes or connections it delivered that nobody read yet, the ops in flight on it), made on
// first use and defined in src/io/ring_io.hpp. Null on epoll.
struct RingState;
struct RingStateDeleter {
  void operator()(RingState* s) const noexcept;
};

// A task waiting for a socket's multishot recv or accept (io_uring): the part of its awaiter
// the completion state points at. The awaiter's undo function (FdWaitBase) tells the kinds apart.
struct RingWaiter : Traps::FdWaitBase {
  TaskState* task = nullptr;
  RingState* st = nullptr;
};

// The registration's block comes from the frame pool: an idle connection keeps one, and a pool
// block has no malloc header (64 bytes rather than 80).
struct FdRegistrationDeleter {
  void operator()(FdRegistration* r) const noexcept {
    r->~FdRegistration();
    FramePool::deallocate(r, sizeof(FdRegistration));
  }
};

class FdHandle {
 public:
  FdHandle() noexcept = default;
  explicit FdHandle(int fd) noexcept : fd_(fd) {}
  FdHandle(FdHandle&& o) noexcept : fd_(std::exchange(o.fd_, -1)), reg_(std::move(o.reg_)), ring_(std::move(o.ring_)) {}
  FdHandle& operator=(FdHandle&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = std::exchange(o.fd_, -1);
      reg_ = std::move(o.reg_);
      ring_ = std::move(o.ring_);
    }
    return *this;
  }
  ~FdHandle() { close(); }

  int fd() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }

  // The trap: waits (cancellably) until the descriptor may be ready in direction dir.
  // after_would_block: the caller just saw EAGAIN, so wait for the next edge. Raises EBADF on a
  // closed handle, ResourceBusy if another task already waits in that direction.
  Traps::IoAwaiter wait(IoDirection dir, bool after_would_block = true);

  // Readiness bookkeeping that saves a system call. After a short read from a stream socket (or
  // a short write) the kernel buffer was drained (filled) at that moment; until the poller
  // reports a new edge, another attempt would only return EAGAIN. An edge-triggered epoll
  // reports every new arrival, so waiting for that edge directly is safe.
  void drained(IoDirection dir) noexcept {
    // After a hang-up the next read returns EOF or an error, with no further edge to wait for.
    if (reg_ && reg_->registered && !reg_->hangup) (dir == IoDirection::Read ? reg_->readable : reg_->writable) = false;
  }
  // False only when drained() said so and no edge has arrived since.
  bool may_be_ready(IoDirection dir) const noexcept {
    return !(reg_ && reg_->registered) || (dir == IoDirection::Read ? reg_->readable : reg_->writable);
  }

  // The poller registration (null until the first wait): who waits, for introspection.
  const FdRegistration* registration() const noexcept { return reg_.get(); }
  // Forgets what drained() recorded (someone else used the descriptor, e.g. in blocking mode):
  // the next operation tries the system call before it waits.
  void reset_readiness() noexcept {
    if (reg_) reg_->readable = reg_->writable = true;
  }

  // The completion state (io_uring), made on first use; null if none yet.
  RingState* ring() const noexcept { return ring_.get(); }
  RingState& ring_or_make();

  // Releases the registration, then closes. Idempotent; a task waiting on it gets EBADF. Ops
  // in flight on it are cancelled first (their records live until their completions arrive).
  void close() noexcept;
  // Releases the registration and gives up ownership of the descriptor.
  int detach() noexcept;

 private:
  void ensure_registered();

  void release_ring() noexcept;

  int fd_ = -1;
  std::unique_ptr<FdRegistration, FdRegistrationDeleter> reg_;
  std::unique_ptr<RingState, RingStateDeleter> ring_;
};

// Puts fd into non-blocking, close-on-exec mode (SystemError on failure).
void make_nonblocking(int fd);

inline bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK; }

// The calling thread's read buffer (64 KiB). Reads land here first, so a task waiting for data
// pins no buffer of its own; only what arrived is copied out. Safe because nothing suspends
// between a read into it and the copy.
std::span<char> read_scratch() noexcept;

}  // namespace curio::detail
