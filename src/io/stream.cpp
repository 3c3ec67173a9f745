// src/io/stream.cpp: Stream's reads from the descriptor into its ReadBuffer (the buffered reads
// over it are src/io/buffered_reads.hpp's) and its writes.
#include "curio/io/stream.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstring>
#include <mutex>

#include "io/buffered_reads.hpp"
#include "ring_io.hpp"

namespace curio {

using detail::IoDirection;

using detail::would_block;

Stream::Stream(Stream&& o) noexcept
    : fd_(o.fd_), socket_(o.socket_), drain_hint_(o.drain_hint_), rbuf_(std::move(o.rbuf_)) {}

Task<std::size_t> Stream::read_descriptor(std::span<char> into) {
  if (socket_ && drain_hint_ && detail::ring_sockets()) {  // a stream socket on io_uring
    if (fd_->fd() < 0) throw SystemError(EBADF, "recv on a closed socket");
    detail::RingRecvAwaiter read(fd_, into.data(), nullptr, into.size());
    std::size_t n = co_await read;
    if (!read.fell_back) {
      if (n == 0) rbuf_.set_eof();
      co_return n;
    }
  }
  for (;;) {
    if (!fd_->may_be_ready(IoDirection::Read)) co_await fd_->wait(IoDirection::Read);
    int fd = fd_->fd();
    ssize_t n = socket_ ? ::recv(fd, into.data(), into.size(), 0) : ::read(fd, into.data(), into.size());
    if (n > 0) {
      if (drain_hint_ && static_cast<std::size_t>(n) < into.size()) fd_->drained(IoDirection::Read);
      co_return static_cast<std::size_t>(n);
    }
    if (n == 0) {
      rbuf_.set_eof();
      co_return 0;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (!would_block(err)) throw_system_error(socket_ ? "recv" : "read", err);
    co_await fd_->wait(IoDirection::Read);
  }
}

Task<std::size_t> Stream::fill() {
  if (socket_ && drain_hint_ && detail::ring_sockets()) {  // a stream socket on io_uring
    if (fd_->fd() < 0) throw SystemError(EBADF, "recv on a closed socket");
    // The completion appends to the buffer itself while this task is suspended (a per-thread
    // scratch buffer could be overwritten by another task before this one resumes).
    detail::RingRecvAwaiter read(fd_, nullptr, &rbuf_.append_target(), 65536);
    std::size_t n = co_await read;
    if (!read.fell_back) {
      if (n == 0) rbuf_.set_eof();
      co_return n;
    }
  }
  // The scratch buffer is per thread: nothing else runs between read_descriptor's read (after
  // its last suspension) and this append.
  std::span<char> scratch = detail::read_scratch();
  std::size_t n = co_await read_descriptor(scratch);
  rbuf_.append(scratch.data(), n);
  co_return n;
}

// The reads are BufferedReads (src/io/buffered_reads.hpp), shared with SslStream. Plain
// forwarding functions: the coroutine is the template's, with no frame of its own here.
using Reads = detail::BufferedReads<Stream>;
Task<std::string> Stream::read(std::size_t maxsize) { return Reads::read(*this, maxsize); }
Task<std::string> Stream::read_exactly(std::size_t n) { return Reads::read_exactly(*this, n); }
Task<std::string> Stream::readline(std::size_t maxlen) { return Reads::readline(*this, maxlen); }
Task<std::optional<std::string>> Stream::next_line(std::size_t maxlen) { return Reads::next_line(*this, maxlen); }
Task<std::vector<std::string>> Stream::readlines(std::size_t maxlen) { return Reads::readlines(*this, maxlen); }
Task<std::string> Stream::readall() { return Reads::readall(*this); }

Task<> Stream::write(std::string_view data) {
  std::size_t written = 0;
  try {
    while (written < data.size()) {
      int fd = fd_->fd();
      ssize_t n = socket_ ? ::send(fd, data.data() + written, data.size() - written, MSG_NOSIGNAL)
                          : ::write(fd, data.data() + written, data.size() - written);
      if (n >= 0) {
        written += static_cast<std::size_t>(n);
        continue;
      }
      int err = errno;
      if (err == EINTR) continue;
      if (!would_block(err)) throw_system_error(socket_ ? "send" : "write", err);
      co_await fd_->wait(IoDirection::Write);
    }
  } catch (CancelledError& e) {
    e.bytes_written = written;
    throw;
  }
}

Task<> Stream::writelines(std::vector<std::string_view> lines) { return detail::write_lines(*this, std::move(lines)); }

namespace {
bool is_fifo(int fd) noexcept {
  struct stat st;
  return ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}
}  // namespace

FileStream::FileStream(int fd) : Stream(nullptr, false, is_fifo(fd)), handle_(fd) {
  fd_ = &handle_;
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] {
    struct sigaction current {};
    if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
  });
  detail::make_nonblocking(fd);
}

}  // namespace curio
