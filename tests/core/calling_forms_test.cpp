// The calling forms of item 1 and 2 of issue 9: spawn/TaskGroup::spawn/timeout_after/ignore_after
// with (fn, args...), coroutine functions named without &, curio::all / curio::any, and the
// "no timeout" limit. Sleeps of a few ms only order events; nothing is timed.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "core/test_support.hpp"

using namespace curio_test;
using curio::Task;

namespace {

Task<int> add(int a, int b) {
  co_await curio::sleep(0);
  co_return a + b;
}
Task<std::string> shout(std::string s) {
  co_await curio::sleep(0);
  co_return s + "!";
}
Task<int> forty_two() { co_return 42; }
Task<> nap() { co_await curio::sleep(1ms); }
Task<> long_nap() { co_await curio::sleep(10s); }
Task<int> slow_value(int v) {
  co_await curio::sleep(10s);
  co_return v;
}
Task<std::size_t> size_of(std::unique_ptr<std::string> p) { co_return p->size(); }

}  // namespace

TEST(CallingForms, SpawnCallsTheFunctionWithItsArguments) {
  auto main = []() -> Task<int> { co_return co_await curio::spawn(add, 2, 3).join(); };
  EXPECT_EQ(curio::run(main()), 5);
}

TEST(CallingForms, SpawnCopiesArgumentsSoTemporariesDoNotDangle) {
  auto main = []() -> Task<std::string> {
    curio::TaskHandle<std::string> h;
    {
      std::string word = "hey";
      h = curio::spawn(shout, word);
    }  // word is gone before the task first runs
    co_return co_await h.join();
  };
  EXPECT_EQ(curio::run(main()), "hey!");
}

TEST(CallingForms, SpawnMovesMoveOnlyArguments) {
  auto main = []() -> Task<std::size_t> {
    co_return co_await curio::spawn(size_of, std::make_unique<std::string>("four")).join();
  };
  EXPECT_EQ(curio::run(main()), 4u);
}

TEST(CallingForms, SpawnTakesACoroutineFunctionByName) {
  auto main = []() -> Task<int> { co_return co_await curio::spawn(forty_two).join(); };
  EXPECT_EQ(curio::run(main()), 42);
}

TEST(CallingForms, TaskGroupSpawnTakesFunctionAndArguments) {
  auto main = []() -> Task<std::vector<int>> {
    curio::TaskGroup g;
    co_await g.scope([&]() -> Task<> {
      g.spawn(add, 1, 1);
      g.spawn(add, 2, 2);
      co_return;
    });
    co_return g.results<int>();
  };
  EXPECT_EQ(curio::run(main()), (std::vector<int>{2, 4}));
}

TEST(CallingForms, TaskGroupSpawnTakesACoroutineFunctionByName) {
  auto main = []() -> Task<int> {
    curio::TaskGroup g;
    co_await g.scope([&]() -> Task<> {
      g.spawn(forty_two);
      co_return;
    });
    co_return g.results<int>().at(0);
  };
  EXPECT_EQ(curio::run(main()), 42);
}

TEST(CallingForms, TimeoutAfterTakesFunctionAndArguments) {
  auto main = []() -> Task<int> { co_return co_await curio::timeout_after(1s, add, 20, 22); };
  EXPECT_EQ(curio::run(main()), 42);
}

TEST(CallingForms, TimeoutAfterTakesACoroutineFunctionByName) {
  auto main = []() -> Task<> {
    co_await curio::timeout_after(1s, nap);
    EXPECT_THROW(co_await curio::timeout_after(2ms, long_nap), curio::TaskTimeout);
  };
  curio::run(main());
}

TEST(CallingForms, IgnoreAfterTakesFunctionAndArgumentsAndGivesUpQuietly) {
  auto main = []() -> Task<> {
    std::optional<int> v = co_await curio::ignore_after(2ms, slow_value, 7);
    EXPECT_FALSE(v.has_value());
    std::optional<int> w = co_await curio::ignore_after(1s, add, 3, 4);
    EXPECT_EQ(w, 7);
    EXPECT_TRUE(co_await curio::ignore_after(1s, nap));
  };
  curio::run(main());
}

TEST(CallingForms, DisableCancellationTakesFunctionAndArguments) {
  auto main = []() -> Task<int> { co_return co_await curio::disable_cancellation(add, 1, 2); };
  EXPECT_EQ(curio::run(main()), 3);
}

TEST(Combinators, AllReturnsEveryValueInArgumentOrder) {
  auto main = []() -> Task<> {
    auto [a, b] = co_await curio::all(after(5ms, 1), after(1ms, std::string("two")));
    EXPECT_EQ(a, 1);
    EXPECT_EQ(b, "two");
  };
  curio::run(main());
}

TEST(Combinators, AllRunsItsOpsConcurrently) {
  // Each op waits for the other's event: only concurrent execution can finish.
  auto main = []() -> Task<> {
    curio::Event a, b;
    auto left = [&]() -> Task<> {
      a.set();
      co_await b.wait();
    };
    auto right = [&]() -> Task<> {
      b.set();
      co_await a.wait();
    };
    auto both = co_await curio::timeout_after(1s, curio::all(left, right));
    EXPECT_EQ(std::tuple_size_v<decltype(both)>, 2u);
  };
  curio::run(main());
}

TEST(Combinators, AllFirstErrorCancelsTheRestAndIsRaisedUnwrapped) {
  auto main = []() -> Task<> {
    bool other_cancelled = false;
    auto other = [&]() -> Task<int> {
      try {
        co_await curio::sleep(10s);
      } catch (const curio::TaskCancelled&) {
        other_cancelled = true;
        throw;
      }
      co_return 0;
    };
    EXPECT_THROW(co_await curio::all(other, fail_after(1ms)), Boom);
    EXPECT_TRUE(other_cancelled);
  };
  curio::run(main());
}

TEST(Combinators, AllOfVoidOpsGivesMonostates) {
  auto main = []() -> Task<> {
    auto r = co_await curio::all(nap, nap);
    static_assert(std::is_same_v<decltype(r), std::tuple<std::monostate, std::monostate>>);
  };
  curio::run(main());
}

TEST(Combinators, AnyReturnsTheFirstToFinishAndCancelsTheOthers) {
  auto main = []() -> Task<> {
    bool slow_cancelled = false;
    auto slow = [&]() -> Task<int> {
      try {
        co_await curio::sleep(10s);
      } catch (const curio::TaskCancelled&) {
        slow_cancelled = true;
        throw;
      }
      co_return 1;
    };
    int v = co_await curio::any(slow, after(1ms, 2));
    EXPECT_EQ(v, 2);
    EXPECT_TRUE(slow_cancelled);  // already ended when any() returned
  };
  curio::run(main());
}

TEST(Combinators, AnyOfDifferentTypesGivesAVariantNamingTheWinner) {
  auto main = []() -> Task<> {
    std::variant<int, std::string> v = co_await curio::any(slow_value(1), after(1ms, std::string("fast")));
    EXPECT_EQ(v.index(), 1u);
    EXPECT_EQ(std::get<1>(v), "fast");
  };
  curio::run(main());
}

TEST(Combinators, AnyRaisesTheErrorOfTheFirstToFinish) {
  auto main = []() -> Task<> { EXPECT_THROW(co_await curio::any(slow_value(1), fail_after(1ms)), Boom); };
  curio::run(main());
}

TEST(Combinators, CancellingTheCallerCancelsEveryOp) {
  auto main = []() -> Task<> {
    int cancelled = 0;
    auto op = [&]() -> Task<> {
      try {
        co_await curio::sleep(10s);
      } catch (const curio::TaskCancelled&) {
        ++cancelled;
        throw;
      }
    };
    EXPECT_THROW(co_await curio::timeout_after(2ms, curio::all(op, op)), curio::TaskTimeout);
    EXPECT_EQ(cancelled, 2);
  };
  curio::run(main());
}

TEST(NoTimeout, NoTimeoutRunsTheOpToCompletion) {
  auto main = []() -> Task<int> { co_return co_await curio::timeout_after(curio::no_timeout, after(3ms, 5)); };
  EXPECT_EQ(curio::run(main()), 5);
}

TEST(NoTimeout, AnEmptyOptionalDurationMeansNoLimit) {
  auto main = []() -> Task<> {
    std::optional<std::chrono::milliseconds> limit;
    EXPECT_EQ(co_await curio::timeout_after(limit, after(3ms, 5)), 5);
    EXPECT_EQ(co_await curio::ignore_after(limit, after(3ms, 6)), 6);
    EXPECT_EQ(co_await curio::timeout_after(std::nullopt, add, 1, 2), 3);
  };
  curio::run(main());
}

TEST(NoTimeout, AnOptionalHoldingADurationIsALimit) {
  auto main = []() -> Task<> {
    std::optional<std::chrono::milliseconds> limit = 2ms;
    EXPECT_THROW(co_await curio::timeout_after(limit, long_nap), curio::TaskTimeout);
    EXPECT_FALSE(co_await curio::ignore_after(limit, long_nap));
  };
  curio::run(main());
}

TEST(NoTimeout, AnEnclosingLimitStillApplies) {
  // The outer block sees its own TaskTimeout, exactly as if the inner block were not there.
  auto main = []() -> Task<> {
    auto inner = []() -> Task<> { co_await curio::timeout_after(curio::no_timeout, long_nap); };
    EXPECT_THROW(co_await curio::timeout_after(2ms, inner), curio::TaskTimeout);
    EXPECT_FALSE(co_await curio::ignore_after(2ms, curio::ignore_after(std::nullopt, long_nap)));
  };
  curio::run(main());
}
