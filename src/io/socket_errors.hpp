// src/io/socket_errors.hpp: what the readiness path (socket.cpp) and the completion path
// (ring_io.cpp) of sockets share: which accept errors to retry, and a one-buffer msghdr for
// recvfrom/sendto (private to src/io).
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>

namespace curio::detail {

// accept(2) on Linux reports network errors already pending on the new connection, and
// firewall refusals; the listener is fine and the man page says to retry like EAGAIN.
inline bool accept_should_retry(int err) noexcept {
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

// A msghdr over one buffer (*iov) and a peer address, for recvmsg/sendmsg.
inline msghdr one_buffer_msghdr(iovec* iov, void* name, socklen_t namelen) noexcept {
  msghdr msg{};
  msg.msg_name = name;
  msg.msg_namelen = namelen;
  msg.msg_iov = iov;
  msg.msg_iovlen = 1;
  return msg;
}

}  // namespace curio::detail
