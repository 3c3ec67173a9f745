// Readiness survives a full io_uring completion ring (issue 14, the io_uring soak finding in
// docs/reliability.md). Completions that do not fit in the ring are kept by the OS kernel, and a
// multishot poll whose completion overflowed ends; a poll armed again on a socket that is ready
// completes at once. With writability in every standing poll, each idle socket (all are
// writable) refilled the ring whenever its poll was re-armed, so an overflow fed itself and
// readers whose data had arrived waited behind thousands of "writable" reports until their
// deadlines fired.
// The ring is made small (CURIO_URING_CQ_ENTRIES, a test knob: docs/io.md) so that a thousand
// socket pairs overflow it many times over.
// Timing: as in backend_harvest_test.cpp, the readers' deadline is 300 ms, their data is there
// long before it, and the kernel thread is then blocked for 600 ms; the idle check sleeps 200 ms.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "core/test_support.hpp"
#include "support/client_process.hpp"
#include "support/uring.hpp"

using namespace curio_test;
using curio::IoBackend;
using curio::Kernel;
using curio::KernelOptions;
using curio::Socket;
using curio::Task;

namespace {

constexpr int kPairs = 1000;               // 2,000 registered sockets
constexpr const char* kSmallRing = "256";  // completion entries: 8 times fewer than the sockets

// Sets CURIO_URING_CQ_ENTRIES for one test (read when the ring is set up).
class SmallRing {
 public:
  SmallRing() { ::setenv("CURIO_URING_CQ_ENTRIES", kSmallRing, 1); }
  ~SmallRing() { ::unsetenv("CURIO_URING_CQ_ENTRIES"); }
};

std::size_t ring_overflows() { return Kernel::current()->stats().ring_overflows; }

template <class T>
T run_small_ring(Task<T> main) {
  SmallRing knob;
  auto previous = curio::set_log_handler([](const curio::LogRecord&) {});  // timeout badness
  Kernel k(KernelOptions{.backend = IoBackend::IoUring});
  T out = k.run(std::move(main));
  curio::set_log_handler(previous);
  return out;
}

Task<> wait_forever(Socket& s) { co_await s.recv(1); }

struct Served {
  int got = 0;
  int timed_out = 0;
  std::size_t overflows = 0;
};

}  // namespace

TEST(Backend, IoUringReadinessSurvivesCompletionRingOverflow) {
  REQUIRE_URING();
  if (raise_open_file_limit() < 2 * kPairs + 100) GTEST_SKIP() << "too few descriptors allowed";
  auto main = []() -> Task<Served> {
    std::vector<std::pair<Socket, Socket>> pairs;
    for (int i = 0; i < kPairs; ++i) pairs.push_back(Socket::pair());
    Served out;
    curio::TaskGroup idle;  // the senders' ends: registered, writable, never read
    for (auto& p : pairs) idle.spawn(wait_forever(p.second));
    auto reader = [&out](Socket& s) -> Task<> {
      try {
        std::string data = co_await curio::timeout_after(std::chrono::milliseconds(300), s.recv(64));
        if (data == "x") ++out.got;
      } catch (const curio::TaskTimeout&) {
        ++out.timed_out;
      }
    };
    curio::TaskGroup readers;
    for (auto& p : pairs) readers.spawn(reader(p.first));
    for (int i = 0; i < 3; ++i) co_await curio::sleep(0);  // every reader now waits on its socket
    for (auto& p : pairs) EXPECT_EQ(::send(p.second.fileno(), "x", 1, 0), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(600));  // a long cycle: the deadlines pass
    co_await readers.join();
    out.overflows = ring_overflows();
    co_await idle.cancel_remaining();
    co_await idle.join();
    co_return out;
  };
  Served out = run_small_ring(main());
  EXPECT_GT(out.overflows, 0u) << "the ring never overflowed: the test does not test";
  EXPECT_EQ(out.got, kPairs);
  EXPECT_EQ(out.timed_out, 0);
}

TEST(Backend, IoUringIdleWritableSocketsDoNotKeepTheCompletionRingOverflowing) {
  REQUIRE_URING();
  if (raise_open_file_limit() < 2 * kPairs + 100) GTEST_SKIP() << "too few descriptors allowed";
  auto main = []() -> Task<std::size_t> {
    std::vector<std::pair<Socket, Socket>> pairs;
    for (int i = 0; i < kPairs; ++i) pairs.push_back(Socket::pair());
    curio::TaskGroup idle;  // both ends registered and idle: writable, nothing to read
    for (auto& p : pairs) {
      idle.spawn(wait_forever(p.first));
      idle.spawn(wait_forever(p.second));
    }
    for (int i = 0; i < 3; ++i) co_await curio::sleep(0);
    std::size_t before = ring_overflows();
    co_await curio::sleep(std::chrono::milliseconds(200));  // nothing happens: the poll sleeps
    std::size_t during = ring_overflows() - before;
    co_await idle.cancel_remaining();
    co_await idle.join();
    co_return during;
  };
  EXPECT_EQ(run_small_ring(main()), 0u) << "polls that found the ring overflowed while every socket was idle";
}

// A writer that found the socket full waits for room; room that appears before its wait reaches
// the OS kernel (the peer drains it in the same cycle) must still wake it.
TEST(Backend, IoUringWriterWokenByRoomMadeBeforeItsWaitReachesTheRing) {
  REQUIRE_URING();
  struct Result {
    std::size_t drained = 0;
    int rounds = 0;  // the drainer's: more than one means the writer had to wait
  };
  auto main = []() -> Task<Result> {
    auto pair = Socket::pair();  // not a structured binding: Clang 14 cannot capture those
    Socket& a = pair.first;
    Socket& b = pair.second;
    int small = 4096;
    ::setsockopt(a.fileno(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    const std::string payload(256 * 1024, 'w');
    Result out;
    bool done = false;
    // Runs right after the writer blocked, in the same cycle: empties the peer without waiting.
    auto drainer = [&]() -> Task<> {
      char buf[65536];
      while (!done) {
        ++out.rounds;
        for (;;) {
          ssize_t n = ::recv(b.fileno(), buf, sizeof buf, MSG_DONTWAIT);
          if (n <= 0) break;
          out.drained += static_cast<std::size_t>(n);
        }
        co_await curio::sleep(0);
      }
    };
    auto writer = [&]() -> Task<> {
      try {
        co_await curio::timeout_after(std::chrono::seconds(10), a.sendall(payload));
      } catch (...) {
        done = true;
        throw;
      }
      done = true;
    };
    curio::TaskGroup g;
    g.spawn(writer());  // runs first: fills the socket and waits
    g.spawn(drainer());
    co_await g.join();
    char buf[65536];
    for (ssize_t n; (n = ::recv(b.fileno(), buf, sizeof buf, MSG_DONTWAIT)) > 0;)
      out.drained += static_cast<std::size_t>(n);
    co_return out;
  };
  Result out = run_uring(main());
  EXPECT_EQ(out.drained, 256u * 1024);
  EXPECT_GT(out.rounds, 1);
}

// A socket closed in the cycle that armed its poll (a first wait, or a poll re-armed after an
// overflow ended it), with data already readable, must still reach the peer at once: a removal
// submitted together with the arm finds the poll busy reporting that data (POLL_REMOVE fails
// with EALREADY), and a multishot poll that survives its removal holds the file: no FIN.
TEST(Backend, IoUringClosingASocketInTheCycleThatArmedItsPollReachesThePeer) {
  REQUIRE_URING();
  auto main = []() -> Task<int> {
    int reached = 0;
    for (int i = 0; i < 100; ++i) {
      auto pair = Socket::pair();
      Socket& a = pair.first;
      Socket& b = pair.second;
      // Registers a: its poll is queued, not submitted. Woken by the close with EBADF, caught
      // here so that 100 crash reports do not use up the process-wide log rate limit that
      // later tests in this binary (Log.*) rely on.
      auto waiter = curio::spawn([&a]() -> Task<> {
        try {
          co_await a.recv(1);
        } catch (const curio::SystemError&) {
        }
      });
      co_await curio::sleep(0);
      EXPECT_EQ(::send(b.fileno(), "x", 1, 0), 1);  // a is readable when its poll is armed
      a.close();                                    // arm and removal go in one submission
      co_await waiter.join();
      char c;
      // End of stream, or ECONNRESET (a unix socket closed with unread data): not EAGAIN.
      if (::recv(b.fileno(), &c, 1, MSG_DONTWAIT) == 0 || errno != EAGAIN) ++reached;
    }
    co_return reached;
  };
  EXPECT_EQ(run_uring(main()), 100);
}
