#include <gtest/gtest.h>

#include "curio/curio.hpp"

using namespace std::chrono_literals;
using curio::Task;

namespace {
Task<int> sleeper(std::chrono::milliseconds d, int v) {
  co_await curio::sleep(d);
  co_return v;
}
}  // namespace

TEST(QuickSemantics, CancelBlockedTaskDeliversTaskCancelled) {
  auto main = []() -> Task<bool> {
    auto t = curio::spawn(sleeper(10s, 1));
    co_await curio::sleep(10ms);
    bool r = co_await t.cancel();
    EXPECT_TRUE(t.cancelled());
    EXPECT_TRUE(t.terminated());
    try {
      co_await t.join();
    } catch (const curio::TaskError& e) {
      EXPECT_TRUE(curio::is_cancellation(e.cause()));
      co_return r;
    }
    co_return false;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(QuickSemantics, TimeoutAfterRaisesTaskTimeout) {
  auto main = []() -> Task<bool> {
    try {
      co_await curio::timeout_after(20ms, sleeper(10s, 1));
    } catch (const curio::TaskTimeout&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(QuickSemantics, NestedOuterTimeoutIsTimeoutCancellationInside) {
  auto main = []() -> Task<int> {
    int seen = 0;
    try {
      co_await curio::timeout_after(20ms, [&]() -> Task<> {
        try {
          co_await curio::timeout_after(5s, sleeper(10s, 1));
        } catch (const curio::TimeoutCancellationError&) {
          seen = 1;
          throw;
        }
      }());
    } catch (const curio::TaskTimeout&) {
      seen += 10;
    }
    co_return seen;
  };
  EXPECT_EQ(curio::run(main()), 11);
}

TEST(QuickSemantics, IgnoreAfterReturnsEmpty) {
  auto main = []() -> Task<bool> {
    auto r = co_await curio::ignore_after(10ms, sleeper(10s, 1));
    auto r2 = co_await curio::ignore_after(1s, sleeper(1ms, 2));
    co_return !r.has_value() && r2 == 2;
  };
  EXPECT_TRUE(curio::run(main()));
}
