// Task<T>: lazy, move-only, exceptions propagate, co_await is an inline call.
#include <gtest/gtest.h>

#include <memory>

#include "test_support.hpp"

using namespace curio_test;
using curio::Task;

namespace {
Task<int> value(int v) { co_return v; }
Task<int> add_chain(int depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await add_chain(depth - 1);
}
Task<int> throws() {
  throw Boom();
  co_return 0;
}
}  // namespace

TEST(Task, IsLazyUntilAwaited) {
  bool started = false;
  auto make = [&]() -> Task<> {
    started = true;
    co_return;
  };
  auto main = [&]() -> Task<> {
    Task<> t = make();
    EXPECT_FALSE(started);
    co_await std::move(t);
    EXPECT_TRUE(started);
  };
  curio::run(main());
}

TEST(Task, AwaitReturnsTheValue) {
  auto main = []() -> Task<int> { co_return co_await value(41) + 1; };
  EXPECT_EQ(curio::run(main()), 42);
}

TEST(Task, ExceptionPropagatesToTheAwaiter) {
  auto main = []() -> Task<bool> {
    try {
      co_await throws();
    } catch (const Boom&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Task, MoveOnlyValuesPassThrough) {
  auto make = []() -> Task<std::unique_ptr<int>> { co_return std::make_unique<int>(7); };
  auto main = [&]() -> Task<int> { co_return *(co_await make()); };
  EXPECT_EQ(curio::run(main()), 7);
}

TEST(Task, LongAwaitChainsDoNotGrowTheStack) {
  // 200,000 nested awaits would overflow an 8 MB stack without symmetric transfer
  // (it resumes each level through the coroutine machinery, not recursion).
  auto main = []() -> Task<int> { co_return co_await add_chain(200000); };
  EXPECT_EQ(curio::run(main()), 200000);
}

TEST(Task, AwaitingRunsInTheSameKernelTask) {
  auto inner = []() -> Task<std::uint64_t> { co_return curio::current_task().id(); };
  auto main = [&]() -> Task<bool> {
    auto outer_id = curio::current_task().id();
    co_return outer_id == co_await inner();
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Task, UnawaitedTaskIsDestroyedWithoutRunning) {
  bool ran = false;
  auto make = [&]() -> Task<> {
    ran = true;
    co_return;
  };
  { Task<> t = make(); }
  EXPECT_FALSE(ran);
}
