// Fault injection in the library's own system calls (fault_shim.hpp): an epoll_ctl, accept4 or
// worker-thread creation that fails with ENOMEM/EAGAIN surfaces as a clear SystemError in the
// task that asked, the kernel keeps running its other tasks, and the operation works again once
// the fault is gone. A server backs off from a failing accept instead of ending.
// Timing tolerance: the ticker sleeps 1 ms per tick and must only advance (no rate asserted);
// waits are bounded by 5 s timeouts. (eventfd writes are not injected: the inbox's only
// possible failure, EAGAIN, means the counter is saturated, i.e. already readable, so no wakeup
// can be lost; see docs/reliability.md.)
#include <gtest/gtest.h>

#include <atomic>
#include <latch>

#include "core/log_capture.hpp"
#include "faults/fault_shim.hpp"
#include "io/io_test_support.hpp"

using namespace curio_test;
using curio::Socket;
using curio::SocketAddress;
using curio::Task;

namespace {

// Counts ticks while alive: proof that the kernel kept running other tasks.
struct Ticker {
  int ticks = 0;
  Task<> run() {
    for (;;) {
      co_await curio::sleep(1ms);
      ++ticks;
    }
  }
};

template <class F>
Task<int> errno_of(F f) {
  try {
    co_await f();
  } catch (const curio::SystemError& e) {
    co_return e.error_number();
  }
  co_return 0;
}

int fail_with_eagain() { return EAGAIN; }

// epoll_ctl and accept4 are the epoll path's calls (the io_uring backend registers and accepts through its
// ring), so the tests that fail them run on an epoll kernel whatever CURIO_BACKEND says.
const curio::KernelOptions kEpoll{.backend = curio::IoBackend::Epoll};

}  // namespace

TEST(ReliabilityFaults, EpollCtlFailureRaisesInTheWaitingTaskAndTheKernelGoesOn) {
  curio::run(
      []() -> Task<> {
        auto pair = co_await tcp_pair();
        Socket& client = pair.first;
        Socket& server = pair.second;
        Ticker ticker;
        auto tick = curio::spawn(ticker.run());
        co_await curio::sleep(5ms);
        int before = ticker.ticks;
        fault::epoll_ctl_add.arm(1, ENOMEM);
        int err = co_await errno_of([&]() -> Task<> { co_await server.recv(10); });
        EXPECT_EQ(err, ENOMEM);
        EXPECT_EQ(fault::epoll_ctl_add.failed.load(), 1);
        co_await curio::sleep(5ms);
        EXPECT_GT(ticker.ticks, before);
        // The fault is gone: the same socket registers on its next wait and works.
        auto reader = curio::spawn(server.recv(10));
        co_await curio::sleep(2ms);
        co_await client.sendall("hello");
        EXPECT_EQ(co_await curio::timeout_after(5s, reader.join()), "hello");
        co_await tick.cancel();
      }(),
      kEpoll);
}

TEST(ReliabilityFaults, EpollCtlFailureMessageNamesTheCall) {
  curio::run(
      []() -> Task<> {
        auto [client, server] = co_await tcp_pair();
        fault::epoll_ctl_add.arm(1, ENOMEM);
        try {
          co_await server.recv(10);
          ADD_FAILURE() << "recv should have raised";
        } catch (const curio::SystemError& e) {
          EXPECT_NE(std::string(e.what()).find("epoll_ctl"), std::string::npos) << e.what();
        }
      }(),
      kEpoll);
}

TEST(ReliabilityFaults, AcceptFailureRaisesInTheAcceptingTaskOnly) {
  curio::run(
      []() -> Task<> {
        Socket listener = loopback_listener();
        Ticker ticker;
        auto tick = curio::spawn(ticker.run());
        fault::accept4.arm(1, ENOMEM);
        int err = co_await errno_of([&]() -> Task<> { co_await listener.accept(); });
        EXPECT_EQ(err, ENOMEM);
        // Next accept works.
        Socket client(AF_INET, SOCK_STREAM);
        auto connecting = curio::spawn(client.connect(listener.getsockname()));
        auto accepted = co_await curio::timeout_after(5s, listener.accept());
        co_await connecting.join();
        EXPECT_GE(accepted.first.fileno(), 0);
        co_await curio::sleep(5ms);  // the ticker's 1 ms sleeps have had time to fire
        EXPECT_GT(ticker.ticks, 0);
        co_await tick.cancel();
      }(),
      kEpoll);
}

TEST(ReliabilityFaults, SpuriousEagainFromAccept4IsAWaitNotAnError) {
  curio::run(
      []() -> Task<> {
        Socket listener = loopback_listener();
        fault::accept4.arm(1, EAGAIN);
        auto acceptor = curio::spawn(listener.accept());
        co_await curio::sleep(2ms);
        Socket client(AF_INET, SOCK_STREAM);
        co_await client.connect(listener.getsockname());
        auto accepted = co_await curio::timeout_after(5s, acceptor.join());
        EXPECT_GE(accepted.first.fileno(), 0);
        EXPECT_EQ(fault::accept4.failed.load(), 1);
      }(),
      kEpoll);
}

TEST(ReliabilityFaults, ServerBacksOffFromAFailingAcceptAndServesAfterwards) {
  LogCapture cap;
  curio::run(
      [&]() -> Task<> {
        Socket listener = loopback_listener();
        std::uint16_t port = listener.getsockname().port();
        auto server = curio::spawn(curio::run_server(
            std::move(listener), [](Socket c, SocketAddress) -> Task<> { co_await c.sendall("hi\n"); }));
        fault::accept4.arm(3, ENOMEM);
        Socket s = co_await curio::open_connection("127.0.0.1", port);
        std::string got = co_await curio::timeout_after(5s, s.recv(10));
        EXPECT_EQ(got, "hi\n");
        EXPECT_EQ(fault::accept4.failed.load(), 3);
        EXPECT_FALSE(server.terminated()) << "a failing accept must not end the server";
        co_await server.cancel();
      }(),
      kEpoll);
  EXPECT_EQ(cap.count("server-fd-exhausted"), 1u);
  EXPECT_EQ(cap.count("server-accepting"), 1u);
  EXPECT_EQ(cap.count("task-crash"), 0u);
}

TEST(ReliabilityFaults, ThreadStartFailureWithNoWorkerRaisesInTheTask) {
  curio::detail::fail_thread_start = fail_with_eagain;
  curio::run([]() -> Task<> {
    Ticker ticker;
    auto tick = curio::spawn(ticker.run());
    bool ran = false;
    try {
      co_await curio::run_in_thread([&] { ran = true; });
      ADD_FAILURE() << "run_in_thread should have raised";
    } catch (const curio::SystemError& e) {
      EXPECT_EQ(e.error_number(), EAGAIN);
      EXPECT_NE(std::string(e.what()).find("run_in_thread"), std::string::npos) << e.what();
    }
    curio::detail::fail_thread_start = nullptr;
    co_await curio::sleep(5ms);
    EXPECT_FALSE(ran) << "the failed job must not run later behind the task's back";
    EXPECT_GT(ticker.ticks, 0);
    EXPECT_EQ(co_await curio::run_in_thread([] { return 42; }), 42);  // works again
    co_await tick.cancel();
  }());
}

TEST(ReliabilityFaults, ThreadStartFailureWithABusyWorkerQueuesTheJob) {
  // The pool keeps idle workers for the life of the process: this needs it empty at the start,
  // as it is when ctest runs the test in its own process.
  if (curio::worker_thread_count() != 0) GTEST_SKIP() << "needs a fresh worker pool (run it alone)";
  LogCapture cap;
  curio::run([]() -> Task<> {
    std::latch release(1);
    auto first = curio::spawn(curio::run_in_thread([&] {
      release.wait();
      return 1;
    }));
    co_await curio::sleep(5ms);  // the only worker is busy now
    curio::detail::fail_thread_start = fail_with_eagain;
    auto second = curio::spawn(curio::run_in_thread([] { return 2; }));
    co_await curio::sleep(5ms);
    curio::detail::fail_thread_start = nullptr;
    release.count_down();
    EXPECT_EQ(co_await curio::timeout_after(5s, first.join()), 1);
    EXPECT_EQ(co_await curio::timeout_after(5s, second.join()), 2);  // queued, not lost
  }());
  EXPECT_EQ(cap.count("thread-start-failed"), 1u);
}
