// src/io/stream.cpp: the stream read buffer. Reads append to the buffer and consume from it only
// when an operation completes, so a cancelled read loses nothing.
#include "curio/io/stream.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstring>
#include <mutex>

#include "ring_io.hpp"

namespace curio {

using detail::IoDirection;

using detail::would_block;

Stream::Stream(Stream&& o) noexcept
    : fd_(o.fd_),
      socket_(o.socket_),
      drain_hint_(o.drain_hint_),
      eof_(o.eof_),
      buf_(std::move(o.buf_)),
      pos_(o.pos_),
      scanned_(o.scanned_) {
  o.pos_ = o.scanned_ = 0;
  o.buf_.clear();
}

void Stream::compact() noexcept {
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = scanned_ = 0;
    if (buf_.capacity() > 4096) buf_.shrink_to_fit();  // don't pin a big buffer while idle
  } else if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
}

std::string Stream::take(std::size_t n) {
  std::string out = buf_.substr(pos_, n);
  pos_ += out.size();
  scanned_ = 0;
  compact();
  return out;
}

Task<std::size_t> Stream::fill() {
  if (socket_ && drain_hint_ && detail::ring_sockets()) {  // a stream socket on io_uring
    if (fd_->fd() < 0) throw SystemError(EBADF, "recv on a closed socket");
    detail::RingRecvAwaiter read(fd_, nullptr, &buf_, 65536);
    std::size_t n = co_await read;
    if (n == 0) eof_ = true;
    co_return n;
  }
  std::span<char> buf = detail::read_scratch();
  for (;;) {
    if (!fd_->may_be_ready(IoDirection::Read)) co_await fd_->wait(IoDirection::Read);
    int fd = fd_->fd();
    ssize_t n = socket_ ? ::recv(fd, buf.data(), buf.size(), 0) : ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      if (drain_hint_ && static_cast<std::size_t>(n) < buf.size()) fd_->drained(IoDirection::Read);
      buf_.append(buf.data(), static_cast<std::size_t>(n));
      co_return static_cast<std::size_t>(n);
    }
    if (n == 0) {
      eof_ = true;
      co_return 0;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (!would_block(err)) throw_system_error(socket_ ? "recv" : "read", err);
    co_await fd_->wait(IoDirection::Read);
  }
}

Task<std::string> Stream::read(std::size_t maxsize) {
  if (buffered() == 0 && !eof_) co_await fill();
  co_return take(maxsize);
}

Task<std::string> Stream::read_exactly(std::size_t n) {
  try {
    while (buffered() < n) {
      if (eof_ || co_await fill() == 0) {
        std::string partial = take(buffered());
        throw EofError("curio: end of stream after " + std::to_string(partial.size()) + " of " + std::to_string(n) +
                           " bytes (read_exactly)",
                       std::move(partial));
      }
    }
  } catch (CancelledError& e) {
    e.bytes_read = buffered();
    throw;
  }
  co_return take(n);
}

Task<std::string> Stream::readline(std::size_t maxlen) {
  for (;;) {
    std::string_view unread(buf_.data() + pos_, buffered());
    std::size_t nl = unread.find('\n', scanned_);
    if (nl != std::string_view::npos) {
      if (nl + 1 > maxlen) break;
      co_return take(nl + 1);
    }
    scanned_ = unread.size();
    if (unread.size() >= maxlen) break;
    if (eof_ || co_await fill() == 0) co_return take(buffered());
  }
  throw LineTooLong("curio: no newline within the maximum line length of " + std::to_string(maxlen) +
                    " bytes (readline); the data stays buffered");
}

Task<std::optional<std::string>> Stream::next_line(std::size_t maxlen) {
  std::string line = co_await readline(maxlen);
  if (line.empty()) co_return std::nullopt;
  co_return line;
}

Task<std::vector<std::string>> Stream::readlines(std::size_t maxlen) {
  // Lines are split off only at the end, so a cancellation leaves them all buffered.
  std::size_t start = 0;  // offset (after pos_) where the current, unfinished line begins
  std::size_t lines = 0;
  try {
    for (;;) {
      std::string_view unread(buf_.data() + pos_, buffered());
      std::size_t nl;
      while ((nl = unread.find('\n', start)) != std::string_view::npos) {
        if (nl + 1 - start > maxlen)
          throw LineTooLong("curio: a line longer than " + std::to_string(maxlen) + " bytes (readlines)");
        start = nl + 1;
        ++lines;
      }
      if (unread.size() - start >= maxlen)
        throw LineTooLong("curio: a line longer than " + std::to_string(maxlen) + " bytes (readlines)");
      if (eof_ || co_await fill() == 0) break;
    }
  } catch (CancelledError& e) {
    e.lines_read = lines;
    throw;
  }
  std::vector<std::string> out;
  out.reserve(lines + 1);
  std::string_view rest(buf_.data() + pos_, buffered());
  while (!rest.empty()) {
    std::size_t nl = rest.find('\n');
    std::size_t len = nl == std::string_view::npos ? rest.size() : nl + 1;
    out.emplace_back(rest.substr(0, len));
    rest.remove_prefix(len);
  }
  pos_ = buf_.size();
  compact();
  co_return out;
}

Task<std::string> Stream::readall() {
  try {
    while (!eof_ && co_await fill() > 0) {
    }
  } catch (CancelledError& e) {
    e.bytes_read = buffered();
    throw;
  }
  co_return take(buffered());
}

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

Task<> Stream::writelines(std::vector<std::string_view> lines) {
  std::size_t written = 0;
  try {
    for (std::string_view line : lines) {
      try {
        co_await write(line);
      } catch (CancelledError& e) {
        written += e.bytes_written.value_or(0);
        throw;
      }
      written += line.size();
    }
  } catch (CancelledError& e) {
    e.bytes_written = written;
    throw;
  }
}

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
