// Network helpers: open_connection to tcp_server / run_server, name resolution (by name, in the
// background, and failing), Unix servers, a failing handler that does not stop the server, and
// cancelling a server (its handlers are cancelled, its listener closed).
// Timing tolerance: sleeps of 1-10 ms only let spawned tasks reach their first blocking point;
// timeouts (1 s) only bound waits that should complete at once. No test asserts a duration;
// each finishes well under 2 s (loopback only, names from /etc/hosts).
#include <gtest/gtest.h>
#include <netdb.h>

#include <cerrno>
#include <string>

#include "io/io_test_support.hpp"

using namespace curio_test;
using curio::Socket;
using curio::SocketAddress;
using curio::SocketStream;
using curio::Task;
using testing::internal::CaptureStderr;
using testing::internal::GetCapturedStderr;

namespace {

// Echoes lines until the client closes.
Task<> echo_lines(Socket client, SocketAddress) {
  SocketStream s(client);
  while (auto line = co_await s.next_line()) co_await s.write(*line);
}

// One line to the server and its echo back.
Task<std::string> round_trip(Socket& s, std::string line) {
  co_await s.sendall(line);
  co_return co_await SocketStream(s).readline();
}

// A server on 127.0.0.1 at an ephemeral port.
struct LoopbackServer {
  Socket listener = curio::tcp_server_socket("127.0.0.1", 0);
  std::uint16_t port = listener.getsockname().port();
};

}  // namespace

TEST(Network, OpenConnectionReachesARunServerEchoHandler) {
  auto main = []() -> Task<> {
    LoopbackServer srv;
    std::uint16_t port = srv.port;
    auto server = curio::spawn(curio::run_server(std::move(srv.listener), echo_lines));
    Socket s = co_await curio::timeout_after(1s, curio::open_connection("127.0.0.1", port));
    EXPECT_EQ(s.getpeername().port(), port);
    EXPECT_EQ(co_await curio::timeout_after(1s, round_trip(s, "hello\n")), "hello\n");
    EXPECT_EQ(co_await curio::timeout_after(1s, round_trip(s, "again\n")), "again\n");
    co_await server.cancel();
  };
  curio::run(main());
}

TEST(Network, OpenConnectionReachesATcpServerEchoHandler) {
  auto main = []() -> Task<> {
    // tcp_server binds its own socket: take a port the system just handed out (reuse_address
    // lets the server bind it again at once).
    std::uint16_t port = loopback_listener().getsockname().port();
    auto server = curio::spawn(curio::tcp_server("127.0.0.1", port, echo_lines));
    co_await curio::sleep(0ms);  // the server binds and listens before its first wait
    Socket s = co_await curio::timeout_after(1s, curio::open_connection("127.0.0.1", port));
    EXPECT_EQ(co_await curio::timeout_after(1s, round_trip(s, "via tcp_server\n")), "via tcp_server\n");
    co_await server.cancel();
  };
  curio::run(main());
}

TEST(Network, ServerHandlesSeveralClientsAtOnce) {
  auto main = []() -> Task<> {
    LoopbackServer srv;
    std::uint16_t port = srv.port;
    auto server = curio::spawn(curio::run_server(std::move(srv.listener), echo_lines));
    // Three connections open together; they are answered in the reverse order of connecting.
    Socket c1 = co_await curio::open_connection("127.0.0.1", port);
    Socket c2 = co_await curio::open_connection("127.0.0.1", port);
    Socket c3 = co_await curio::open_connection("127.0.0.1", port);
    EXPECT_EQ(co_await curio::timeout_after(1s, round_trip(c3, "3\n")), "3\n");
    EXPECT_EQ(co_await curio::timeout_after(1s, round_trip(c2, "2\n")), "2\n");
    EXPECT_EQ(co_await curio::timeout_after(1s, round_trip(c1, "1\n")), "1\n");
    co_await server.cancel();
  };
  curio::run(main());
}

TEST(Network, OpenConnectionResolvesLocalhostByNameWhileOtherTasksRun) {
  auto main = []() -> Task<> {
    LoopbackServer srv;
    std::uint16_t port = srv.port;
    auto server = curio::spawn(curio::run_server(std::move(srv.listener), echo_lines));
    int ticks = 0;
    bool connected = false;
    auto ticker = curio::spawn([&]() -> Task<> {
      while (!connected) {
        ++ticks;
        co_await curio::sleep(0ms);
      }
    });
    Socket s = co_await curio::timeout_after(1s, curio::open_connection("localhost", port));
    connected = true;
    co_await ticker.join();
    EXPECT_GT(ticks, 0);  // the kernel was not blocked while the name was looked up
    EXPECT_EQ(co_await curio::timeout_after(1s, round_trip(s, "by name\n")), "by name\n");
    co_await server.cancel();
  };
  curio::run(main());
}

TEST(Network, ResolveOfANumericHostNeedsNoLookup) {
  auto main = []() -> Task<> {
    auto addresses = co_await curio::resolve("127.0.0.1", 8080);
    EXPECT_EQ(addresses.size(), 1u);
    EXPECT_EQ(addresses.empty() ? "" : addresses[0].to_string(), "127.0.0.1:8080");
  };
  curio::run(main());
}

TEST(Network, ResolveOfAnInvalidNameRaisesGaiError) {
  auto main = []() -> Task<> {
    int code = 0;
    std::string message;
    try {
      // .invalid is reserved (RFC 2606): it never resolves.
      co_await curio::timeout_after(1.5, curio::resolve("no-such-host.invalid", 80));
    } catch (const curio::GaiError& e) {
      code = e.code();
      message = e.what();
    }
    EXPECT_NE(code, 0);
    EXPECT_NE(message.find("no-such-host.invalid"), std::string::npos) << message;
  };
  curio::run(main());
}

TEST(Network, UnixServerServesOpenUnixConnection) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::string path = dir.file("sock");
  auto main = [&]() -> Task<> {
    auto server = curio::spawn(curio::unix_server(path, echo_lines));
    co_await curio::sleep(0ms);  // the server binds and listens before its first wait
    Socket s = co_await curio::timeout_after(1s, curio::open_unix_connection(path));
    EXPECT_EQ(s.getpeername().host(), path);
    EXPECT_EQ(co_await curio::timeout_after(1s, round_trip(s, "over unix\n")), "over unix\n");
    co_await server.cancel();
  };
  curio::run(main());
}

TEST(Network, HandlerThatThrowsIsReportedAndTheServerKeepsServing) {
  CaptureStderr();
  std::string first_client;
  auto main = [&]() -> Task<> {
    LoopbackServer srv;
    std::uint16_t port = srv.port;
    auto handler = [](Socket client, SocketAddress address) -> Task<> {
      SocketStream s(client);
      std::string line = co_await s.readline();
      if (line == "boom\n") throw Boom();
      co_await s.write(line);
      (void)address;
    };
    auto server = curio::spawn(curio::run_server(std::move(srv.listener), handler));
    Socket c1 = co_await curio::open_connection("127.0.0.1", port);
    first_client = c1.getsockname().to_string();
    co_await c1.sendall("boom\n");
    // The failed handler's socket closes: the client sees the end of the stream.
    EXPECT_EQ(co_await curio::timeout_after(1s, c1.recv()), "");
    Socket c2 = co_await curio::timeout_after(1s, curio::open_connection("127.0.0.1", port));
    EXPECT_EQ(co_await curio::timeout_after(1s, round_trip(c2, "still here\n")), "still here\n");
    EXPECT_FALSE(server.terminated());
    co_await server.cancel();
  };
  curio::run(main());
  std::string err = GetCapturedStderr();
  EXPECT_NE(err.find("boom"), std::string::npos) << err;
  EXPECT_NE(err.find(first_client), std::string::npos) << err;
}

TEST(Network, CancellingTheServerCancelsItsHandlersAndClosesTheListener) {
  auto main = []() -> Task<> {
    LoopbackServer srv;
    std::uint16_t port = srv.port;
    int started = 0;
    int cancelled = 0;
    auto handler = [&](Socket client, SocketAddress) -> Task<> {
      ++started;
      try {
        co_await client.recv();  // the client never sends
      } catch (const curio::CancelledError&) {
        ++cancelled;
        throw;
      }
    };
    auto server = curio::spawn(curio::run_server(std::move(srv.listener), handler));
    Socket c1 = co_await curio::open_connection("127.0.0.1", port);
    Socket c2 = co_await curio::open_connection("127.0.0.1", port);
    for (int i = 0; i < 100 && started < 2; ++i) co_await curio::sleep(1ms);
    EXPECT_EQ(started, 2);
    EXPECT_TRUE(co_await server.cancel());
    EXPECT_EQ(cancelled, 2);
    // The handlers' sockets are closed ...
    EXPECT_EQ(co_await curio::timeout_after(1s, c1.recv()), "");
    EXPECT_EQ(co_await curio::timeout_after(1s, c2.recv()), "");
    // ... and so is the listener: a new connection is refused.
    int err = 0;
    try {
      co_await curio::timeout_after(1s, curio::open_connection("127.0.0.1", port));
    } catch (const curio::SystemError& e) {
      err = e.error_number();
    }
    EXPECT_EQ(err, ECONNREFUSED);
  };
  curio::run(main());
}

// --- client tasks: the handler's own task (issue 13: no wrapper frame per connection) -------

TEST(Network, AHandlerThatReturnsWithoutClosingEndsTheConnection) {
  auto main = []() -> Task<> {
    LoopbackServer srv;
    std::uint16_t port = srv.port;
    // The handler owns the socket: its frame closes it once the handler has ended.
    auto handler = [](Socket client, SocketAddress) -> Task<> { co_await client.sendall("bye\n"); };
    auto server = curio::spawn(curio::run_server(std::move(srv.listener), handler));
    Socket c = co_await curio::timeout_after(1s, curio::open_connection("127.0.0.1", port));
    EXPECT_EQ(co_await curio::timeout_after(1s, SocketStream(c).readline()), "bye\n");
    EXPECT_EQ(co_await curio::timeout_after(1s, c.recv()), "");
    co_await server.cancel();
  };
  curio::run(main());
}

TEST(Network, AClientTaskHasNoSideRecordAndNoGroupLinks) {
  auto main = []() -> Task<> {
    LoopbackServer srv;
    std::uint16_t port = srv.port;
    bool in_group = false, linked = true, side_record = true;
    auto handler = [&](Socket client, SocketAddress) -> Task<> {
      curio::detail::TaskState* me = curio::current_task().state_ptr();
      in_group = me->group != nullptr;
      linked = me->group_linked;  // the server's group keeps no member list
      side_record = me->extras != nullptr;
      co_await client.sendall("x");
    };
    auto server = curio::spawn(curio::run_server(std::move(srv.listener), handler));
    Socket c = co_await curio::timeout_after(1s, curio::open_connection("127.0.0.1", port));
    EXPECT_EQ(co_await curio::timeout_after(1s, c.recv()), "x");
    EXPECT_TRUE(in_group);
    EXPECT_FALSE(linked);
    EXPECT_FALSE(side_record);
    co_await server.cancel();
  };
  curio::run(main());
}

TEST(Network, CancellingTheServerLeavesTheKernelsOtherTasksAlone) {
  auto main = []() -> Task<> {
    LoopbackServer srv;
    std::uint16_t port = srv.port;
    int started = 0;
    auto handler = [&](Socket client, SocketAddress) -> Task<> {
      ++started;
      co_await client.recv();
    };
    auto before = curio::spawn([]() -> Task<> { co_await curio::sleep(10s); });
    auto server = curio::spawn(curio::run_server(std::move(srv.listener), handler));
    Socket c1 = co_await curio::open_connection("127.0.0.1", port);
    auto between = curio::spawn([]() -> Task<> { co_await curio::sleep(10s); });
    Socket c2 = co_await curio::open_connection("127.0.0.1", port);
    for (int i = 0; i < 100 && started < 2; ++i) co_await curio::sleep(1ms);
    EXPECT_EQ(started, 2);
    EXPECT_TRUE(co_await server.cancel());
    EXPECT_EQ(co_await curio::timeout_after(1s, c1.recv()), "");
    EXPECT_EQ(co_await curio::timeout_after(1s, c2.recv()), "");
    EXPECT_FALSE(before.terminated());
    EXPECT_FALSE(between.terminated());
    co_await before.cancel();
    co_await between.cancel();
  };
  curio::run(main());
}

TEST(Network, ClientTasksAreNamedAfterThePeerAddress) {
  auto main = []() -> Task<> {
    LoopbackServer srv;
    std::uint16_t port = srv.port;
    std::string seen;
    auto handler = [&seen](Socket client, SocketAddress address) -> Task<> {
      seen = std::string(curio::current_task().name()) + " | " + address.to_string();
      co_await client.sendall("x");
    };
    auto server = curio::spawn(curio::run_server(std::move(srv.listener), handler));
    Socket c = co_await curio::timeout_after(1s, curio::open_connection("127.0.0.1", port));
    std::string me = c.getsockname().to_string();
    EXPECT_EQ(co_await curio::timeout_after(1s, c.recv()), "x");
    EXPECT_EQ(seen, "client " + me + " | " + me);
    co_await server.cancel();
  };
  curio::run(main());
}

TEST(Network, Ipv6ClientTasksAreNamedAfterThePeerAddress) {
  auto main = []() -> Task<> {
    Socket listener = curio::tcp_server_socket("::1", 0, {.family = AF_INET6});
    std::uint16_t port = listener.getsockname().port();
    std::string seen;
    auto handler = [&seen](Socket client, SocketAddress) -> Task<> {
      seen = std::string(curio::current_task().name());
      co_await client.sendall("x");
    };
    auto server = curio::spawn(curio::run_server(std::move(listener), handler));
    Socket c = co_await curio::timeout_after(1s, curio::open_connection("::1", port));
    std::string me = c.getsockname().to_string();
    EXPECT_EQ(co_await curio::timeout_after(1s, c.recv()), "x");
    EXPECT_EQ(seen, "client " + me);
    co_await server.cancel();
  };
  curio::run(main());
}

TEST(Network, AHandlerThatThrowsInsteadOfReturningATaskFailsOnlyThatConnection) {
  CaptureStderr();
  auto main = []() -> Task<> {
    LoopbackServer srv;
    std::uint16_t port = srv.port;
    int calls = 0;
    curio::ClientHandler handler = [&calls](Socket client, SocketAddress address) -> Task<> {
      if (++calls == 1) throw Boom();  // before any Task exists: the socket closes here
      return echo_lines(std::move(client), std::move(address));
    };
    auto server = curio::spawn(curio::run_server(std::move(srv.listener), handler));
    Socket c1 = co_await curio::timeout_after(1s, curio::open_connection("127.0.0.1", port));
    EXPECT_EQ(co_await curio::timeout_after(1s, c1.recv()), "");
    Socket c2 = co_await curio::timeout_after(1s, curio::open_connection("127.0.0.1", port));
    EXPECT_EQ(co_await curio::timeout_after(1s, round_trip(c2, "on\n")), "on\n");
    EXPECT_FALSE(server.terminated());
    co_await server.cancel();
  };
  curio::run(main());
  std::string err = GetCapturedStderr();
  EXPECT_NE(err.find("boom"), std::string::npos) << err;
}

// A handler with no use for the peer's address takes the socket alone (its frame then keeps no
// address); the task is still named after the peer.
TEST(Network, AHandlerMayTakeTheSocketAlone) {
  auto main = []() -> Task<> {
    LoopbackServer srv;
    std::uint16_t port = srv.port;
    std::string name;
    auto handler = [&name](Socket client) -> Task<> {
      name = std::string(curio::current_task().name());
      std::string data = co_await client.recv(100);
      co_await client.sendall(data);
    };
    auto server = curio::spawn(curio::run_server(std::move(srv.listener), handler));
    Socket c = co_await curio::open_connection("127.0.0.1", port);
    EXPECT_EQ(co_await curio::timeout_after(5s, round_trip(c, "alone\n")), "alone\n");
    EXPECT_EQ(name, "client 127.0.0.1:" + std::to_string(c.getsockname().port()));
    co_await server.cancel();
  };
  curio::run(main());
}
