// Event, Condition and Result. Sleeps of a few ms only order events; nothing is timed.
#include <gtest/gtest.h>

#include "core/test_support.hpp"

using namespace curio_test;
using curio::Task;

TEST(Event, SetWakesEveryWaiter) {
  auto main = []() -> Task<int> {
    curio::Event ev;
    int woke = 0;
    curio::TaskGroup g;
    for (int i = 0; i < 3; ++i)
      g.spawn([&]() -> Task<> {
        co_await ev.wait();
        ++woke;
      });
    co_await curio::sleep(1ms);
    EXPECT_EQ(ev.waiting(), 3u);
    ev.set();
    co_await g.join();
    co_return woke;
  };
  EXPECT_EQ(curio::run(main()), 3);
}

TEST(Event, WaitOnASetEventReturnsAtOnceAndClearResetsIt) {
  auto main = []() -> Task<> {
    curio::Event ev;
    ev.set();
    co_await ev.wait();
    EXPECT_TRUE(ev.is_set());
    ev.clear();
    EXPECT_FALSE(ev.is_set());
    EXPECT_FALSE(co_await curio::ignore_after(2ms, ev.wait()));
  };
  curio::run(main());
}

TEST(Event, CancelledWaiterLeavesNoTrace) {
  auto main = []() -> Task<> {
    curio::Event ev;
    auto w = curio::spawn([&]() -> Task<> { co_await ev.wait(); });
    co_await curio::sleep(1ms);
    co_await w.cancel();
    EXPECT_EQ(ev.waiting(), 0u);
    ev.set();
  };
  curio::run(main());
}

TEST(Condition, NotifyWakesWaitersInOrder) {
  auto main = []() -> Task<std::vector<int>> {
    curio::Condition cond;
    std::vector<int> order;
    curio::TaskGroup g;
    int waiting = 0;
    for (int i = 0; i < 3; ++i)
      g.spawn([&, i]() -> Task<> {
        co_await curio::sleep(std::chrono::milliseconds(i));  // the timer heap orders them 0, 1, 2
        auto held = co_await cond.scoped();
        ++waiting;
        co_await cond.wait();
        order.push_back(i);
      });
    // Not a fixed sleep: a preempted test process (a loaded CI machine) could notify first. A
    // waiter holds the lock from ++waiting until wait() releases it, so once the count is 3 the
    // first scoped() below returns only after the last one waits.
    while (waiting < 3) co_await curio::sleep(1ms);
    for (int i = 0; i < 3; ++i) {
      auto held = co_await cond.scoped();
      cond.notify();
    }
    co_await g.join();
    co_return order;
  };
  EXPECT_EQ(curio::run(main()), (std::vector<int>{0, 1, 2}));
}

TEST(Condition, NotifyAllWakesEveryone) {
  auto main = []() -> Task<int> {
    curio::Condition cond;
    int woke = 0;
    curio::TaskGroup g;
    for (int i = 0; i < 4; ++i)
      g.spawn([&]() -> Task<> {
        auto held = co_await cond.scoped();
        co_await cond.wait();
        ++woke;
      });
    co_await curio::sleep(2ms);
    {
      auto held = co_await cond.scoped();
      cond.notify_all();
    }
    co_await g.join();
    co_return woke;
  };
  EXPECT_EQ(curio::run(main()), 4);
}

TEST(Condition, WaitForWakesEachConsumerAtItsOwnThreshold) {
  auto main = []() -> Task<std::vector<std::pair<int, int>>> {
    curio::Condition cond;
    int level = 0;
    std::vector<std::pair<int, int>> seen;  // (threshold, level when it woke)
    curio::TaskGroup g;
    for (int threshold : {3, 1, 2})
      g.spawn([&, threshold]() -> Task<> {
        auto held = co_await cond.scoped();
        co_await cond.wait_for([&] { return level >= threshold; });
        seen.emplace_back(threshold, level);
      });
    co_await curio::sleep(1ms);
    for (int i = 0; i < 3; ++i) {
      {
        auto held = co_await cond.scoped();
        ++level;
        cond.notify_all();
      }
      co_await curio::sleep(1ms);
    }
    co_await g.join();
    co_return seen;
  };
  EXPECT_EQ(curio::run(main()), (std::vector<std::pair<int, int>>{{1, 1}, {2, 2}, {3, 3}}));
}

TEST(Condition, UseWithoutHoldingTheLockIsAnError) {
  auto main = []() -> Task<> {
    curio::Condition cond;
    EXPECT_THROW(cond.notify(), curio::RuntimeError);
    EXPECT_THROW(cond.notify_all(), curio::RuntimeError);
    EXPECT_THROW(co_await cond.wait(), curio::RuntimeError);
  };
  curio::run(main());
}

TEST(Condition, WaitReacquiresTheLockWhenCancelled) {
  auto main = []() -> Task<> {
    curio::Lock lock;
    curio::Condition cond(lock);
    bool held_after_cancel = false;
    auto w = curio::spawn([&]() -> Task<> {
      co_await lock.acquire();
      try {
        co_await cond.wait();
      } catch (const curio::TaskCancelled&) {
        held_after_cancel = lock.locked() && lock.owner_id() == curio::current_task().id();
        lock.release();
        throw;
      }
    });
    co_await curio::sleep(1ms);
    co_await lock.acquire();  // hold the lock so the cancelled wait must queue to re-acquire it
    auto canceller = curio::spawn(w.cancel());
    co_await curio::sleep(2ms);
    EXPECT_FALSE(w.terminated());  // still waiting for the lock we hold
    lock.release();
    co_await canceller.join();
    EXPECT_TRUE(held_after_cancel);
    EXPECT_FALSE(lock.locked());
  };
  curio::run(main());
}

TEST(Condition, TimedOutWaitRaisesWithTheLockHeld) {
  auto main = []() -> Task<> {
    curio::Condition cond;
    auto held = co_await cond.scoped();
    EXPECT_THROW(co_await curio::timeout_after(2ms, cond.wait()), curio::TaskTimeout);
    EXPECT_TRUE(cond.locked());
    EXPECT_EQ(cond.waiting(), 0u);
  };
  curio::run(main());
}

TEST(Result, UnwrapWaitsForTheValue) {
  auto main = []() -> Task<int> {
    curio::Result<int> r;
    auto setter = curio::spawn([&]() -> Task<> {
      co_await curio::sleep(2ms);
      r.set_value(42);
    });
    int v = co_await r.unwrap();
    co_await setter.join();
    co_return v;
  };
  EXPECT_EQ(curio::run(main()), 42);
}

TEST(Result, UnwrapRethrowsTheExceptionUnchanged) {
  auto main = []() -> Task<> {
    curio::Result<std::string> r;
    r.set_exception(std::make_exception_ptr(Boom()));
    EXPECT_TRUE(r.is_set());
    EXPECT_THROW(co_await r.unwrap(), Boom);
  };
  curio::run(main());
}

TEST(Result, IsOneShot) {
  auto main = []() -> Task<> {
    curio::Result<> r;
    r.set_value();
    EXPECT_THROW(r.set_value(), curio::RuntimeError);
    EXPECT_THROW(r.set_exception(std::make_exception_ptr(Boom())), curio::RuntimeError);
    co_await r.unwrap();
  };
  curio::run(main());
}

TEST(Result, EveryWaiterGetsTheValue) {
  auto main = []() -> Task<int> {
    curio::Result<int> r;
    int sum = 0;
    curio::TaskGroup g;
    for (int i = 0; i < 3; ++i) g.spawn([&]() -> Task<> { sum += co_await r.unwrap(); });
    co_await curio::sleep(1ms);
    r.set_value(5);
    co_await g.join();
    co_return sum;
  };
  EXPECT_EQ(curio::run(main()), 15);
}
