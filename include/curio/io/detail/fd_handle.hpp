// curio/io/detail/fd_handle.hpp: FdHandle, an owned non-blocking file descriptor and its
// registration with the kernel's poller. The registration is made on the first wait (one
// epoll_ctl per descriptor lifetime, none per operation) and released before the close, so a
// reused descriptor number can never wake a stale waiter.
#pragma once

#include <memory>
#include <utility>

#include "curio/core/traps.hpp"

namespace curio::detail {

class FdHandle {
 public:
  FdHandle() noexcept = default;
  explicit FdHandle(int fd) noexcept : fd_(fd) {}
  FdHandle(FdHandle&& o) noexcept : fd_(std::exchange(o.fd_, -1)), reg_(std::move(o.reg_)) {}
  FdHandle& operator=(FdHandle&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = std::exchange(o.fd_, -1);
      reg_ = std::move(o.reg_);
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

  // Releases the registration, then closes. Idempotent; a task waiting on it gets EBADF.
  void close() noexcept;
  // Releases the registration and gives up ownership of the descriptor.
  int detach() noexcept;

 private:
  void ensure_registered();

  int fd_ = -1;
  std::unique_ptr<FdRegistration> reg_;
};

// Puts fd into non-blocking, close-on-exec mode (SystemError on failure).
void make_nonblocking(int fd);

}  // namespace curio::detail
