// Socket: echo over TCP (IPv4, IPv6), UDP and Unix sockets; connect errors; accept and recv
// under cancellation and timeouts; one reader and one writer per socket; resets, half-close and
// close while waiting; descriptor-number reuse; sendall progress; no descriptor leaks.
// Timing tolerance: the timeouts used here (10-100 ms) only bound waits that cannot complete;
// no test asserts a duration, and each finishes well under 2 s (loopback only).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "io/io_test_support.hpp"

using namespace curio_test;
using curio::Socket;
using curio::SocketAddress;
using curio::Task;

namespace {

// Accepts one client and echoes what it sends until it closes.
Task<> echo_one(Socket& listener) {
  auto [client, address] = co_await listener.accept();
  for (;;) {
    std::string data = co_await client.recv();
    if (data.empty()) break;
    co_await client.sendall(data);
  }
}

// Connects to address, sends message, returns what comes back (message.size() bytes).
Task<std::string> echo_client(int family, SocketAddress address, std::string message) {
  Socket s(family, SOCK_STREAM);
  co_await s.connect(address);
  co_await s.sendall(message);
  std::string got;
  while (got.size() < message.size()) {
    std::string part = co_await s.recv();
    if (part.empty()) break;
    got += part;
  }
  co_return got;
}

bool ipv6_loopback_available() {
  int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

// --- echo over each family ---

TEST(Socket, EchoOverTcpIpv4) {
  auto main = []() -> Task<> {
    Socket listener = loopback_listener();
    SocketAddress address = listener.getsockname();
    EXPECT_EQ(address.host(), "127.0.0.1");
    EXPECT_NE(address.port(), 0);
    auto server = curio::spawn(echo_one(listener));
    EXPECT_EQ(co_await echo_client(AF_INET, address, "hello over ipv4"), "hello over ipv4");
    co_await server.join();
  };
  curio::run(main());
}

TEST(Socket, AcceptReturnsThePeerAddressOfTheClient) {
  auto main = []() -> Task<> {
    Socket listener = loopback_listener();
    Socket client(AF_INET, SOCK_STREAM);
    auto connecting = curio::spawn(client.connect(listener.getsockname()));
    auto [server_side, peer] = co_await listener.accept();
    co_await connecting.join();
    EXPECT_EQ(peer, client.getsockname());
    EXPECT_EQ(client.getpeername(), listener.getsockname());
    EXPECT_EQ(server_side.getpeername(), client.getsockname());
  };
  curio::run(main());
}

TEST(Socket, EchoOverTcpIpv6) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "IPv6 loopback (::1) is not available";
  auto main = []() -> Task<> {
    Socket listener(AF_INET6, SOCK_STREAM);
    listener.bind(SocketAddress::ipv6("::1", 0));
    listener.listen();
    SocketAddress address = listener.getsockname();
    EXPECT_EQ(address.family(), AF_INET6);
    EXPECT_EQ(address.host(), "::1");
    EXPECT_EQ(address.to_string(), "[::1]:" + std::to_string(address.port()));
    auto server = curio::spawn(echo_one(listener));
    EXPECT_EQ(co_await echo_client(AF_INET6, address, "hello over ipv6"), "hello over ipv6");
    co_await server.join();
  };
  curio::run(main());
}

TEST(Socket, UdpSendtoAndRecvfromCarryDatagramsAndTheSenderAddress) {
  auto main = []() -> Task<> {
    Socket a(AF_INET, SOCK_DGRAM);
    Socket b(AF_INET, SOCK_DGRAM);
    a.bind(SocketAddress::ipv4("127.0.0.1", 0));
    b.bind(SocketAddress::ipv4("127.0.0.1", 0));
    // b waits first, so the datagram arrives while it is blocked.
    auto receiver = curio::spawn(b.recvfrom());
    co_await curio::sleep(1ms);
    EXPECT_EQ(co_await a.sendto("ping", b.getsockname()), 4u);
    auto [data, from] = co_await receiver.join();
    EXPECT_EQ(data, "ping");
    EXPECT_EQ(from, a.getsockname());
    EXPECT_EQ(co_await b.sendto("pong", from), 4u);
    auto [reply, replier] = co_await curio::timeout_after(1s, a.recvfrom());
    EXPECT_EQ(reply, "pong");
    EXPECT_EQ(replier, b.getsockname());
  };
  curio::run(main());
}

TEST(Socket, UdpDatagramsKeepTheirBoundaries) {
  auto main = []() -> Task<> {
    Socket a(AF_INET, SOCK_DGRAM);
    Socket b(AF_INET, SOCK_DGRAM);
    b.bind(SocketAddress::ipv4("127.0.0.1", 0));
    co_await a.sendto("one", b.getsockname());
    co_await a.sendto("two", b.getsockname());
    EXPECT_EQ((co_await b.recvfrom()).first, "one");
    EXPECT_EQ((co_await b.recvfrom()).first, "two");
  };
  curio::run(main());
}

TEST(Socket, EchoOverUnixStreamSocket) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::string path = dir.file("sock");
  auto main = [&]() -> Task<> {
    Socket listener(AF_UNIX, SOCK_STREAM);
    listener.bind(SocketAddress::unix_path(path));
    listener.listen();
    EXPECT_EQ(listener.getsockname().host(), path);
    // to_string() names the path (it prints "unix:" + path).
    EXPECT_NE(listener.getsockname().to_string().find(path), std::string::npos);
    auto server = curio::spawn(echo_one(listener));
    EXPECT_EQ(co_await echo_client(AF_UNIX, SocketAddress::unix_path(path), "hello over unix"), "hello over unix");
    co_await server.join();
  };
  curio::run(main());
  EXPECT_EQ(::unlink(path.c_str()), 0);
}

TEST(Socket, PairIsConnectedBothWays) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    co_await a.sendall("to b");
    EXPECT_EQ(co_await b.recv(), "to b");
    co_await b.sendall("to a");
    EXPECT_EQ(co_await a.recv(), "to a");
  };
  curio::run(main());
}

TEST(Socket, RecvIntoFillsTheCallersBuffer) {
  auto main = []() -> Task<> {
    auto ab = Socket::pair();  // (named: lambdas below capture the sockets)
    Socket& a = ab.first;
    Socket& b = ab.second;
    auto reader = curio::spawn([&]() -> Task<std::string> {
      std::vector<std::byte> buf(16);
      std::size_t n = co_await b.recv_into(buf);
      co_return std::string(reinterpret_cast<const char*>(buf.data()), n);
    });
    co_await curio::sleep(1ms);
    co_await a.sendall("bytes");
    EXPECT_EQ(co_await reader.join(), "bytes");
  };
  curio::run(main());
}

// --- connect and accept ---

TEST(Socket, ConnectToAClosedPortRaisesConnectionRefusedNamingConnect) {
  auto main = []() -> Task<> {
    // A port that is bound but not listening: nothing can accept on it, and no other
    // process can take it while this socket holds it.
    Socket holder(AF_INET, SOCK_STREAM);
    holder.bind(SocketAddress::ipv4("127.0.0.1", 0));
    SocketAddress address = holder.getsockname();
    Socket s(AF_INET, SOCK_STREAM);
    int err = 0;
    std::string message;
    try {
      co_await s.connect(address);
    } catch (const curio::SystemError& e) {
      err = e.error_number();
      message = e.what();
    }
    EXPECT_EQ(err, ECONNREFUSED);
    EXPECT_NE(message.find("connect"), std::string::npos) << message;
    EXPECT_NE(message.find(address.to_string()), std::string::npos) << message;
  };
  curio::run(main());
}

TEST(Socket, AcceptUnderTimeoutRaisesTaskTimeoutAndALaterAcceptStillWorks) {
  auto main = []() -> Task<> {
    Socket listener = loopback_listener();
    bool timed_out = false;
    try {
      co_await curio::timeout_after(20ms, listener.accept());
    } catch (const curio::TaskTimeout&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    Socket client(AF_INET, SOCK_STREAM);
    auto connecting = curio::spawn(client.connect(listener.getsockname()));
    auto [conn, peer] = co_await curio::timeout_after(1s, listener.accept());
    co_await connecting.join();
    EXPECT_EQ(peer, client.getsockname());
  };
  curio::run(main());
}

// --- one reader and one writer ---

TEST(Socket, CancelledRecvLeavesNoWaiterBehind) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    auto reader = curio::spawn(a.recv());
    co_await curio::sleep(5ms);
    EXPECT_EQ(reader.state(), curio::TaskStatus::ReadWait);
    EXPECT_TRUE(co_await reader.cancel());
    // A new reader on the same socket is not refused (no ResourceBusy) and gets the data.
    auto again = curio::spawn(a.recv());
    co_await curio::sleep(1ms);
    co_await b.sendall("after cancel");
    EXPECT_EQ(co_await curio::timeout_after(1s, again.join()), "after cancel");
  };
  curio::run(main());
}

TEST(Socket, SecondConcurrentRecvRaisesReadResourceBusy) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    auto first = curio::spawn(a.recv());
    co_await curio::sleep(1ms);
    EXPECT_THROW(co_await a.recv(), curio::ReadResourceBusy);
    // The first reader is undisturbed.
    co_await b.sendall("for the first");
    EXPECT_EQ(co_await curio::timeout_after(1s, first.join()), "for the first");
  };
  curio::run(main());
}

TEST(Socket, SecondConcurrentSendallRaisesWriteResourceBusy) {
  auto main = []() -> Task<> {
    auto [a, b] = co_await tcp_pair();  // b never reads until the end
    set_buffer_sizes(a, 4096);
    EXPECT_GT(fill_send_buffer(a), 0u);
    std::string big(256 * 1024, 'x');
    auto first = curio::spawn(a.sendall(big));
    co_await curio::sleep(1ms);
    EXPECT_EQ(first.state(), curio::TaskStatus::WriteWait);
    EXPECT_THROW(co_await a.sendall("second"), curio::WriteResourceBusy);
    co_await first.cancel();
  };
  curio::run(main());
}

TEST(Socket, ConcurrentRecvAndSendallByTwoTasksBothComplete) {
  auto main = []() -> Task<> {
    auto [a, b] = co_await tcp_pair();
    const std::string big = pattern(1 << 20);  // more than the socket buffers: sendall waits
    auto reader = curio::spawn(a.recv());
    auto writer = curio::spawn(a.sendall(big));
    co_await curio::sleep(1ms);
    EXPECT_EQ(reader.state(), curio::TaskStatus::ReadWait);
    // The peer drains everything a sends, then answers.
    std::string got;
    while (got.size() < big.size()) {
      std::string part = co_await curio::timeout_after(1s, b.recv());
      if (part.empty()) break;
      got += part;
    }
    EXPECT_TRUE(got == big);
    co_await b.sendall("done");
    co_await curio::timeout_after(1s, writer.join());
    EXPECT_EQ(co_await curio::timeout_after(1s, reader.join()), "done");
  };
  curio::run(main());
}

// --- resets, half-close, close ---

TEST(Socket, PeerResetMakesAWaitingRecvRaiseConnectionReset) {
  auto main = []() -> Task<> {
    auto ab = co_await tcp_pair();  // (named: lambdas below capture the sockets)
    Socket& a = ab.first;
    Socket& b = ab.second;
    auto reader = curio::spawn([&]() -> Task<int> {
      try {
        co_await a.recv();
      } catch (const curio::SystemError& e) {
        co_return e.error_number();
      }
      co_return 0;
    });
    co_await curio::sleep(1ms);
    linger l{1, 0};  // close sends RST instead of FIN
    EXPECT_EQ(::setsockopt(b.fileno(), SOL_SOCKET, SO_LINGER, &l, sizeof l), 0);
    b.close();
    EXPECT_EQ(co_await curio::timeout_after(1s, reader.join()), ECONNRESET);
  };
  curio::run(main());
}

TEST(Socket, HalfCloseMakesRecvReturnEmptyWhileSendingStillWorks) {
  auto main = []() -> Task<> {
    auto [a, b] = co_await tcp_pair();
    b.shutdown(SHUT_WR);
    EXPECT_EQ(co_await curio::timeout_after(1s, a.recv()), "");
    EXPECT_EQ(co_await curio::timeout_after(1s, a.recv()), "");  // and stays at end of stream
    co_await a.sendall("still open");
    EXPECT_EQ(co_await curio::timeout_after(1s, b.recv()), "still open");
  };
  curio::run(main());
}

TEST(Socket, ClosingASocketWakesATaskWaitingInRecvWithEbadf) {
  auto main = []() -> Task<> {
    auto ab = Socket::pair();  // (named: lambdas below capture the sockets)
    Socket& a = ab.first;
    // ab.second, the peer, stays open: the reader waits for data that never comes.
    auto reader = curio::spawn([&]() -> Task<int> {
      try {
        co_await a.recv();
      } catch (const curio::SystemError& e) {
        co_return e.error_number();
      }
      co_return 0;
    });
    co_await curio::sleep(1ms);
    EXPECT_EQ(reader.state(), curio::TaskStatus::ReadWait);
    a.close();
    EXPECT_EQ(co_await curio::timeout_after(1s, reader.join()), EBADF);
    EXPECT_FALSE(a);
  };
  curio::run(main());
}

TEST(Socket, OperationsOnAClosedSocketRaiseEbadf) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    a.close();
    a.close();  // idempotent
    int err = 0;
    try {
      co_await a.recv();
    } catch (const curio::SystemError& e) {
      err = e.error_number();
    }
    EXPECT_EQ(err, EBADF);
  };
  curio::run(main());
}

TEST(Socket, AReusedDescriptorNumberNeverWakesAStaleWaiter) {
  auto main = []() -> Task<> {
    int number = -1;
    int kept = -1;
    Socket a_peer;
    {
      auto [a, peer] = Socket::pair();
      a_peer = std::move(peer);
      // Register a with the poller: a wait that completes.
      auto first = curio::spawn(a.recv());
      co_await curio::sleep(1ms);
      co_await a_peer.sendall("x");
      EXPECT_EQ(co_await first.join(), "x");
      // Keep a's socket alive under another number, so only the number is released: a stale
      // poller entry for it would go on reporting events for a's (destroyed) registration.
      number = a.fileno();
      kept = ::dup(number);
      EXPECT_GE(kept, 0);
    }  // a is closed and destroyed here, with nobody waiting on it
    // b reuses the descriptor number (the lowest free one).
    auto [b, b_peer] = Socket::pair();
    EXPECT_EQ(b.fileno(), number);
    // b has nothing to read: a recv must wait (not fail, not see a's readiness) ...
    auto reader = curio::spawn(b.recv());
    co_await curio::sleep(1ms);
    EXPECT_EQ(reader.state(), curio::TaskStatus::ReadWait);
    // ... data for a's old socket wakes nothing ...
    co_await a_peer.sendall("stale");
    co_await curio::sleep(20ms);
    EXPECT_EQ(reader.state(), curio::TaskStatus::ReadWait);
    // ... and data from b's own peer wakes it.
    co_await b_peer.sendall("fresh");
    EXPECT_EQ(co_await curio::timeout_after(1s, reader.join()), "fresh");
    ::close(kept);
  };
  curio::run(main());
}

// --- sendall ---

TEST(Socket, SendallOfFourMegabytesReachesASlowReaderIntact) {
  auto main = []() -> Task<> {
    auto [a, b] = co_await tcp_pair();
    const std::string data = pattern(4 << 20);
    auto writer = curio::spawn(a.sendall(data));
    std::string got;
    got.reserve(data.size());
    int reads = 0;
    while (got.size() < data.size()) {
      std::string part = co_await curio::timeout_after(1s, b.recv());
      if (part.empty()) break;
      got += part;
      if (++reads % 4 == 0) co_await curio::sleep(1ms);  // a slow reader
    }
    co_await writer.join();
    EXPECT_EQ(got.size(), data.size());
    EXPECT_TRUE(got == data);
  };
  curio::run(main());
}

TEST(Socket, SendallCancelledByTimeoutReportsBytesSent) {
  auto main = []() -> Task<> {
    auto [a, b] = co_await tcp_pair();  // b never reads
    set_buffer_sizes(a, 16384);
    const std::string data(8 << 20, 'd');
    std::optional<std::size_t> sent;
    try {
      co_await curio::timeout_after(50ms, a.sendall(data));
    } catch (const curio::TaskTimeout& e) {
      sent = e.bytes_sent;
    }
    EXPECT_TRUE(sent.has_value());
    if (sent) {
      EXPECT_GT(*sent, 0u);
      EXPECT_LT(*sent, data.size());
      // What was reported as sent is exactly what the peer can read.
      b.shutdown(SHUT_WR);
      a.shutdown(SHUT_WR);
      std::size_t received = 0;
      for (;;) {
        std::string part = co_await curio::timeout_after(1s, b.recv());
        if (part.empty()) break;
        received += part.size();
      }
      EXPECT_EQ(received, *sent);
    }
  };
  curio::run(main());
}

TEST(Socket, SendallUnderNestedTimeoutsKeepsBytesSentWhenTheOuterOneFires) {
  // The inner block turns the TaskTimeout into a TimeoutCancellationError and the outer one
  // back into a TaskTimeout: the progress recorded by sendall must survive both conversions.
  auto main = []() -> Task<std::optional<std::size_t>> {
    auto [a, b] = co_await tcp_pair();  // b never reads
    set_buffer_sizes(a, 16384);
    const std::string data(8 << 20, 'd');
    try {
      co_await curio::timeout_after(50ms, curio::timeout_after(10s, a.sendall(data)));
    } catch (const curio::TaskTimeout& e) {
      co_return e.bytes_sent;
    }
    co_return std::nullopt;
  };
  auto sent = curio::run(main());
  EXPECT_TRUE(sent.has_value() && *sent > 0);
}

// --- no descriptor leaks ---

TEST(Socket, CancelledAcceptLeavesNoDescriptorOpen) {
  auto main = []() -> Task<> {
    Socket listener = loopback_listener();
    int before = open_fd_count();
    EXPECT_FALSE(co_await curio::ignore_after(10ms, listener.accept()));
    auto acceptor = curio::spawn(listener.accept());
    co_await curio::sleep(1ms);
    co_await acceptor.cancel();
    EXPECT_EQ(open_fd_count(), before);
  };
  curio::run(main());
}

namespace {

// Fills the accept queue of a listener with backlog 0 (Linux keeps one connection), so the
// next connect stays in SYN_SENT: its SYNs are dropped while the queue is full.
Task<std::vector<Socket>> fill_accept_queue(const SocketAddress& address) {
  std::vector<Socket> queued;
  for (int i = 0; i < 8; ++i) {
    Socket s(AF_INET, SOCK_STREAM);
    if (!co_await curio::ignore_after(50ms, s.connect(address))) break;
    queued.push_back(std::move(s));
  }
  co_return queued;
}

}  // namespace

TEST(Socket, CancelledConnectLeavesNoDescriptorOpen) {
  auto main = []() -> Task<> {
    Socket listener = loopback_listener(0);
    SocketAddress address = listener.getsockname();
    std::vector<Socket> queued = co_await fill_accept_queue(address);
    EXPECT_GE(queued.size(), 1u);
    EXPECT_LT(queued.size(), 8u);  // the queue did fill: connects now block
    int before = open_fd_count();
    bool timed_out = false;
    try {
      co_await curio::timeout_after(30ms, [&]() -> Task<> {
        Socket s(AF_INET, SOCK_STREAM);
        co_await s.connect(address);
      });
    } catch (const curio::TaskTimeout&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(open_fd_count(), before);
  };
  curio::run(main());
}

TEST(Socket, CancelledOpenConnectionLeavesNoDescriptorOpen) {
  auto main = []() -> Task<> {
    Socket listener = loopback_listener(0);
    SocketAddress address = listener.getsockname();
    std::vector<Socket> queued = co_await fill_accept_queue(address);
    EXPECT_LT(queued.size(), 8u);
    int before = open_fd_count();
    bool timed_out = false;
    try {
      co_await curio::timeout_after(30ms, curio::open_connection("127.0.0.1", address.port()));
    } catch (const curio::TaskTimeout&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(open_fd_count(), before);
    // The same with task.cancel().
    auto connecting = curio::spawn(curio::open_connection("127.0.0.1", address.port()));
    co_await curio::sleep(5ms);
    EXPECT_EQ(connecting.state(), curio::TaskStatus::WriteWait);
    co_await connecting.cancel();
    EXPECT_EQ(open_fd_count(), before);
  };
  curio::run(main());
}

// curio polls for I/O at every scheduling cycle; this kernel polls, while tasks stay ready, once
// the last poll is older than 10 us. Here the busy task's cycles take 200 us each (a spin, 20x
// that bound) and it cancels the handler after 8 of them: the end of file that arrived before
// the cancellation must reach the handler first (with a bound of 16 cycles it did not).
TEST(Socket, HandlerSeesEofThatArrivedWhileAnotherTaskLoopsOnSleep0) {
  auto main = []() -> Task<std::string> {
    auto [client, server] = Socket::pair();
    std::string outcome = "still waiting";
    auto handler = curio::spawn([&, &server = server]() -> Task<> {
      try {
        std::string data = co_await server.recv();
        outcome = data.empty() ? "eof" : "data";
      } catch (curio::CancelledError&) {
        outcome = "cancelled inside recv";
        throw;
      }
    });
    co_await curio::sleep(1ms);  // the handler now waits in recv
    client.close();
    for (int i = 0; i < 8; ++i) {
      auto until = std::chrono::steady_clock::now() + 200us;
      while (std::chrono::steady_clock::now() < until) {
      }
      co_await curio::sleep(0s);
    }
    co_await handler.cancel();
    co_return outcome;
  };
  EXPECT_EQ(curio::run(main()), "eof");
}
