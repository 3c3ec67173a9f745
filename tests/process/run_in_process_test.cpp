// run_in_process. Timing tolerance: a cancelled 10 s worker must be gone within 1 s; fib(30)
// 40 times takes ~80 ms (release) or more, during which a 1 ms ticker must tick at least 3 times.
#include "curio/process/run_in_process.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <thread>

#include "core/test_support.hpp"

using namespace curio_test;
using curio::Task;

namespace {
long fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
// fib(30) alone takes ~2 ms in a release build: repeat it so the kernel has time to show it runs.
long fib30_many() {
  long v = 0;
  for (int i = 0; i < 40; ++i) v = fib(30) + (v & 0);
  return v;
}
}  // namespace

TEST(RunInProcess, ComputesFib30WhileTheKernelKeepsRunning) {
  auto main = []() -> Task<std::pair<long, int>> {
    int ticks = 0;
    auto ticker = curio::spawn([&]() -> Task<> {
      for (;;) {
        co_await curio::sleep(1ms);
        ++ticks;
      }
    });
    long v = co_await curio::run_in_process(fib30_many);
    co_await ticker.cancel();
    co_return std::pair<long, int>{v, ticks};
  };
  auto [value, ticks] = curio::run(main());
  EXPECT_EQ(value, 832040);
  EXPECT_GE(ticks, 3);
}

TEST(RunInProcess, StringsAndVectorsComeBack) {
  auto main = []() -> Task<> {
    std::string s =
        co_await curio::run_in_process([](int n) { return std::string(static_cast<std::size_t>(n), 'z'); }, 100000);
    EXPECT_EQ(s, std::string(100000, 'z'));
    auto v = co_await curio::run_in_process([] { return std::vector<double>{1.5, 2.5}; });
    EXPECT_EQ(v, (std::vector<double>{1.5, 2.5}));
    co_await curio::run_in_process([] {});
  };
  curio::run(main());
}

TEST(RunInProcess, AnExceptionInTheWorkerIsAProcessErrorNamingIt) {
  auto main = []() -> Task<std::string> {
    try {
      co_await curio::run_in_process([]() -> int { throw std::invalid_argument("bad input 42"); });
    } catch (const curio::ProcessError& e) {
      co_return e.what();
    }
    co_return "no error";
  };
  std::string what = curio::run(main());
  EXPECT_NE(what.find("invalid_argument"), std::string::npos) << what;
  EXPECT_NE(what.find("bad input 42"), std::string::npos) << what;
}

TEST(RunInProcess, AWorkerThatCrashesIsAClearError) {
  auto main = []() -> Task<std::string> {
    try {
      co_await curio::run_in_process([]() -> int {
        ::raise(SIGKILL);
        return 0;
      });
    } catch (const curio::ProcessError& e) {
      co_return e.what();
    }
    co_return "no error";
  };
  std::string what = curio::run(main());
  EXPECT_NE(what.find("killed by signal 9"), std::string::npos) << what;
}

TEST(RunInProcess, CancellationKillsTheWorker) {
  auto main = []() -> Task<double> {
    auto job = curio::spawn(curio::run_in_process([] { std::this_thread::sleep_for(std::chrono::seconds(10)); }));
    co_await curio::sleep(50ms);
    auto t0 = curio::clock();
    co_await job.cancel();
    co_return seconds_since(t0);
  };
  EXPECT_LT(curio::run(main()), 1.0);
  int status;
  EXPECT_EQ(::waitpid(-1, &status, WNOHANG), -1);  // no child left, not even a zombie
  EXPECT_EQ(errno, ECHILD);
}
