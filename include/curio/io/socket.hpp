// curio/io/socket.hpp: Socket, a non-blocking socket whose operations read like blocking calls
// (curio.io.Socket). TCP and UDP over IPv4 and IPv6, and Unix sockets. Each operation tries the
// system call and waits on the kernel's poller only when it would block; every wait can be
// cancelled or timed out and leaves nothing registered behind. Errors are SystemError naming
// the operation and errno. One task may read and another write at the same time; a second
// reader (or writer) gets ReadResourceBusy (WriteResourceBusy).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "curio/core/task.hpp"
#include "curio/io/detail/fd_handle.hpp"
#include "curio/io/socket_address.hpp"
#include "curio/io/socket_recv.hpp"

namespace curio {

class SocketStream;

// Which tasks wait on a descriptor (curio's _io_waiting): task ids, 0 where none waits.
struct IoWaiting {
  std::uint64_t reader = 0;
  std::uint64_t writer = 0;
};

// The raw descriptor in blocking mode for a scope (curio's `with sock.blocking() as s:`), for a
// synchronous library that expects blocking I/O. The destructor restores non-blocking mode.
// While it lives, the kernel thread blocks in whatever that library does: keep it short, or
// use it from run_in_thread. Movable, not copyable.
class BlockingFd {
 public:
  // SystemError if fcntl fails; IOError if a task waits on the descriptor (its wait would
  // otherwise turn into a blocking call in the kernel thread).
  explicit BlockingFd(detail::FdHandle* fd);
  BlockingFd(BlockingFd&& o) noexcept : fd_(std::exchange(o.fd_, nullptr)) {}
  BlockingFd& operator=(BlockingFd&&) = delete;
  BlockingFd(const BlockingFd&) = delete;
  ~BlockingFd();
  int fileno() const noexcept;

 private:
  detail::FdHandle* fd_;
};

class Socket {
 public:
  Socket() noexcept = default;  // no socket (fileno() == -1)
  // A new socket: family AF_INET/AF_INET6/AF_UNIX, type SOCK_STREAM/SOCK_DGRAM.
  Socket(int family, int type, int protocol = 0);
  // Takes ownership of an existing descriptor (made non-blocking).
  static Socket from_fd(int fd);
  // A connected pair (socketpair(2)).
  static std::pair<Socket, Socket> pair(int family = AF_UNIX, int type = SOCK_STREAM);

  Socket(Socket&&) noexcept = default;
  Socket& operator=(Socket&&) noexcept = default;
  ~Socket() = default;  // closes

  int fileno() const noexcept { return fd_.fd(); }
  explicit operator bool() const noexcept { return fd_.valid(); }

  // --- set-up (never block) ---
  void bind(const SocketAddress& address);
  void listen(int backlog = 128);
  void setsockopt(int level, int name, int value);
  int getsockopt(int level, int name) const;
  void set_reuse_address(bool on = true) { setsockopt(SOL_SOCKET, SO_REUSEADDR, on); }
  void set_nodelay(bool on = true);
  SocketAddress getsockname() const;
  SocketAddress getpeername() const;

  // --- operations (each awaited at once; buffers must live until the co_await returns) ---
  // The next connection and its peer address.
  Task<std::pair<Socket, SocketAddress>> accept();
  // Connects; raises the real error (e.g. ECONNREFUSED) as SystemError("connect to ADDR").
  Task<> connect(SocketAddress address);
  // Up to maxsize bytes ("" at end of stream). No buffer, and no coroutine frame, is held while
  // it waits: the awaitable runs in the awaiting frame (curio/io/socket_recv.hpp).
  SocketRecv recv(std::size_t maxsize = 65536, int flags = 0);
  // Into buffer; the number of bytes received (0 at end of stream).
  Task<std::size_t> recv_into(std::span<std::byte> buffer, int flags = 0);
  Task<std::pair<std::string, SocketAddress>> recvfrom(std::size_t maxsize = 65536, int flags = 0);
  // One send; the number of bytes sent (may be less than data.size()).
  Task<std::size_t> send(std::string_view data, int flags = 0);
  // Everything in data. If cancelled or timed out, the exception's bytes_sent says how much
  // went out.
  Task<> sendall(std::string_view data, int flags = 0);
  Task<std::size_t> sendto(std::string_view data, SocketAddress address, int flags = 0);

  // SHUT_RD, SHUT_WR or SHUT_RDWR.
  void shutdown(int how);
  // Releases the poller registration and closes (idempotent; also done by the destructor).
  void close() noexcept { fd_.close(); }
  // Gives up ownership of the descriptor and returns it.
  int detach() noexcept { return fd_.detach(); }

  // A stream over this socket (it must outlive the stream): readline, read_exactly, write...
  SocketStream as_stream() noexcept;

  // --- escape hatches (src/io/blocking.cpp) ---
  // The descriptor in blocking mode until the guard dies: { auto raw = sock.blocking(); lib(raw.fileno()); }
  BlockingFd blocking();
  // The tasks waiting to read and to write this socket (ids; 0 if none).
  IoWaiting io_waiting() const noexcept;

 private:
  friend class SocketStream;
  friend class SocketRecv;
  Socket(detail::FdHandle fd, bool stream) noexcept : fd_(std::move(fd)), stream_(stream) {}
  detail::FdHandle fd_;
  bool stream_ = false;  // SOCK_STREAM: a short read means the receive buffer was drained
};

}  // namespace curio
