// Wrappers accept any awaitable or a callable returning a Task, not only a Task.
#include <gtest/gtest.h>

#include "test_support.hpp"

using namespace curio_test;
using curio::Task;

TEST(Awaitable, TimeoutAfterAcceptsAPlainAwaiter) {
  auto main = []() -> Task<bool> {
    curio::WaitQueue q;
    try {
      co_await curio::timeout_after(5ms, q.wait());
    } catch (const curio::TaskTimeout&) {
      co_return q.empty();
    }
    co_return false;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Awaitable, IgnoreAfterAcceptsACallableAndKeepsItsCapturesAlive) {
  auto main = []() -> Task<std::optional<int>> {
    int base = 40;
    co_return co_await curio::ignore_after(1s, [base]() -> Task<int> {
      co_await curio::sleep(1ms);
      co_return base + 2;
    });
  };
  EXPECT_EQ(curio::run(main()), 42);
}

TEST(Awaitable, DisableCancellationAcceptsAnAwaiter) {
  auto main = []() -> Task<bool> {
    // t0 before the spawn: the shielded sleep starts later, so it ends >= 20 ms after t0 however
    // late a loaded machine runs either task (a t0 after main's own sleep was not robust).
    auto t0 = curio::clock();
    auto h = curio::spawn([]() -> Task<> {
      co_await curio::disable_cancellation(curio::sleep(20ms));
      co_await curio::sleep(10s);
    });
    co_await curio::sleep(1ms);
    co_await h.cancel();
    co_return seconds_since(t0) >= 0.0195;  // the shielded sleep finished first
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Awaitable, JoinOfAHandleCanBeTimedOut) {
  auto main = []() -> Task<bool> {
    auto h = curio::spawn(after(10s, 1));
    auto r = co_await curio::ignore_after(5ms, h.join());
    co_await h.cancel();
    co_return !r.has_value();
  };
  EXPECT_TRUE(curio::run(main()));
}
