// Channel and Connection (issue 9, item 7): whole framed messages, values through ChannelCodec,
// HMAC authentication, cancellation that never splits a frame, the maximum frame size.
// Timeouts of a few ms only make an operation give up while it surely waits; nothing is timed.
#include "curio/channel/channel.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "io/io_test_support.hpp"

using namespace curio_test;
using curio::Connection;
using curio::Task;

namespace {

struct Point {
  int x;
  std::string label;
};

// Writes raw bytes to the peer of a Connection, bypassing framing (to build partial frames).
void raw_write(curio::Socket& s, std::string_view bytes) {
  ASSERT_EQ(::send(s.fileno(), bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}
std::string header(std::uint32_t n) {
  return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n)};
}

// A connected pair of Connections over a socketpair.
std::pair<Connection, Connection> connection_pair() {
  auto [a, b] = curio::Socket::pair();
  return {Connection(std::move(a)), Connection(std::move(b))};
}

}  // namespace

// A user codec: "x|label".
template <>
struct curio::ChannelCodec<Point> {
  static void encode(const Point& p, std::string& out) { out += std::to_string(p.x) + "|" + p.label; }
  static Point decode(std::string_view bytes) {
    auto bar = bytes.find('|');
    return Point{std::stoi(std::string(bytes.substr(0, bar))), std::string(bytes.substr(bar + 1))};
  }
};

TEST(Channel, BytesArriveAsWholeMessagesInOrderOverTcp) {
  auto main = []() -> Task<> {
    curio::Channel ch(curio::SocketAddress::ipv4("127.0.0.1", 0));
    ch.bind();
    EXPECT_NE(ch.address().port(), 0);
    auto server = curio::spawn([&]() -> Task<std::vector<std::string>> {
      Connection c = co_await ch.accept();
      std::vector<std::string> got;
      for (int i = 0; i < 3; ++i) got.push_back(co_await c.recv_bytes());
      co_return got;
    });
    Connection c = co_await ch.connect();
    co_await c.send_bytes("one");
    co_await c.send_bytes("");
    co_await c.send_bytes(std::string(200000, 'z'));
    auto got = co_await server.join();
    EXPECT_EQ(got.at(0), "one");
    EXPECT_EQ(got.at(1), "");
    EXPECT_EQ(got.at(2), std::string(200000, 'z'));
  };
  curio::run(main());
}

TEST(Channel, WorksOverAUnixSocketAndRemovesItsFile) {
  TempDir dir;
  std::string path = dir.file("sock");
  auto main = [&]() -> Task<> {
    curio::Channel ch(curio::SocketAddress::unix_path(path));
    auto server = curio::spawn([&]() -> Task<std::string> {
      Connection c = co_await ch.accept();
      co_return co_await c.recv<std::string>();
    });
    co_await curio::sleep(1ms);  // the server has bound
    Connection c = co_await ch.connect();
    co_await c.send(std::string("over unix"));
    EXPECT_EQ(co_await server.join(), "over unix");
  };
  curio::run(main());
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST(Channel, ValuesTravelThroughAUserCodec) {
  auto main = []() -> Task<> {
    auto [a, b] = connection_pair();
    Point seven{7, "seven"};  // named: GCC 12 mis-destroys a braced aggregate inside co_await
    co_await a.send(seven);
    co_await a.send(42);
    Point p = co_await b.recv<Point>();
    EXPECT_EQ(p.x, 7);
    EXPECT_EQ(p.label, "seven");
    EXPECT_EQ(co_await b.recv<int>(), 42);
  };
  curio::run(main());
}

TEST(Channel, MatchingKeysAuthenticateBothWays) {
  auto main = []() -> Task<> {
    curio::Channel ch(curio::SocketAddress::ipv4("127.0.0.1", 0));
    ch.bind();
    auto server = curio::spawn([&]() -> Task<std::string> {
      Connection c = co_await ch.accept("shared secret");
      co_return co_await c.recv_bytes();
    });
    Connection c = co_await ch.connect("shared secret");
    co_await c.send_bytes("authenticated");
    EXPECT_EQ(co_await server.join(), "authenticated");
  };
  curio::run(main());
}

TEST(Channel, MismatchedKeysRaiseAuthenticationErrorOnBothSides) {
  auto main = []() -> Task<> {
    curio::Channel ch(curio::SocketAddress::ipv4("127.0.0.1", 0));
    ch.bind();
    auto server = curio::spawn([&]() -> Task<> { co_await ch.accept("server key"); });
    EXPECT_THROW(co_await ch.connect("client key"), curio::AuthenticationError);
    try {
      co_await server.join();
      ADD_FAILURE() << "the server accepted a wrong key";
    } catch (const curio::TaskError& e) {
      EXPECT_THROW(e.rethrow_cause(), curio::AuthenticationError);
    }
  };
  curio::run(main());
}

TEST(Channel, AKeyOnOneSideOnlyFailsTheHandshake) {
  // The unauthenticating side's first message is not a valid challenge answer.
  auto main = []() -> Task<> {
    curio::Channel ch(curio::SocketAddress::ipv4("127.0.0.1", 0));
    ch.bind();
    auto server = curio::spawn([&]() -> Task<> { co_await ch.accept("key"); });
    Connection c = co_await ch.connect();
    co_await c.send_bytes("hello, no key");
    EXPECT_THROW(co_await server.join(), curio::TaskError);
  };
  curio::run(main());
}

TEST(Channel, RecvCancelledMidFrameResumesTheSameFrame) {
  auto main = []() -> Task<> {
    auto [s, r] = curio::Socket::pair();
    Connection c(std::move(r));
    raw_write(s, header(10) + "hello");
    EXPECT_FALSE(co_await curio::ignore_after(5ms, c.recv_bytes()));
    EXPECT_FALSE(c.broken());
    raw_write(s, "world" + header(3) + "abc");
    EXPECT_EQ(co_await c.recv_bytes(), "helloworld");
    EXPECT_EQ(co_await c.recv_bytes(), "abc");
  };
  curio::run(main());
}

TEST(Channel, RecvCancelledMidHeaderResumesTheSameFrame) {
  auto main = []() -> Task<> {
    auto [s, r] = curio::Socket::pair();
    Connection c(std::move(r));
    std::string h = header(2);
    raw_write(s, h.substr(0, 2));
    EXPECT_FALSE(co_await curio::ignore_after(5ms, c.recv_bytes()));
    raw_write(s, h.substr(2) + "ok");
    EXPECT_EQ(co_await c.recv_bytes(), "ok");
  };
  curio::run(main());
}

TEST(Channel, SendOfTenMegabytesCancelledMidFrameBreaksTheConnection) {
  // Nobody reads the peer, so the 10 MB frame stalls part way; the timeout interrupts it.
  auto main = []() -> Task<> {
    auto [a, b] = connection_pair();
    EXPECT_THROW(co_await curio::timeout_after(20ms, a.send_bytes(std::string(10 << 20, 'm'))), curio::TaskTimeout);
    EXPECT_TRUE(a.broken());
    EXPECT_THROW(co_await a.send_bytes("next"), curio::BrokenChannelError);
    EXPECT_THROW(co_await a.recv_bytes(), curio::BrokenChannelError);
    // The peer never sees half a frame as a message: it sees the end of the stream.
    EXPECT_THROW(co_await b.recv_bytes(), curio::EofError);
  };
  curio::run(main());
}

TEST(Channel, SendCancelledBeforeAnyByteWentOutLeavesTheConnectionUsable) {
  auto main = []() -> Task<> {
    auto [a, raw_peer] = curio::Socket::pair();
    Connection c(std::move(a));
    std::size_t filler = fill_send_buffer(c.socket());
    EXPECT_FALSE(co_await curio::ignore_after(5ms, c.send_bytes("x")));
    EXPECT_FALSE(c.broken());
    std::string drained;
    while (drained.size() < filler) drained += co_await raw_peer.recv(filler - drained.size());
    Connection peer(std::move(raw_peer));
    co_await c.send_bytes("after");
    EXPECT_EQ(co_await peer.recv_bytes(), "after");
  };
  curio::run(main());
}

TEST(Channel, AnOversizedMessageIsRefusedBeforeAnythingIsSent) {
  auto main = []() -> Task<> {
    auto [a, b] = connection_pair();
    a.set_max_frame_size(1000);
    EXPECT_THROW(co_await a.send_bytes(std::string(1001, 'o')), curio::IOError);
    EXPECT_FALSE(a.broken());
    co_await a.send_bytes("small");
    EXPECT_EQ(co_await b.recv_bytes(), "small");
  };
  curio::run(main());
}

TEST(Channel, AnOversizedIncomingFrameIsAnIOErrorAndBreaksTheConnection) {
  // The announced 4 GiB is refused from the header alone: nothing of that size is allocated.
  auto main = []() -> Task<> {
    auto [s, r] = curio::Socket::pair();
    Connection c(std::move(r));
    raw_write(s, header(0xFFFFFFFFu) + "xyz");
    try {
      co_await c.recv_bytes();
      ADD_FAILURE() << "an oversized frame was accepted";
    } catch (const curio::IOError& e) {
      EXPECT_NE(std::string(e.what()).find("maximum frame size"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(c.broken());
  };
  curio::run(main());
}

TEST(Channel, ConcurrentSendersNeverInterleaveTheirFrames) {
  auto main = []() -> Task<> {
    auto conns = connection_pair();
    auto& a = conns.first;
    auto& b = conns.second;
    std::string x(1 << 20, 'x'), y(1 << 20, 'y');
    curio::TaskGroup g;
    g.spawn([&]() -> Task<> { co_await a.send_bytes(x); });
    g.spawn([&]() -> Task<> { co_await a.send_bytes(y); });
    std::string first = co_await b.recv_bytes();
    std::string second = co_await b.recv_bytes();
    co_await g.join();
    EXPECT_TRUE((first == x && second == y) || (first == y && second == x));
  };
  curio::run(main());
}

TEST(Channel, ThePeerClosingBetweenFramesIsEofError) {
  auto main = []() -> Task<> {
    auto [a, b] = connection_pair();
    co_await a.send_bytes("last");
    a.close();
    EXPECT_EQ(co_await b.recv_bytes(), "last");
    EXPECT_THROW(co_await b.recv_bytes(), curio::EofError);
  };
  curio::run(main());
}

TEST(Channel, ConnectingToNoListenerIsConnectionRefused) {
  auto main = []() -> Task<> {
    curio::Channel probe(curio::SocketAddress::ipv4("127.0.0.1", 0));
    probe.bind();
    curio::SocketAddress gone = probe.address();
    probe.close();
    curio::Channel ch(gone);
    EXPECT_THROW(co_await ch.connect(), curio::ConnectionRefusedError);
  };
  curio::run(main());
}
