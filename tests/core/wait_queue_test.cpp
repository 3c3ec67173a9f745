// WaitQueue: the wait-list trap that join, TaskGroup and the sync primitives are built on.
#include <gtest/gtest.h>

#include "test_support.hpp"

using namespace curio_test;
using curio::Task;

TEST(WaitQueue, WakeOneWakesWaitersInFifoOrder) {
  auto main = []() -> Task<std::vector<int>> {
    curio::WaitQueue q;
    std::vector<int> order;
    curio::TaskGroup g;
    co_await g.scope([&]() -> Task<> {
      for (int i = 0; i < 3; ++i) {
        g.spawn([&, i]() -> Task<> {
          co_await q.wait();
          order.push_back(i);
        });
      }
      co_await curio::sleep(1ms);
      EXPECT_EQ(q.size(), 3u);
      while (q.wake_one()) co_await curio::sleep(0s);
    });
    co_return order;
  };
  EXPECT_EQ(curio::run(main()), (std::vector<int>{0, 1, 2}));
}

TEST(WaitQueue, WakeAllWakesEveryWaiter) {
  auto main = []() -> Task<int> {
    curio::WaitQueue q;
    int woke = 0;
    curio::TaskGroup g;
    co_await g.scope([&]() -> Task<> {
      for (int i = 0; i < 5; ++i)
        g.spawn([&]() -> Task<> {
          co_await q.wait();
          ++woke;
        });
      co_await curio::sleep(1ms);
      EXPECT_EQ(q.wake_all(), 5u);
    });
    co_return woke;
  };
  EXPECT_EQ(curio::run(main()), 5);
}

TEST(WaitQueue, WakeNWakesAtMostN) {
  auto main = []() -> Task<> {
    curio::WaitQueue q;
    curio::TaskGroup g;
    for (int i = 0; i < 4; ++i) g.spawn([&]() -> Task<> { co_await q.wait(); });
    co_await curio::sleep(1ms);
    EXPECT_EQ(q.wake(3), 3u);
    EXPECT_EQ(q.size(), 1u);
    EXPECT_EQ(q.wake(3), 1u);
    co_await g.join();
  };
  curio::run(main());
}

TEST(WaitQueue, WaitShowsTheGivenState) {
  auto main = []() -> Task<> {
    curio::WaitQueue q;
    auto h = curio::spawn([&]() -> Task<> { co_await q.wait(curio::TaskStatus::LockAcquire); });
    co_await curio::sleep(1ms);
    EXPECT_EQ(h.state(), curio::TaskStatus::LockAcquire);
    EXPECT_EQ(q.front_task_id(), h.id());
    q.wake_one();
    co_await h.join();
  };
  curio::run(main());
}

TEST(WaitQueue, WokenTaskCancelledBeforeItRunsStillReturnsNormally) {
  // The hand-off guarantee the sync primitives rely on.
  auto main = []() -> Task<std::string> {
    curio::WaitQueue q;
    std::string outcome;
    auto h = curio::spawn([&]() -> Task<> {
      co_await q.wait();
      outcome = "woken";
      try {
        co_await curio::sleep(0s);
      } catch (const curio::TaskCancelled&) {
        outcome += ", then cancelled";
      }
    });
    co_await curio::sleep(1ms);
    q.wake_one();
    co_await h.cancel();
    co_return outcome;
  };
  EXPECT_EQ(curio::run(main()), "woken, then cancelled");
}

TEST(WaitQueue, TimedOutWaiterLeavesTheQueue) {
  auto main = []() -> Task<> {
    curio::WaitQueue q;
    bool woke = co_await curio::ignore_after(5ms, [&]() -> Task<> { co_await q.wait(); }());
    EXPECT_FALSE(woke);
    EXPECT_TRUE(q.empty());
  };
  curio::run(main());
}
