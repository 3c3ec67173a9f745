// Time: clock, sleep, wake_at.
#include <gtest/gtest.h>

#include "test_support.hpp"

using namespace curio_test;
using curio::Task;

TEST(Time, ClockIsMonotonic) {
  auto a = curio::clock();
  auto b = curio::clock();
  EXPECT_LE(a, b);
}

TEST(Time, SleepLastsAtLeastItsDuration) {
  // Tolerance: [30 ms, 300 ms).
  auto main = []() -> Task<double> {
    auto t0 = curio::clock();
    co_await curio::sleep(30ms);
    co_return seconds_since(t0);
  };
  double took = curio::run(main());
  EXPECT_GE(took, 0.029);
  EXPECT_LT(took, 0.3);
}

TEST(Time, SleepAcceptsSecondsAsDouble) {
  auto main = []() -> Task<double> {
    auto t0 = curio::clock();
    co_await curio::sleep(0.02);
    co_return seconds_since(t0);
  };
  EXPECT_GE(curio::run(main()), 0.019);
}

TEST(Time, SleepZeroYieldsToOtherReadyTasks) {
  auto main = []() -> Task<bool> {
    bool other_ran = false;
    auto h = curio::spawn([&]() -> Task<> {
      other_ran = true;
      co_return;
    });
    co_await curio::sleep(0s);
    co_await h.join();
    co_return other_ran;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Time, WakeAtWakesAtTheGivenTime) {
  auto main = []() -> Task<bool> {
    auto target = curio::clock() + 20ms;
    co_await curio::wake_at(target);
    co_return curio::clock() >= target;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Time, SleepersWakeInDeadlineOrder) {
  auto main = []() -> Task<std::vector<int>> {
    std::vector<int> order;
    // Deadlines from one instant: relative sleeps started a few ms apart on a loaded machine
    // (a preempted kernel thread) would not be 10 ms apart.
    auto start = curio::clock();
    curio::TaskGroup g;
    co_await g.scope([&]() -> Task<> {
      for (int ms : {30, 10, 20}) {
        g.spawn([&order, ms, start]() -> Task<> {
          co_await curio::wake_at(start + std::chrono::milliseconds(ms));
          order.push_back(ms);
        });
      }
      co_return;
    });
    co_return order;
  };
  EXPECT_EQ(curio::run(main()), (std::vector<int>{10, 20, 30}));
}

TEST(Time, ManySleepingTasksAllWake) {
  // 100,000 sleepers exercise the timer heap; the tests of a million live in bench/.
  auto main = []() -> Task<int> {
    int woke = 0;
    curio::TaskGroup g;
    co_await g.scope([&]() -> Task<> {
      for (int i = 0; i < 100000; ++i) {
        g.spawn([&woke, d = i % 5000]() -> Task<> {
          co_await curio::sleep(std::chrono::microseconds(d));
          ++woke;
        });
      }
      co_return;
    });
    co_return woke;
  };
  EXPECT_EQ(curio::run(main()), 100000);
}
