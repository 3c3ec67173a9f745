// Every ready descriptor is seen before deadlines expire (issue 14, the soak at 10,000
// connections): the kernel polls, then expires timers, so a readiness report that the poll left
// behind let the deadline of a task whose data had already arrived fire first. The epoll backend
// took at most 256 events per poll; at 10,000 connections most of the soak server's "idle"
// timeouts were clients that had sent their first line in time.
// (On io_uring, completions that overflowed the completion ring are taken in the same poll too:
// tests/core/backend_overflow_test.cpp.)
// Timing: the readers' deadline is 300 ms; the data is there long before it, and the kernel
// thread is then blocked for 600 ms, so when it polls again every deadline has passed and every
// descriptor is readable. Nothing else is timed.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "core/test_support.hpp"
#include "support/client_process.hpp"

using namespace curio_test;
using curio::IoBackend;
using curio::Kernel;
using curio::KernelOptions;
using curio::Socket;
using curio::Task;

namespace {

constexpr int kReaders = 600;  // well past the 256 events one epoll_wait used to take

struct Served {
  int got = 0;
  int timed_out = 0;
};

// sends: writes of one byte to each reader's peer (each one a readiness report).
Task<Served> readers_with_ready_data_past_their_deadline(int sends) {
  std::vector<std::pair<Socket, Socket>> pairs;
  for (int i = 0; i < kReaders; ++i) pairs.push_back(Socket::pair());
  Served out;
  auto reader = [&out](Socket& s) -> Task<> {
    try {
      std::string data = co_await curio::timeout_after(std::chrono::milliseconds(300), s.recv(64));
      if (!data.empty() && data.find_first_not_of('x') == std::string::npos) ++out.got;
    } catch (const curio::TaskTimeout&) {
      ++out.timed_out;
    }
  };
  curio::TaskGroup g;
  for (auto& p : pairs) g.spawn(reader(p.first));
  co_await curio::sleep(0);
  co_await curio::sleep(0);  // every reader now waits on its socket
  for (auto& p : pairs)
    for (int i = 0; i < sends; ++i) EXPECT_EQ(::send(p.second.fileno(), "x", 1, 0), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // a long cycle: the deadlines pass
  co_await g.join();
  co_return out;
}

Served run_on(IoBackend backend, int sends = 1) {
  // Each reader's recv completes after its deadline: curio's timeout-badness warning, 600 times.
  // Without the rate limit meanwhile: its per-kind window is process-wide, and these warnings
  // would suppress the next test's own timeout-badness record (Log.* after Backend.* in one
  // test_core run).
  auto previous = curio::set_log_handler([](const curio::LogRecord&) {});
  curio::LogRateLimit limit = curio::log_rate_limit();
  curio::set_log_rate_limit({.lines = 0});
  Kernel k(KernelOptions{.backend = backend});
  Served out = k.run(readers_with_ready_data_past_their_deadline(sends));
  curio::set_log_rate_limit(limit);
  curio::set_log_handler(previous);
  return out;
}

}  // namespace

TEST(Backend, EpollSeesEveryReadyDescriptorBeforeDeadlinesExpire) {
  if (raise_open_file_limit() < 2 * kReaders + 100) GTEST_SKIP() << "too few descriptors allowed";
  Served out = run_on(IoBackend::Epoll);
  EXPECT_EQ(out.got, kReaders);
  EXPECT_EQ(out.timed_out, 0);
}

TEST(Backend, IoUringSeesEveryReadyDescriptorBeforeDeadlinesExpire) {
  if (raise_open_file_limit() < 2 * kReaders + 100) GTEST_SKIP() << "too few descriptors allowed";
  try {
    Kernel probe(KernelOptions{.backend = IoBackend::IoUring});
  } catch (const curio::SystemError&) {
    GTEST_SKIP() << "io_uring cannot be set up here";
  }
  Served out = run_on(IoBackend::IoUring);
  EXPECT_EQ(out.got, kReaders);
  EXPECT_EQ(out.timed_out, 0);
}
