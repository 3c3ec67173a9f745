// A peer going away is not a crash: throw_system_error picks the ConnectionError subclass from
// errno (each still a SystemError carrying its errno), and run_server ends a handler that a
// ConnectionError ended quietly: counted by server_connection_errors(), a Debug record only,
// and 500 resets against a server produce no stderr flood.
// Timing tolerance: the reset test waits (bounded by a 20 s timeout) until the server has
// counted every reset; it asserts counts, never durations.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cerrno>

#include "core/log_capture.hpp"
#include "io/io_test_support.hpp"

using namespace curio_test;
using curio::LogLevel;
using curio::Socket;
using curio::SocketAddress;
using curio::Task;
using testing::internal::CaptureStderr;
using testing::internal::GetCapturedStderr;

namespace {

template <class Expected>
void expect_mapped(int err) {
  try {
    curio::throw_system_error("recv", err);
  } catch (const Expected& e) {
    EXPECT_EQ(e.error_number(), err);
    EXPECT_NE(std::string(e.what()).find("recv"), std::string::npos);
    const curio::SystemError& as_system = e;  // existing catch sites keep working
    EXPECT_EQ(as_system.code().value(), err);
    return;
  } catch (...) {
  }
  ADD_FAILURE() << "errno " << err << " was not mapped to the expected type";
}

// Echoes until EOF; what the peer's reset raises is left to run_server.
Task<> echo(Socket client, SocketAddress) {
  for (;;) {
    std::string data = co_await client.recv(65536);
    if (data.empty()) co_return;
    co_await client.sendall(data);
  }
}

// Connects, gets one echo back, then resets the connection (SO_LINGER 0: close sends RST).
Task<> reset_client(std::uint16_t port) {
  Socket s = co_await curio::open_connection("127.0.0.1", port);
  co_await s.sendall("ping");
  std::string got;
  while (got.size() < 4) {
    std::string part = co_await s.recv(4 - got.size());
    if (part.empty()) throw std::runtime_error("server closed early");
    got += part;
  }
  linger l{1, 0};
  ::setsockopt(s.fileno(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  s.close();
}

// Resets n connections (50 at a time) against a run_server with the echo handler and waits
// until the server has counted n quiet ends.
void reset_many(int n) {
  curio::run([n]() -> Task<> {
    Socket listener = loopback_listener(512);
    std::uint16_t port = listener.getsockname().port();
    std::uint64_t before = curio::server_connection_errors();
    auto server = curio::spawn(curio::run_server(std::move(listener), echo));
    for (int done = 0; done < n;) {
      curio::TaskGroup g;
      int batch = std::min(50, n - done);
      co_await g.scope([&]() -> Task<> {
        for (int i = 0; i < batch; ++i) g.spawn(reset_client(port));
        co_return;
      });
      done += batch;
    }
    co_await curio::timeout_after(20s, [&]() -> Task<> {
      while (curio::server_connection_errors() - before < static_cast<std::uint64_t>(n)) co_await curio::sleep(5ms);
    }());
    EXPECT_EQ(curio::server_connection_errors() - before, static_cast<std::uint64_t>(n));
    co_await server.cancel();
  }());
}

}  // namespace

TEST(ReliabilityConnectionErrors, EconnresetIsConnectionResetError) {
  expect_mapped<curio::ConnectionResetError>(ECONNRESET);
}
TEST(ReliabilityConnectionErrors, EpipeAndEshutdownAreBrokenPipeError) {
  expect_mapped<curio::BrokenPipeError>(EPIPE);
  expect_mapped<curio::BrokenPipeError>(ESHUTDOWN);
}
TEST(ReliabilityConnectionErrors, EconnrefusedIsConnectionRefusedError) {
  expect_mapped<curio::ConnectionRefusedError>(ECONNREFUSED);
}
TEST(ReliabilityConnectionErrors, AbortsAndUnreachablesAreConnectionAbortedError) {
  for (int err : {ECONNABORTED, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH})
    expect_mapped<curio::ConnectionAbortedError>(err);
}
TEST(ReliabilityConnectionErrors, EveryConnectionErrorIsASystemErrorAndIsRecognised) {
  for (int err : {ECONNRESET, EPIPE, ESHUTDOWN, ECONNREFUSED, ECONNABORTED, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH}) {
    try {
      curio::throw_system_error("op", err);
    } catch (const curio::ConnectionError&) {
      EXPECT_TRUE(curio::is_connection_error(std::current_exception())) << err;
    }
  }
}
TEST(ReliabilityConnectionErrors, OtherErrnosStayPlainSystemError) {
  for (int err : {EBADF, EMFILE, ENOMEM, EAGAIN, EINVAL}) {
    try {
      curio::throw_system_error("op", err);
    } catch (const curio::SystemError& e) {
      EXPECT_FALSE(curio::is_connection_error(std::current_exception())) << err;
      EXPECT_EQ(e.error_number(), err);
    }
  }
}

TEST(ReliabilityConnectionErrors, RealResetRaisesConnectionResetErrorInRecv) {
  curio::run([]() -> Task<> {
    auto [client, server] = co_await tcp_pair();
    linger l{1, 0};
    ::setsockopt(client.fileno(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    co_await client.sendall("x");
    client.close();
    EXPECT_THROW(
        {
          for (;;) {
            std::string s = co_await server.recv(100);
            if (s.empty()) break;
          }
        },
        curio::ConnectionResetError);
  }());
}

TEST(ReliabilityConnectionErrors, ServerHandlerEndedByAResetIsQuietAndCounted) {
  LogCapture cap;
  reset_many(1);
  EXPECT_EQ(cap.count("task-crash"), 0u);
  EXPECT_EQ(cap.size(), 0u);
}

TEST(ReliabilityConnectionErrors, QuietEndIsVisibleAtDebugLevel) {
  LogCapture cap(LogLevel::Debug);
  reset_many(1);
  ASSERT_EQ(cap.count("server-connection-error"), 1u);
  EXPECT_NE(cap.records()[0].message.find("went away"), std::string::npos);
  EXPECT_EQ(cap.records()[0].level, LogLevel::Debug);
}

TEST(ReliabilityConnectionErrors, FiveHundredResetsProduceNoStderrFlood) {
  LogCapture cap;
  CaptureStderr();
  reset_many(500);
  EXPECT_EQ(GetCapturedStderr(), "");
  EXPECT_EQ(cap.size(), 0u);  // nothing at the default level
}

TEST(ReliabilityConnectionErrors, FiveHundredResetsAtDebugLevelAreRateLimited) {
  LogCapture cap(LogLevel::Debug);
  curio::set_log_rate_limit({.lines = 10, .interval = std::chrono::hours(1)});
  reset_many(500);
  EXPECT_LE(cap.count("server-connection-error"), 10u);
}

TEST(ReliabilityConnectionErrors, OtherHandlerErrorsAreStillReportedAsCrashes) {
  LogCapture cap;
  curio::run([&]() -> Task<> {
    Socket listener = loopback_listener();
    std::uint16_t port = listener.getsockname().port();
    auto server = curio::spawn(curio::run_server(std::move(listener), [](Socket, SocketAddress) -> Task<> {
      throw std::logic_error("handler bug");
      co_return;
    }));
    Socket s = co_await curio::open_connection("127.0.0.1", port);
    co_await curio::timeout_after(5s, [&]() -> Task<> {
      while (cap.count("task-crash") == 0) co_await curio::sleep(2ms);
    }());
    co_await server.cancel();
  }());
  ASSERT_EQ(cap.count("task-crash"), 1u);
  EXPECT_NE(cap.records()[0].message.find("handler bug"), std::string::npos);
}
