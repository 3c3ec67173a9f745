// src/io/blocking.cpp: curio's escape hatches and readinto for sockets and streams (issue 9):
// BlockingFd (the raw descriptor in blocking mode for a scope), io_waiting (who waits on a
// descriptor), and Stream::readinto (buffered data first, then straight into the caller's buffer).
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "curio/core/detail/task_state.hpp"
#include "curio/io/socket.hpp"
#include "curio/io/stream.hpp"
#include "ring_io.hpp"

namespace curio {

using detail::IoDirection;

namespace {
void set_nonblocking_flag(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) throw_system_error("fcntl(F_GETFL)");
  int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && ::fcntl(fd, F_SETFL, wanted) < 0) throw_system_error("fcntl(F_SETFL)");
}

IoWaiting waiting_on(const detail::FdHandle* fd) noexcept {
  IoWaiting w;
  if (!fd) return w;
  if (const detail::FdRegistration* reg = fd->registration()) {
    if (reg->reader) w.reader = reg->reader->id;
    if (reg->writer) w.writer = reg->writer->id;
  }
  if (const detail::RingState* ring = fd->ring()) {  // io_uring: the completion waits
    if (ring->waiter) w.reader = ring->waiter->task->id;
    if (const detail::IoOp* op = ring->backlog ? ring->backlog->reader_op : nullptr; op && op->owner)
      w.reader = static_cast<detail::Traps::OpAwaiter*>(op->owner)->task->id;
    if (ring->writer_op && ring->writer_op->owner)
      w.writer = static_cast<detail::Traps::OpAwaiter*>(ring->writer_op->owner)->task->id;
  }
  return w;
}
}  // namespace

BlockingFd::BlockingFd(detail::FdHandle* fd) : fd_(fd) {
  if (!fd_ || !fd_->valid()) throw IOError("curio: blocking() on a closed descriptor");
  IoWaiting w = waiting_on(fd_);
  if (w.reader || w.writer)
    throw IOError("curio: blocking() while task " + std::to_string(w.reader ? w.reader : w.writer) +
                  " waits on the descriptor; its wait would become a blocking call in the kernel thread");
  set_nonblocking_flag(fd_->fd(), false);
}

BlockingFd::~BlockingFd() {
  if (!fd_ || !fd_->valid()) return;
  // Restoring cannot fail on a valid descriptor short of EBADF; nothing useful to do then.
  int flags = ::fcntl(fd_->fd(), F_GETFL);
  if (flags >= 0) ::fcntl(fd_->fd(), F_SETFL, flags | O_NONBLOCK);
  fd_->reset_readiness();  // the library may have read or written: try before waiting
}

int BlockingFd::fileno() const noexcept { return fd_ ? fd_->fd() : -1; }

BlockingFd Socket::blocking() { return BlockingFd(&fd_); }

IoWaiting Socket::io_waiting() const noexcept { return waiting_on(&fd_); }

BlockingFd Stream::blocking() {
  if (buffered() != 0)
    throw IOError("curio: blocking() on a stream with " + std::to_string(buffered()) +
                  " bytes of unread buffered data, which the raw descriptor would skip; read them first");
  return BlockingFd(fd_);
}

IoWaiting Stream::io_waiting() const noexcept { return waiting_on(fd_); }

Task<std::size_t> Stream::readinto(std::span<std::byte> buffer) {
  if (buffer.empty()) co_return 0;
  if (buffered() != 0) co_return rbuf_.take_into(buffer);  // readline's progress stays valid for the rest
  if (rbuf_.eof()) co_return 0;
  // Straight into buffer. Nothing suspends between the read and the return, so a cancellation
  // (only at the wait) leaves buffer untouched.
  std::span<char> into(reinterpret_cast<char*>(buffer.data()), buffer.size());
  co_return co_await read_descriptor(into);
}

}  // namespace curio
