// Socket::recv as an awaitable (curio/io/socket_recv.hpp): the read the kernel performs at the
// edge, on whichever backend CURIO_BACKEND names (the completion path has its own tests in
// tests/uring). No timing: each test orders its steps with yields and state checks.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "curio/curio.hpp"
#include "io/io_test_support.hpp"
#include "support/uring.hpp"

using namespace std::chrono_literals;
using curio::Socket;
using curio::Task;
using curio::TaskStatus;

namespace {

// Yields until task h no longer waits to read (its read landed at the edge) or n yields passed.
Task<bool> until_not_reading(const curio::TaskHandle<std::string>& h, int n = 1000) {
  for (int i = 0; i < n; ++i) {
    co_await curio::sleep(0);
    if (curio::where(h).state != TaskStatus::ReadWait) co_return true;
  }
  co_return false;
}

}  // namespace

// The first two tests are about the readiness path's read at the edge. With completion sockets
// on (opt-in) recv reads from the socket's multishot recv instead, which tests/uring covers.

// An edge whose read would block: two descriptors of one socket (dup), a reader on each. One
// arrival is an edge on both; the kernel's read for the first takes the bytes, so its read for
// the second gets EAGAIN, and that reader keeps waiting: it is not woken, and no empty string
// comes back. Its next arrival reaches it.
TEST(SocketRecv, AnEdgeWhoseReadWouldBlockKeepsTheReaderWaitingWithoutWakingIt) {
  if (curio_test::completion_sockets())
    GTEST_SKIP() << "recv runs on io_uring completions (CURIO_URING_SOCKETS=0 tests this path)";
  curio::run([]() -> Task<> {
    auto [a, b] = Socket::pair();
    Socket twin = Socket::from_fd(::dup(a.fileno()));
    Socket& first = a;
    auto h1 = curio::spawn([&]() -> Task<std::string> { co_return co_await first.recv(100); });
    auto h2 = curio::spawn([&]() -> Task<std::string> { co_return co_await twin.recv(100); });
    for (int i = 0; i < 3; ++i) co_await curio::sleep(0);
    EXPECT_EQ(curio::where(h1).state, TaskStatus::ReadWait);
    EXPECT_EQ(curio::where(h2).state, TaskStatus::ReadWait);
    std::uint64_t cycles1 = h1.cycles(), cycles2 = h2.cycles();
    co_await b.sendall("once");
    co_await curio::sleep(5ms);  // the kernel idles: it polls, and both edges are dispatched
    bool first_read = h1.terminated();
    bool second_read = h2.terminated();
    EXPECT_NE(first_read, second_read) << "exactly one reader gets the bytes";
    const auto& waiting = first_read ? h2 : h1;
    EXPECT_EQ(waiting.cycles(), first_read ? cycles2 : cycles1) << "an edge whose read would block woke the reader";
    EXPECT_EQ(co_await (first_read ? h1 : h2).join(), "once");
    co_await b.sendall("twice");
    EXPECT_EQ(co_await waiting.join(), "twice");
  }());
}

// The kernel reads at the edge and only then wakes the reader: a cancellation that arrives in
// between is delivered at the reader's next blocking point, and the bytes are not lost.
TEST(SocketRecv, BytesReadAtTheEdgeSurviveACancelThatArrivesBeforeTheReaderRuns) {
  if (curio_test::completion_sockets())
    GTEST_SKIP() << "recv runs on io_uring completions (CURIO_URING_SOCKETS=0 tests this path)";
  curio::run([]() -> Task<> {
    auto [a, b] = Socket::pair();
    Socket& reader = a;
    std::string got;
    auto h = curio::spawn([&]() -> Task<std::string> {
      got = co_await reader.recv(100);
      co_await curio::sleep(0);  // the cancellation lands here
      co_return "not reached";
    });
    for (int i = 0; i < 3; ++i) co_await curio::sleep(0);
    co_await b.sendall("x");
    EXPECT_TRUE(co_await until_not_reading(h));
    EXPECT_EQ(got, "") << "the reader has not run yet";
    co_await h.cancel();
    EXPECT_EQ(got, "x");
    EXPECT_TRUE(h.cancelled());
  }());
}

TEST(SocketRecv, AResetWhileWaitingRaisesConnectionResetError) {
  curio::run([]() -> Task<> {
    auto [a, b] = co_await curio_test::tcp_pair();
    Socket& reader = a;
    auto h = curio::spawn([&]() -> Task<std::string> {
      try {
        co_await reader.recv(100);
      } catch (const curio::ConnectionResetError& e) {
        co_return "reset: " + std::string(e.what());
      }
      co_return "no error";
    });
    for (int i = 0; i < 3; ++i) co_await curio::sleep(0);
    EXPECT_EQ(curio::where(h).state, TaskStatus::ReadWait);
    linger hard{1, 0};  // close with a reset
    EXPECT_EQ(::setsockopt(b.fileno(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard), 0);
    b.close();
    std::string outcome = co_await h.join();
    EXPECT_EQ(outcome.rfind("reset: recv", 0), 0u) << outcome;
  }());
}

TEST(SocketRecv, CanBeSpawnedAndPassedWhereATaskIsExpected) {
  curio::run([]() -> Task<> {
    auto [a, b] = Socket::pair();
    auto h = curio::spawn(a.recv(100));
    co_await b.sendall("one");
    EXPECT_EQ(co_await h.join(), "one");
    Task<std::string> t = a.recv(100);  // a frame of its own, as before recv was an awaitable
    co_await b.sendall("two");
    EXPECT_EQ(co_await std::move(t), "two");
    co_await b.sendall("three");
    EXPECT_EQ(co_await curio::timeout_after(5s, a.recv(100)), "three");
  }());
}

TEST(SocketRecv, ARecvOfATaskThatIsNotAwaitedReadsNothing) {
  curio::run([]() -> Task<> {
    auto [a, b] = Socket::pair();
    co_await b.sendall("kept");
    { auto unused = a.recv(100); }  // made and dropped: no read happens
    EXPECT_EQ(co_await a.recv(100), "kept");
  }());
}
