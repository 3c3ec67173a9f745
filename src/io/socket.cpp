// src/io/socket.cpp: the socket operation loop (try the call, wait on EAGAIN, retry).
#include "curio/io/socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "curio/io/stream.hpp"

namespace curio {

using detail::IoDirection;
using detail::would_block;

namespace {

// accept(2) on Linux reports network errors already pending on the new connection, and
// firewall refusals; the listener is fine and the man page says to retry like EAGAIN.
bool accept_should_retry(int err) noexcept {
  switch (err) {
    case EINTR:
    case ECONNABORTED:
    case ENETDOWN:
    case EPROTO:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case EPERM:
      return true;
    default:
      return false;
  }
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
  for (;;) {
    SocketAddress peer;
    socklen_t len = SocketAddress::capacity();
    int fd = ::accept4(fileno(), peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      peer.set_size(len);
      co_return std::pair<Socket, SocketAddress>(Socket(detail::FdHandle(fd), stream_), peer);
    }
    int err = errno;
    if (accept_should_retry(err)) continue;
    if (!would_block(err)) throw_system_error("accept", err);
    co_await fd_.wait(IoDirection::Read);
  }
}

Task<> Socket::connect(SocketAddress address) {
  if (::connect(fileno(), address.data(), address.size()) == 0) co_return;
  int err = errno;
  if (err != EINPROGRESS && err != EINTR) throw_system_error("connect to " + address.to_string(), err);
  co_await fd_.wait(IoDirection::Write);
  err = getsockopt(SOL_SOCKET, SO_ERROR);
  if (err != 0) throw_system_error("connect to " + address.to_string(), err);
}

Task<std::size_t> Socket::recv_into(std::span<std::byte> buffer, int flags) {
  for (;;) {
    if (!fd_.may_be_ready(IoDirection::Read)) co_await fd_.wait(IoDirection::Read);
    ssize_t n = ::recv(fileno(), buffer.data(), buffer.size(), flags);
    if (n >= 0) {
      if (stream_ && n > 0 && static_cast<std::size_t>(n) < buffer.size() && !(flags & MSG_PEEK))
        fd_.drained(IoDirection::Read);
      co_return static_cast<std::size_t>(n);
    }
    int err = errno;
    if (err == EINTR) continue;
    if (!would_block(err)) throw_system_error("recv", err);
    co_await fd_.wait(IoDirection::Read);
  }
}

Task<std::string> Socket::recv(std::size_t maxsize, int flags) {
  std::span<char> buf = detail::read_scratch();
  if (maxsize < buf.size()) buf = buf.first(maxsize);
  for (;;) {
    if (!fd_.may_be_ready(IoDirection::Read)) co_await fd_.wait(IoDirection::Read);
    ssize_t n = ::recv(fileno(), buf.data(), buf.size(), flags);
    if (n >= 0) {
      if (stream_ && n > 0 && static_cast<std::size_t>(n) < buf.size() && !(flags & MSG_PEEK))
        fd_.drained(IoDirection::Read);
      co_return std::string(buf.data(), static_cast<std::size_t>(n));
    }
    int err = errno;
    if (err == EINTR) continue;
    if (!would_block(err)) throw_system_error("recv", err);
    co_await fd_.wait(IoDirection::Read);
  }
}

Task<std::pair<std::string, SocketAddress>> Socket::recvfrom(std::size_t maxsize, int flags) {
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
  for (;;) {
    ssize_t n = ::send(fileno(), data.data(), data.size(), flags | MSG_NOSIGNAL);
    if (n >= 0) co_return static_cast<std::size_t>(n);
    int err = errno;
    if (err == EINTR) continue;
    if (!would_block(err)) throw_system_error("send", err);
    co_await fd_.wait(IoDirection::Write);
  }
}

Task<> Socket::sendall(std::string_view data, int flags) {
  std::size_t sent = 0;
  try {
    while (sent < data.size()) {
      ssize_t n = ::send(fileno(), data.data() + sent, data.size() - sent, flags | MSG_NOSIGNAL);
      if (n >= 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      int err = errno;
      if (err == EINTR) continue;
      if (!would_block(err)) throw_system_error("send", err);
      co_await fd_.wait(IoDirection::Write);
    }
  } catch (CancelledError& e) {
    e.bytes_sent = sent;
    throw;
  }
}

Task<std::size_t> Socket::sendto(std::string_view data, SocketAddress address, int flags) {
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
