// curio/io/socket_address.hpp: SocketAddress, an IPv4, IPv6 or Unix socket address by value.
// SocketAddress::ip("127.0.0.1", 80) parses a numeric host (names go through curio::resolve);
// to_string() prints "127.0.0.1:80", "[::1]:80" or "unix:/the/path".
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace curio {

// 32 bytes: IPv4 and IPv6 addresses (and unnamed Unix ones) are stored inline; a Unix path
// (up to 110 bytes) lives in a heap block of its own. So an address kept per connection (a
// handler's parameter) costs 32 bytes instead of a whole sockaddr_storage (128 + 8).
class SocketAddress {
 public:
  SocketAddress() noexcept = default;
  // Copies len bytes of sa (at most sizeof(sockaddr_storage)); allocates only for Unix paths.
  SocketAddress(const sockaddr* sa, socklen_t len);
  SocketAddress(const SocketAddress& o) : SocketAddress(o.data(), o.size()) {}
  SocketAddress(SocketAddress&& o) noexcept : len_(o.len_) {
    std::memcpy(bytes_, o.bytes_, sizeof bytes_);
    o.len_ = 0;
  }
  SocketAddress& operator=(const SocketAddress& o) {
    if (this != &o) *this = SocketAddress(o);
    return *this;
  }
  SocketAddress& operator=(SocketAddress&& o) noexcept {
    if (this != &o) {
      release();
      std::memcpy(bytes_, o.bytes_, sizeof bytes_);
      len_ = std::exchange(o.len_, 0);
    }
    return *this;
  }
  ~SocketAddress() { release(); }

  // A numeric IPv4 or IPv6 host and a port; std::invalid_argument if host is not numeric.
  static SocketAddress ip(std::string_view host, std::uint16_t port);
  static SocketAddress ipv4(std::string_view host, std::uint16_t port);
  static SocketAddress ipv6(std::string_view host, std::uint16_t port);
  // A Unix socket path (std::invalid_argument if too long for sockaddr_un).
  static SocketAddress unix_path(std::string_view path);

  int family() const noexcept { return data()->sa_family; }
  bool empty() const noexcept { return len_ == 0; }
  // The numeric host ("127.0.0.1", "::1"), or the path of a Unix address.
  std::string host() const;
  std::uint16_t port() const noexcept;  // 0 for Unix addresses
  std::string to_string() const;

  const sockaddr* data() const noexcept {
    return reinterpret_cast<const sockaddr*>(on_heap() ? static_cast<const void*>(heap()) : bytes_);
  }
  socklen_t size() const noexcept { return len_ & ~kHeap; }
  // For system calls that fill the address in: capacity() bytes at data() before, set_size()
  // after. (data() then points to a heap block until set_size() moves a short address inline:
  // code that fills addresses often should fill a local sockaddr_storage and construct one.)
  static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }
  sockaddr* data();
  void set_size(socklen_t len) noexcept;

  friend bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept;

 private:
  static constexpr socklen_t kInline = sizeof(sockaddr_in6);  // 28
  static constexpr socklen_t kHeap = socklen_t{1} << 31;      // the flag bit of len_: bytes_ holds a pointer
  bool on_heap() const noexcept { return (len_ & kHeap) != 0; }
  sockaddr_storage* heap() const noexcept {
    sockaddr_storage* p;
    std::memcpy(&p, bytes_, sizeof p);
    return p;
  }
  void release() noexcept;

  alignas(4) unsigned char bytes_[kInline] = {};  // an address up to sockaddr_in6, or the heap pointer
  socklen_t len_ = 0;                             // the size, plus kHeap
};

}  // namespace curio
