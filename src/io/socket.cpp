// src/io/socket.cpp: the socket operation loop (try the call, wait on EAGAIN, retry). On an
// io_uring kernel the operations run as completions instead (src/io/ring_io.hpp): stream reads
// from a multishot recv, accepts from a multishot accept, the rest as single ops.
#include "curio/io/socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <string>

#include "curio/io/stream.hpp"
#include "ring_io.hpp"
#include "socket_errors.hpp"

namespace curio {

using detail::IoDirection;
using detail::would_block;

namespace {

// The result of a single op on a socket: bytes/0, or the error raised as the syscall would.
// -ECANCELED without a cancellation of the task means another task closed the socket.
int op_result(int res, const char* what) {
  if (res >= 0) return res;
  if (res == -ECANCELED) throw SystemError(EBADF, std::string(what) + ": the socket was closed during the operation");
  throw_system_error(what, -res);
}

// One non-blocking send: the bytes the socket took, or -1 if its buffer is full (the other
// errors are raised).
ssize_t send_now(int fd, std::string_view data, int flags) {
  for (;;) {
    ssize_t n = ::send(fd, data.data(), data.size(), flags | MSG_NOSIGNAL);
    if (n >= 0) return n;
    int err = errno;
    if (err == EINTR) continue;
    if (!would_block(err)) throw_system_error("send", err);
    return -1;
  }
}

detail::IoOp socket_op(detail::IoOpKind kind, int fd) {
  detail::IoOp op;
  op.kind = kind;
  op.fd = fd;
  return op;
}

}  // namespace

Socket::Socket(int family, int type, int protocol) {
  int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw_system_error("socket");
  fd_ = detail::FdHandle(fd);
  stream_ = (type & 0xf) == SOCK_STREAM;
}

Socket Socket::from_fd(int fd) {
  detail::make_nonblocking(fd);
  int type = 0;
  socklen_t len = sizeof type;
  ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
  return Socket(detail::FdHandle(fd), type == SOCK_STREAM);
}

std::pair<Socket, Socket> Socket::pair(int family, int type) {
  int fds[2];
  if (::socketpair(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) throw_system_error("socketpair");
  return {Socket(detail::FdHandle(fds[0]), (type & 0xf) == SOCK_STREAM),
          Socket(detail::FdHandle(fds[1]), (type & 0xf) == SOCK_STREAM)};
}

void Socket::bind(const SocketAddress& address) {
  if (::bind(fileno(), address.data(), address.size()) < 0) throw_system_error("bind to " + address.to_string());
}

void Socket::listen(int backlog) {
  if (::listen(fileno(), backlog) < 0) throw_system_error("listen");
}

void Socket::setsockopt(int level, int name, int value) {
  if (::setsockopt(fileno(), level, name, &value, sizeof value) < 0) throw_system_error("setsockopt");
}

int Socket::getsockopt(int level, int name) const {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fileno(), level, name, &value, &len) < 0) throw_system_error("getsockopt");
  return value;
}

void Socket::set_nodelay(bool on) { setsockopt(IPPROTO_TCP, TCP_NODELAY, on); }

SocketAddress Socket::getsockname() const {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (::getsockname(fileno(), reinterpret_cast<sockaddr*>(&a), &len) < 0) throw_system_error("getsockname");
  return SocketAddress(reinterpret_cast<sockaddr*>(&a), len);
}

SocketAddress Socket::getpeername() const {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (::getpeername(fileno(), reinterpret_cast<sockaddr*>(&a), &len) < 0) throw_system_error("getpeername");
  return SocketAddress(reinterpret_cast<sockaddr*>(&a), len);
}

Task<std::pair<Socket, SocketAddress>> Socket::accept() {
  if (detail::ring_accepts()) {
    if (fd_.fd() < 0) throw SystemError(EBADF, "accept on a closed socket");
    detail::RingAcceptAwaiter next(&fd_);
    int fd = co_await next;
    if (!next.fell_back) {
      Socket client(detail::FdHandle(fd), stream_);
      SocketAddress peer;
      socklen_t len = SocketAddress::capacity();
      if (::getpeername(fd, peer.data(), &len) == 0) peer.set_size(len);  // ENOTCONN: reset already, address unknown
      co_return std::pair<Socket, SocketAddress>(std::move(client), peer);
    }
  }
  for (;;) {
    SocketAddress peer;
    socklen_t len = SocketAddress::capacity();
    int fd = ::accept4(fileno(), peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      peer.set_size(len);
      co_return std::pair<Socket, SocketAddress>(Socket(detail::FdHandle(fd), stream_), peer);
    }
    int err = errno;
    if (detail::accept_should_retry(err)) continue;
    if (!would_block(err)) throw_system_error("accept", err);
    co_await fd_.wait(IoDirection::Read);
  }
}

Task<> Socket::connect(SocketAddress address) {
  if (detail::ring_socket_op(detail::IoOpKind::Connect)) {
    detail::IoOp op = socket_op(detail::IoOpKind::Connect, fileno());
    op.addr = address.data();
    op.addr_size = address.size();
    auto a = detail::ring_op(fd_, op);
    int res = co_await a;
    if (res < 0) {
      if (res == -ECANCELED) throw SystemError(EBADF, "connect to " + address.to_string() + ": the socket was closed");
      throw_system_error("connect to " + address.to_string(), -res);
    }
    co_return;
  }
  if (::connect(fileno(), address.data(), address.size()) == 0) co_return;
  int err = errno;
  if (err != EINPROGRESS && err != EINTR) throw_system_error("connect to " + address.to_string(), err);
  co_await fd_.wait(IoDirection::Write);
  err = getsockopt(SOL_SOCKET, SO_ERROR);
  if (err != 0) throw_system_error("connect to " + address.to_string(), err);
}

namespace {

// One non-blocking recv(2): the byte count (0 at end of stream), or -1 if it would block. EINTR
// is retried, other errors are raised. A short read from a stream socket marks the descriptor
// drained (the next read waits for an edge first).
ssize_t recv_now(detail::FdHandle& fd, bool stream, void* buf, std::size_t len, int flags) {
  for (;;) {
    ssize_t n = ::recv(fd.fd(), buf, len, flags);
    if (n >= 0) {
      if (stream && n > 0 && static_cast<std::size_t>(n) < len && !(flags & MSG_PEEK)) fd.drained(IoDirection::Read);
      return n;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (!would_block(err)) throw_system_error("recv", err);
    return -1;
  }
}

bool recv_span(detail::FdHandle& fd, bool stream, std::span<std::byte>& buffer, int flags) {
  ssize_t n = recv_now(fd, stream, buffer.data(), buffer.size(), flags);
  if (n < 0) return false;
  buffer = buffer.first(static_cast<std::size_t>(n));
  return true;
}

}  // namespace

// The readiness path of recv_into: a coroutine of its own, so that the frame an idle reader
// keeps while it waits holds only the promise, the parameters and one wait's awaiter (GCC gives
// every local and every co_await's awaiter of a coroutine its own frame slot, whichever path
// runs). recv itself needs no frame at all (SocketRecv, src/io/socket_recv.cpp). Named like the
// member: the name is what where() and ps show for the frame.
namespace {
namespace readiness {

Task<std::size_t> recv_into(detail::FdHandle& fd, std::span<std::byte> buffer, int flags, bool stream) {
  for (bool wait = !fd.may_be_ready(IoDirection::Read);; wait = true) {
    if (wait) co_await fd.wait(IoDirection::Read);
    if (recv_span(fd, stream, buffer, flags)) co_return buffer.size();
  }
}

}  // namespace readiness

// The completion paths (io_uring kernels unless CURIO_URING_SOCKETS=0): whether this kernel runs
// them is decided when the task runs; otherwise (or if the OS kernel lacks the multishot recv)
// the readiness path runs as a child frame.
namespace completion {

Task<std::string> recv(Socket& socket, detail::FdHandle& fd, std::size_t maxsize, int flags, bool stream) {
  if (stream && flags == 0 && detail::ring_sockets()) {
    if (fd.fd() < 0) throw SystemError(EBADF, "recv on a closed socket");
    std::string out;
    if (maxsize == 0) co_return out;
    detail::RingRecvAwaiter read(&fd, nullptr, &out, maxsize);
    co_await read;
    if (!read.fell_back) co_return out;
  }
  co_return co_await SocketRecv(socket, maxsize, flags);
}

Task<std::size_t> recv_into(detail::FdHandle& fd, std::span<std::byte> buffer, int flags, bool stream) {
  if (stream && flags == 0 && detail::ring_sockets()) {
    if (fd.fd() < 0) throw SystemError(EBADF, "recv on a closed socket");
    if (buffer.empty()) co_return 0;
    detail::RingRecvAwaiter read(&fd, reinterpret_cast<char*>(buffer.data()), nullptr, buffer.size());
    std::size_t n = co_await read;
    if (!read.fell_back) co_return n;
  }
  co_return co_await readiness::recv_into(fd, buffer, flags, stream);
}

}  // namespace completion
}  // namespace

// Plain functions choosing the coroutine: the completion path exists only with
// CURIO_URING_SOCKETS=0 unset (process-wide, read once), on an io_uring kernel whose OS kernel has the
// multishot recv, so elsewhere (epoll, or made outside a kernel) no frame carries its state.
Task<std::size_t> Socket::recv_into(std::span<std::byte> buffer, int flags) {
  if (detail::ring_sockets() && stream_ && flags == 0) return completion::recv_into(fd_, buffer, flags, stream_);
  return readiness::recv_into(fd_, buffer, flags, stream_);
}

SocketRecv Socket::recv(std::size_t maxsize, int flags) {
  if (detail::ring_sockets() && stream_ && flags == 0) {
    if (detail::ring_recv_confirmed()) return SocketRecv(*this, maxsize, SocketRecv::OnRing{});
    return SocketRecv(completion::recv(*this, fd_, maxsize, flags, stream_));
  }
  return SocketRecv(*this, maxsize, flags);
}

Task<std::pair<std::string, SocketAddress>> Socket::recvfrom(std::size_t maxsize, int flags) {
  if (detail::ring_socket_op(detail::IoOpKind::RecvFrom)) {
    // The buffer is the frame's while the op is in flight (the thread's scratch is not).
    std::string data(std::min<std::size_t>(maxsize, 65536), '\0');
    SocketAddress from;
    iovec iov{data.data(), data.size()};
    msghdr msg = detail::one_buffer_msghdr(&iov, from.data(), SocketAddress::capacity());
    detail::IoOp op = socket_op(detail::IoOpKind::RecvFrom, fileno());
    op.msg = &msg;
    op.flags = flags;
    auto a = detail::ring_op(fd_, op);
    int n = op_result(co_await a, "recvfrom");
    data.resize(static_cast<std::size_t>(n));
    from.set_size(msg.msg_namelen);
    co_return std::pair<std::string, SocketAddress>(std::move(data), from);
  }
  std::span<char> buf = detail::read_scratch();
  if (maxsize < buf.size()) buf = buf.first(maxsize);
  for (;;) {
    SocketAddress from;
    socklen_t len = SocketAddress::capacity();
    ssize_t n = ::recvfrom(fileno(), buf.data(), buf.size(), flags, from.data(), &len);
    if (n >= 0) {
      from.set_size(len);
      co_return std::pair<std::string, SocketAddress>(std::string(buf.data(), static_cast<std::size_t>(n)), from);
    }
    int err = errno;
    if (err == EINTR) continue;
    if (!would_block(err)) throw_system_error("recvfrom", err);
    co_await fd_.wait(IoDirection::Read);
  }
}

Task<std::size_t> Socket::send(std::string_view data, int flags) {
  if (detail::ring_socket_op(detail::IoOpKind::Send)) {
    if (detail::ring_send_directly(fd_)) {
      if (ssize_t n = send_now(fileno(), data, flags); n >= 0) co_return static_cast<std::size_t>(n);
    }
    detail::IoOp op = socket_op(detail::IoOpKind::Send, fileno());
    op.buf = const_cast<char*>(data.data());
    op.len = static_cast<std::uint32_t>(std::min<std::size_t>(data.size(), 1u << 30));
    op.flags = flags;
    auto a = detail::ring_op(fd_, op);
    co_return static_cast<std::size_t>(op_result(co_await a, "send"));
  }
  for (;;) {
    if (ssize_t n = send_now(fileno(), data, flags); n >= 0) co_return static_cast<std::size_t>(n);
    co_await fd_.wait(IoDirection::Write);
  }
}

namespace {

// sendall's two paths are separate coroutines: one frame holding both paths' state cost 304
// bytes, and a burst on io_uring keeps up to about two send windows of these frames in the
// frame pool for good (kRingSendWindow, docs/performance.md, "After a burst").
// A result that won a race with a cancellation counts, and the cancellation comes from the next
// op's trap: bytes_sent is exact.
Task<> sendall_on_ring(detail::FdHandle& fd, std::string_view data, int flags) {
  std::size_t sent = 0;
  try {
    while (sent < data.size()) {
      if (detail::ring_send_directly(fd)) {
        if (ssize_t n = send_now(fd.fd(), data.substr(sent), flags); n >= 0) {
          sent += static_cast<std::size_t>(n);
          continue;
        }
      }
      detail::IoOp op = socket_op(detail::IoOpKind::Send, fd.fd());
      op.buf = const_cast<char*>(data.data() + sent);
      op.len = static_cast<std::uint32_t>(std::min<std::size_t>(data.size() - sent, 1u << 30));
      op.flags = flags;
      sent += static_cast<std::size_t>(op_result(co_await detail::ring_op(fd, op), "send"));
    }
  } catch (CancelledError& e) {
    e.bytes_sent = sent;
    throw;
  }
}

Task<> sendall_on_readiness(detail::FdHandle& fd, std::string_view data, int flags) {
  std::size_t sent = 0;
  try {
    while (sent < data.size()) {
      if (ssize_t n = send_now(fd.fd(), data.substr(sent), flags); n >= 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      co_await fd.wait(IoDirection::Write);
    }
  } catch (CancelledError& e) {
    e.bytes_sent = sent;
    throw;
  }
}

}  // namespace

Task<> Socket::sendall(std::string_view data, int flags) {
  if (detail::ring_socket_op(detail::IoOpKind::Send)) return sendall_on_ring(fd_, data, flags);
  return sendall_on_readiness(fd_, data, flags);
}

Task<std::size_t> Socket::sendto(std::string_view data, SocketAddress address, int flags) {
  if (detail::ring_socket_op(detail::IoOpKind::SendTo)) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    msghdr msg = detail::one_buffer_msghdr(&iov, address.data(), address.size());
    detail::IoOp op = socket_op(detail::IoOpKind::SendTo, fileno());
    op.msg = &msg;
    op.flags = flags;
    auto a = detail::ring_op(fd_, op);
    int res = co_await a;
    if (res < 0 && res != -ECANCELED) throw_system_error("sendto " + address.to_string(), -res);
    co_return static_cast<std::size_t>(op_result(res, "sendto"));
  }
  for (;;) {
    ssize_t n = ::sendto(fileno(), data.data(), data.size(), flags | MSG_NOSIGNAL, address.data(), address.size());
    if (n >= 0) co_return static_cast<std::size_t>(n);
    int err = errno;
    if (err == EINTR) continue;
    if (!would_block(err)) throw_system_error("sendto " + address.to_string(), err);
    co_await fd_.wait(IoDirection::Write);
  }
}

void Socket::shutdown(int how) {
  if (::shutdown(fileno(), how) < 0) throw_system_error("shutdown");
}

SocketStream Socket::as_stream() noexcept { return SocketStream(*this); }

}  // namespace curio
