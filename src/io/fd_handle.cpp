// src/io/fd_handle.cpp: lazy poller registration and ordered release-then-close.
#include "curio/io/detail/fd_handle.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>

#include "ring_io.hpp"

namespace curio::detail {

void FdHandle::ensure_registered() {
  if (reg_ && reg_->registered) {
    if (reg_->kernel != Kernel::current())
      throw RuntimeError(
          "curio: fd " + std::to_string(fd_) +
          " belongs to another kernel (a file descriptor registered with one kernel was used from another)");
    return;
  }
  if (!reg_) reg_.reset(new (FramePool::allocate(sizeof(FdRegistration))) FdRegistration());
  reg_->fd = fd_;
  // A fresh registration knows nothing about readiness: the ADD of an edge-triggered fd reports
  // its current state at once, so start "not ready" and let that first event say otherwise.
  reg_->readable = false;
  reg_->hangup = false;
  reg_->writable = false;
  Traps::io_register(*reg_);
}

Traps::IoAwaiter FdHandle::wait(IoDirection dir, bool after_would_block) {
  if (fd_ < 0) throw SystemError(EBADF, "wait on a closed file descriptor");
  ensure_registered();
  return io_wait(*reg_, dir, after_would_block);
}

void FdHandle::close() noexcept {
  if (fd_ < 0) return;
  if (reg_) Traps::io_release(*reg_);
  release_ring();
  ::close(fd_);
  fd_ = -1;
}

int FdHandle::detach() noexcept {
  if (reg_) Traps::io_release(*reg_);
  reg_.reset();
  release_ring();
  return std::exchange(fd_, -1);
}

RingState& FdHandle::ring_or_make() {
  if (!ring_) ring_.reset(make_ring_state(fd_));
  if (ring_->kernel() && ring_->kernel() != Kernel::current() && (ring_->in_flight || ring_->waiter))
    throw RuntimeError(
        "curio: fd " + std::to_string(fd_) +
        " belongs to another kernel (a file descriptor registered with one kernel was used from another)");
  return *ring_;
}

void FdHandle::release_ring() noexcept {
  if (ring_) ring_state_close(ring_.release());
}

std::span<char> read_scratch() noexcept {
  thread_local std::array<char, 65536> buffer;
  return buffer;
}

void make_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw_system_error("fcntl(O_NONBLOCK)");
  int fdflags = ::fcntl(fd, F_GETFD);
  if (fdflags < 0 || ::fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC) < 0) throw_system_error("fcntl(FD_CLOEXEC)");
}

}  // namespace curio::detail
