// curio/io/stream.hpp: buffered byte streams over sockets and pipes (curio.io.SocketStream and
// FileStream): read, read_exactly, readline, readlines, readall, write, writelines, and line
// iteration with next_line(). Data already read into the stream's buffer is never lost: a read
// that is cancelled or times out leaves it buffered for the next read, and the exception's
// bytes_read / lines_read say how much was there. readline has a maximum line length, so a peer
// that never sends a newline cannot make it use unbounded memory.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "curio/core/errors.hpp"
#include "curio/core/task.hpp"
#include "curio/io/detail/fd_handle.hpp"
#include "curio/io/detail/read_buffer.hpp"
#include "curio/io/socket.hpp"

namespace curio {

namespace detail {
template <class Source>
struct BufferedReads;  // src/io/buffered_reads.hpp: the reads, shared with SslStream
}  // namespace detail

// read_exactly reached the end of the stream first. partial() is what had arrived (it is
// consumed: the stream is at its end).
class EofError : public CurioError {
 public:
  EofError(const std::string& message, std::string partial) : CurioError(message), partial_(std::move(partial)) {}
  const std::string& partial() const noexcept { return partial_; }
  std::size_t bytes_read() const noexcept { return partial_.size(); }

 private:
  std::string partial_;
};

// readline found no newline within its maximum length. The data stays buffered (read() or
// read_exactly() can take it).
class LineTooLong : public CurioError {
 public:
  using CurioError::CurioError;
};

class Stream {
 public:
  static constexpr std::size_t kDefaultMaxLine = 65536;

  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Buffered data first; otherwise one read of up to maxsize bytes ("" at end of stream).
  Task<std::string> read(std::size_t maxsize = 65536);
  // Exactly n bytes, or EofError (carrying what arrived) if the stream ends first.
  Task<std::string> read_exactly(std::size_t n);
  // One line including its '\n', or what remains at end of stream ("" once it is exhausted).
  // LineTooLong if maxlen bytes arrive without a newline.
  Task<std::string> readline(std::size_t maxlen = kDefaultMaxLine);
  // Every remaining line (until end of stream).
  Task<std::vector<std::string>> readlines(std::size_t maxlen = kDefaultMaxLine);
  // Everything until end of stream.
  Task<std::string> readall();
  // Iteration over lines: while (auto line = co_await s.next_line()) { ... } ends at EOF.
  Task<std::optional<std::string>> next_line(std::size_t maxlen = kDefaultMaxLine);

  // Writes all of data (no write buffering). On cancellation, the exception's bytes_written
  // says how much went out.
  Task<> write(std::string_view data);
  Task<> writelines(std::vector<std::string_view> lines);
  // writelines({"a\n", "b\n"}): a plain forwarding function (GCC 12 rejects a braced list
  // passed straight to a coroutine).
  Task<> writelines(std::initializer_list<std::string_view> lines) {
    return writelines(std::vector<std::string_view>(lines));
  }

  // --- curio's readinto and blocking (src/io/blocking.cpp) ---
  // Fills buffer from buffered data first; if none is buffered, one read of the descriptor
  // straight into buffer (no copy through the stream). Returns the number of bytes (0 at end of
  // stream, or for an empty buffer). A cancelled readinto has put nothing in buffer.
  Task<std::size_t> readinto(std::span<std::byte> buffer);
  Task<std::size_t> readinto(std::span<char> buffer) { return readinto(std::as_writable_bytes(buffer)); }
  // The raw descriptor in blocking mode for a scope (see BlockingFd). IOError if the stream has
  // buffered data, which the raw descriptor would skip: read it first.
  BlockingFd blocking();
  // The tasks waiting to read and to write the descriptor (ids; 0 if none).
  IoWaiting io_waiting() const noexcept;

  // Bytes read from the descriptor but not yet returned.
  std::size_t buffered() const noexcept { return rbuf_.buffered(); }
  bool at_eof() const noexcept { return rbuf_.eof() && buffered() == 0; }

 protected:
  // drain_hint: a short read proves the buffer drained (stream sockets and FIFOs; not
  // terminals, which return a line per read, nor packet sockets).
  Stream(detail::FdHandle* fd, bool socket, bool drain_hint) noexcept
      : fd_(fd), socket_(socket), drain_hint_(drain_hint) {}
  Stream(Stream&& o) noexcept;
  ~Stream() = default;
  detail::FdHandle* fd_;

 private:
  friend struct detail::BufferedReads<Stream>;
  // Reads once from the descriptor into `into` (waiting as needed); 0 at EOF (marked in the
  // buffer). fill() appends what it read to the buffer.
  Task<std::size_t> read_descriptor(std::span<char> into);
  Task<std::size_t> fill();
  detail::ReadBuffer& read_buffer() noexcept { return rbuf_; }

  bool socket_;
  bool drain_hint_;
  detail::ReadBuffer rbuf_;
};

// A stream over a socket. as_stream() borrows the socket; the constructor from Socket&& owns it.
class SocketStream : public Stream {
 public:
  explicit SocketStream(Socket& socket) noexcept : Stream(&socket.fd_, true, socket.stream_), socket_(&socket) {}
  explicit SocketStream(Socket&& socket) noexcept
      : Stream(nullptr, true, socket.stream_), owned_(std::move(socket)), socket_(&owned_) {
    fd_ = &owned_.fd_;
  }
  SocketStream(SocketStream&&) = delete;
  Socket& socket() noexcept { return *socket_; }

 private:
  Socket owned_;
  Socket* socket_;
};

// A stream over a pipe, FIFO, terminal or regular file descriptor, which it owns (made
// non-blocking). Writing to a pipe whose reader has gone raises SystemError(EPIPE): SIGPIPE is
// ignored process-wide from the first FileStream on, as Python does at start-up.
class FileStream : public Stream {
 public:
  explicit FileStream(int fd);
  FileStream(FileStream&& o) noexcept : Stream(std::move(o)), handle_(std::move(o.handle_)) { fd_ = &handle_; }
  int fileno() const noexcept { return handle_.fd(); }
  void close() noexcept { handle_.close(); }

 private:
  detail::FdHandle handle_;
};

}  // namespace curio
