// SocketAddress by value in 32 bytes (issue 13): IP addresses inline, Unix paths on the heap;
// copies, moves and the fill-in protocol (capacity()/data()/set_size()) keep every kind intact.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>
#include <string>
#include <utility>

#include "curio/curio.hpp"

using curio::SocketAddress;

TEST(SocketAddress, IsThirtyTwoBytes) { EXPECT_EQ(sizeof(SocketAddress), 32u); }

TEST(SocketAddress, Ipv4AndIpv6RoundTripThroughToString) {
  EXPECT_EQ(SocketAddress::ip("127.0.0.1", 80).to_string(), "127.0.0.1:80");
  EXPECT_EQ(SocketAddress::ip("::1", 443).to_string(), "[::1]:443");
  SocketAddress v6 = SocketAddress::ipv6("fe80::1:2:3:4", 65535);
  EXPECT_EQ(v6.size(), sizeof(sockaddr_in6));
  EXPECT_EQ(v6.family(), AF_INET6);
  EXPECT_EQ(v6.port(), 65535);
}

TEST(SocketAddress, UnixPathsSurviveCopiesAndMoves) {
  std::string path(100, 'p');  // longer than the inline buffer
  SocketAddress a = SocketAddress::unix_path("/" + path);
  SocketAddress copy = a;
  EXPECT_EQ(copy, a);
  EXPECT_EQ(copy.host(), "/" + path);
  SocketAddress moved = std::move(copy);
  EXPECT_EQ(moved.to_string(), "unix:/" + path);
  EXPECT_TRUE(copy.empty());  // NOLINT: a moved-from address is empty
  SocketAddress assigned = SocketAddress::ip("10.0.0.1", 1);
  assigned = a;
  EXPECT_EQ(assigned, a);
  assigned = SocketAddress::ip("10.0.0.2", 2);  // back to inline: the path block is freed
  EXPECT_EQ(assigned.to_string(), "10.0.0.2:2");
  assigned = std::move(moved);
  EXPECT_EQ(assigned, a);
  SocketAddress& same = assigned;
  assigned = same;  // self-assignment keeps it
  EXPECT_EQ(assigned, a);
}

TEST(SocketAddress, FillInProtocolStoresAnIpAddressInline) {
  SocketAddress a;
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(8080);
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_GE(SocketAddress::capacity(), sizeof(sockaddr_storage));
  std::memcpy(a.data(), &in, sizeof in);  // what getsockname/accept do
  a.set_size(sizeof in);
  EXPECT_EQ(a.to_string(), "127.0.0.1:8080");
  EXPECT_EQ(a, SocketAddress::ip("127.0.0.1", 8080));
}

TEST(SocketAddress, FillInProtocolKeepsAUnixPath) {
  SocketAddress a;
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::strcpy(un.sun_path, "/tmp/a-fairly-long-socket-path-for-the-test");
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + std::strlen(un.sun_path) + 1);
  std::memcpy(a.data(), &un, len);
  a.set_size(len);
  EXPECT_EQ(a.to_string(), "unix:/tmp/a-fairly-long-socket-path-for-the-test");
}

TEST(SocketAddress, ReadingThroughTheWritableAccessorChangesNothing) {
  SocketAddress a = SocketAddress::ip("192.168.1.2", 3);
  const sockaddr* p = a.data();  // non-const object: the writable overload
  EXPECT_EQ(p->sa_family, AF_INET);
  EXPECT_EQ(a.size(), sizeof(sockaddr_in));
  EXPECT_EQ(a.to_string(), "192.168.1.2:3");
  SocketAddress b = a;
  EXPECT_EQ(b, a);
}

TEST(SocketAddress, AcceptedUnixClientsAreUnnamedAndInline) {
  // An unnamed Unix peer is just its family (2 bytes): inline.
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  SocketAddress a(reinterpret_cast<sockaddr*>(&un), sizeof(sa_family_t));
  EXPECT_EQ(a.to_string(), "unix:(unnamed)");
}
