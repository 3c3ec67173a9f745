// Kernel and run(): values, exceptions, reuse, shutdown, nesting, fairness.
#include <gtest/gtest.h>

#include <thread>

#include "test_support.hpp"

using namespace curio_test;
using curio::Task;

TEST(Kernel, RunReturnsMainsValue) { EXPECT_EQ(curio::run(after(1ms, 5)), 5); }

TEST(Kernel, RunRethrowsMainsExceptionUnwrapped) { EXPECT_THROW(curio::run(fail_after(1ms)), Boom); }

TEST(Kernel, RunRethrowsMainsCancellationUnwrapped) {
  auto main = []() -> Task<> {
    co_await curio::current_task().cancel(false);
    co_await curio::sleep(1s);
  };
  EXPECT_THROW(curio::run(main()), curio::TaskCancelled);
}

TEST(Kernel, CanBeReusedForSeveralRuns) {
  curio::Kernel k;
  EXPECT_EQ(k.run(after(1ms, 1)), 1);
  EXPECT_EQ(k.run(after(1ms, 2)), 2);
}

TEST(Kernel, TasksLeftRunningResumeOnTheNextRun) {
  curio::Kernel k;
  int ticks = 0;
  auto ticker = [&]() -> Task<> {
    for (;;) {
      ++ticks;
      co_await curio::sleep(1ms);
    }
  };
  auto first = [&]() -> Task<> {
    curio::spawn(ticker(), true);
    co_await curio::sleep(5ms);
  };
  k.run(first());
  int after_first = ticks;
  EXPECT_GT(after_first, 0);
  k.run(sleep_for(10ms));
  EXPECT_GT(ticks, after_first);
  EXPECT_EQ(k.task_count(), 1u);
  k.shutdown();
  EXPECT_EQ(k.task_count(), 0u);
}

TEST(Kernel, ShutdownCancelsRemainingTasksIncludingDaemons) {
  curio::Kernel k;
  bool daemon_cancelled = false, worker_cancelled = false;
  auto waiter = [](bool& flag) -> Task<> {
    try {
      co_await curio::sleep(100s);
    } catch (const curio::TaskCancelled&) {
      flag = true;
      throw;
    }
  };
  auto main = [&]() -> Task<> {
    curio::spawn(waiter(daemon_cancelled), true);
    auto h = curio::spawn(waiter(worker_cancelled));
    co_await curio::sleep(1ms);
  };
  k.run(main());
  k.shutdown();
  EXPECT_TRUE(daemon_cancelled);
  EXPECT_TRUE(worker_cancelled);
}

TEST(Kernel, RunAfterShutdownIsAnError) {
  curio::Kernel k;
  k.shutdown();
  EXPECT_THROW(k.run(after(1ms, 1)), curio::RuntimeError);
}

TEST(Kernel, NestedRunInsideATaskIsAnError) {
  auto main = []() -> Task<bool> {
    try {
      curio::run(after(1ms, 1));
    } catch (const curio::RuntimeError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Kernel, EachThreadCanRunItsOwnKernel) {
  int a = 0, b = 0;
  std::thread t1([&] { a = curio::run(after(5ms, 1)); });
  std::thread t2([&] { b = curio::run(after(5ms, 2)); });
  t1.join();
  t2.join();
  EXPECT_EQ(a + b, 3);
}

TEST(Kernel, YieldingLoopDoesNotStarveTimers) {
  // A task spinning on sleep(0) must not delay a 20 ms sleeper by more than the
  // tolerance (generous: 500 ms on a noisy 2-core machine).
  auto main = []() -> Task<double> {
    bool done = false;
    auto spinner = curio::spawn([&]() -> Task<> {
      while (!done) co_await curio::sleep(0s);
    });
    auto t0 = curio::clock();
    co_await curio::sleep(20ms);
    double took = seconds_since(t0);
    done = true;
    co_await spinner.join();
    co_return took;
  };
  double took = curio::run(main());
  EXPECT_GE(took, 0.019);
  EXPECT_LT(took, 0.5);
}

TEST(Kernel, ReadyTasksRunInFifoOrderEachCycle) {
  std::vector<int> order;
  auto worker = [&](int id) -> Task<> {
    for (int i = 0; i < 3; ++i) {
      order.push_back(id);
      co_await curio::sleep(0s);
    }
  };
  auto main = [&]() -> Task<> {
    auto a = curio::spawn(worker(1));
    auto b = curio::spawn(worker(2));
    co_await a.join();
    co_await b.join();
  };
  curio::run(main());
  EXPECT_EQ(order, (std::vector<int>{1, 2, 1, 2, 1, 2}));
}

TEST(Kernel, OperationsOutsideAKernelAreAClearError) {
  EXPECT_THROW(curio::current_task(), curio::AsyncOnlyError);
  EXPECT_THROW(curio::spawn(after(1ms, 1)), curio::AsyncOnlyError);
}
