// curio/io/socket_address.hpp: SocketAddress, an IPv4, IPv6 or Unix socket address by value.
// SocketAddress::ip("127.0.0.1", 80) parses a numeric host (names go through curio::resolve);
// to_string() prints "127.0.0.1:80", "[::1]:80" or "unix:/the/path".
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace curio {

class SocketAddress {
 public:
  SocketAddress() noexcept = default;
  SocketAddress(const sockaddr* sa, socklen_t len) noexcept;

  // A numeric IPv4 or IPv6 host and a port; std::invalid_argument if host is not numeric.
  static SocketAddress ip(std::string_view host, std::uint16_t port);
  static SocketAddress ipv4(std::string_view host, std::uint16_t port);
  static SocketAddress ipv6(std::string_view host, std::uint16_t port);
  // A Unix socket path (std::invalid_argument if too long for sockaddr_un).
  static SocketAddress unix_path(std::string_view path);

  int family() const noexcept { return storage_.ss_family; }
  bool empty() const noexcept { return len_ == 0; }
  // The numeric host ("127.0.0.1", "::1"), or the path of a Unix address.
  std::string host() const;
  std::uint16_t port() const noexcept;  // 0 for Unix addresses
  std::string to_string() const;

  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return len_; }
  // For system calls that fill the address in: capacity() before, set_size() after.
  static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }
  void set_size(socklen_t len) noexcept { len_ = len; }

  friend bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept;

 private:
  sockaddr_storage storage_{};
  socklen_t len_ = 0;
};

}  // namespace curio
