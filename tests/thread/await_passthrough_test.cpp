// spawn_thread(fn, args...), TaskGroup::spawn_thread, and AWAIT passing non-awaitables through
// (issue 9, items 1 and 4). Sleeps of a few ms only order events; nothing is timed.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "core/test_support.hpp"

using namespace curio_test;
using curio::Task;

namespace {
int multiply(int a, int b) { return a * b; }
Task<int> coro_value(int v) {
  co_await curio::sleep(1ms);
  co_return v;
}
// Helper code written once for both worlds: AWAIT(x) is x for a plain value.
int twice(int x) { return 2 * curio::AWAIT(x); }
}  // namespace

TEST(ThreadSpawn, SpawnThreadCallsTheFunctionWithItsArguments) {
  auto main = []() -> Task<int> { co_return co_await curio::spawn_thread(multiply, 6, 7).join(); };
  EXPECT_EQ(curio::run(main()), 42);
}

TEST(ThreadSpawn, SpawnThreadCopiesItsArguments) {
  auto main = []() -> Task<std::string> {
    curio::TaskHandle<std::string> h;
    {
      std::string s = "abc";
      h = curio::spawn_thread([](const std::string& x) { return x + x; }, s);
    }
    co_return co_await h.join();
  };
  EXPECT_EQ(curio::run(main()), "abcabc");
}

TEST(ThreadSpawn, TaskGroupSpawnThreadMakesTheThreadAMember) {
  auto main = []() -> Task<std::vector<int>> {
    curio::TaskGroup g;
    co_await g.scope([&]() -> Task<> {
      auto h = g.spawn_thread(multiply, 2, 3);
      EXPECT_EQ(g.tasks().size(), 1u);
      co_return;
    });
    co_return g.results<int>();
  };
  EXPECT_EQ(curio::run(main()), (std::vector<int>{6}));
}

TEST(AwaitPassThrough, AValueThatIsNotAwaitableIsReturnedUnchanged) {
  EXPECT_EQ(curio::AWAIT(5), 5);
  EXPECT_EQ(curio::AWAIT(std::string("x")), "x");
  EXPECT_EQ(twice(4), 8);  // outside any kernel or thread: nothing to await
}

TEST(AwaitPassThrough, APlainFunctionWithArgumentsIsCalled) { EXPECT_EQ(curio::AWAIT(multiply, 3, 5), 15); }

TEST(AwaitPassThrough, ACoroutineFunctionWithArgumentsIsAwaitedInAThread) {
  auto main = []() -> Task<int> {
    co_return co_await curio::spawn_thread([] { return curio::AWAIT(coro_value, 9) + twice(1); }).join();
  };
  EXPECT_EQ(curio::run(main()), 11);
}

TEST(AwaitPassThrough, AnAwaitableOutsideAnAsyncThreadIsStillAnAsyncOnlyError) {
  EXPECT_THROW(curio::AWAIT(coro_value(1)), curio::AsyncOnlyError);
}
