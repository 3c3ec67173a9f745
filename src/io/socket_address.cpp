// src/io/socket_address.cpp: parsing and printing socket addresses.
#include "curio/io/socket_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>
#include <stdexcept>

namespace curio {

SocketAddress::SocketAddress(const sockaddr* sa, socklen_t len) {
  if (len > sizeof(sockaddr_storage)) len = sizeof(sockaddr_storage);
  if (len <= kInline) {
    std::memcpy(bytes_, sa, len);
    len_ = len;
  } else {
    auto* h = new sockaddr_storage{};
    std::memcpy(h, sa, len);
    std::memcpy(bytes_, &h, sizeof h);
    len_ = len | kHeap;
  }
}

void SocketAddress::release() noexcept {
  if (on_heap()) delete heap();
  len_ = 0;
}

sockaddr* SocketAddress::data() {
  if (!on_heap()) {  // the caller may write up to capacity() bytes
    auto* h = new sockaddr_storage{};
    std::memcpy(h, bytes_, size());
    std::memcpy(bytes_, &h, sizeof h);
    len_ |= kHeap;
  }
  return reinterpret_cast<sockaddr*>(heap());
}

void SocketAddress::set_size(socklen_t len) noexcept {
  if (len > sizeof(sockaddr_storage)) len = sizeof(sockaddr_storage);
  if (!on_heap()) {
    len_ = len > kInline ? kInline : len;
    return;
  }
  sockaddr_storage* h = heap();
  if (len <= kInline) {  // an IP address: back inline
    std::memcpy(bytes_, h, len);
    delete h;
    len_ = len;
  } else {
    len_ = len | kHeap;
  }
}

SocketAddress SocketAddress::ipv4(std::string_view host, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  std::string h(host);
  if (::inet_pton(AF_INET, h.c_str(), &a.sin_addr) != 1)
    throw std::invalid_argument("curio: not a numeric IPv4 address: '" + h + "'");
  return SocketAddress(reinterpret_cast<sockaddr*>(&a), sizeof a);
}

SocketAddress SocketAddress::ipv6(std::string_view host, std::uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  std::string h(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (::inet_pton(AF_INET6, h.c_str(), &a.sin6_addr) != 1)
    throw std::invalid_argument("curio: not a numeric IPv6 address: '" + h + "'");
  return SocketAddress(reinterpret_cast<sockaddr*>(&a), sizeof a);
}

SocketAddress SocketAddress::ip(std::string_view host, std::uint16_t port) {
  if (host.find(':') != std::string_view::npos) return ipv6(host, port);
  return ipv4(host, port);
}

SocketAddress SocketAddress::unix_path(std::string_view path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(a.sun_path))
    throw std::invalid_argument("curio: Unix socket path empty or longer than " +
                                std::to_string(sizeof(a.sun_path) - 1) + " bytes: '" + std::string(path) + "'");
  std::memcpy(a.sun_path, path.data(), path.size());
  return SocketAddress(reinterpret_cast<sockaddr*>(&a),
                       static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1));
}

std::string SocketAddress::host() const {
  char buf[INET6_ADDRSTRLEN] = {};
  switch (family()) {
    case AF_INET:
      ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(data())->sin_addr, buf, sizeof buf);
      return buf;
    case AF_INET6:
      ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(data())->sin6_addr, buf, sizeof buf);
      return buf;
    case AF_UNIX: {
      auto* un = reinterpret_cast<const sockaddr_un*>(data());
      std::size_t n = size() > offsetof(sockaddr_un, sun_path) ? size() - offsetof(sockaddr_un, sun_path) : 0;
      return std::string(un->sun_path, strnlen(un->sun_path, n));
    }
    default:
      return {};
  }
}

std::uint16_t SocketAddress::port() const noexcept {
  switch (family()) {
    case AF_INET:
      return ntohs(reinterpret_cast<const sockaddr_in*>(data())->sin_port);
    case AF_INET6:
      return ntohs(reinterpret_cast<const sockaddr_in6*>(data())->sin6_port);
    default:
      return 0;
  }
}

std::string SocketAddress::to_string() const {
  // Built by append: GCC 12 warns falsely (-Wrestrict) on chains of operator+ here.
  std::string out;
  switch (family()) {
    case AF_INET:
      out.append(host()).append(":").append(std::to_string(port()));
      break;
    case AF_INET6:
      out.append("[").append(host()).append("]:").append(std::to_string(port()));
      break;
    case AF_UNIX: {
      std::string h = host();
      out.append(h.empty() ? "unix:(unnamed)" : "unix:").append(h);
      break;
    }
    default:
      out = "(no address)";
  }
  return out;
}

bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace curio
