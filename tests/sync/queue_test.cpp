// Queue, LifoQueue, PriorityQueue: orderings, bounds, join/task_done, cancellation, close.
// Sleeps of a few ms only order events; nothing is timed.
#include <gtest/gtest.h>

#include <memory>

#include "core/test_support.hpp"

using namespace curio_test;
using curio::Task;

TEST(Queue, ItemsComeOutInFifoOrder) {
  auto main = []() -> Task<std::vector<int>> {
    curio::Queue<int> q;
    for (int i : {1, 2, 3}) co_await q.put(i);
    EXPECT_EQ(q.qsize(), 3u);
    std::vector<int> out;
    while (!q.empty()) out.push_back(co_await q.get());
    co_return out;
  };
  EXPECT_EQ(curio::run(main()), (std::vector<int>{1, 2, 3}));
}

TEST(Queue, TwoConsumersAlternate) {
  auto main = []() -> Task<std::vector<std::string>> {
    curio::Queue<int> q;
    std::vector<std::string> log;
    curio::TaskGroup g;
    for (std::string name : {"a", "b"})
      g.spawn([&, name]() -> Task<> {
        for (;;) {
          int item = co_await q.get();
          if (item < 0) co_return;
          log.push_back(name + std::to_string(item));
        }
      });
    co_await curio::sleep(1ms);
    for (int i = 0; i < 4; ++i) {
      co_await q.put(i);
      co_await curio::sleep(1ms);
    }
    co_await q.put(-1);
    co_await q.put(-1);
    co_await g.join();
    co_return log;
  };
  EXPECT_EQ(curio::run(main()), (std::vector<std::string>{"a0", "b1", "a2", "b3"}));
}

TEST(Queue, BoundedQueueInterleavesProducerAndConsumerExactly) {
  // maxsize 2: the producer fills two places, then each get frees exactly one put.
  auto main = []() -> Task<std::vector<std::string>> {
    curio::Queue<int> q(2);
    std::vector<std::string> log;
    curio::TaskGroup g;
    g.spawn([&]() -> Task<> {
      for (int i = 0; i < 5; ++i) {
        co_await q.put(i);
        log.push_back("put" + std::to_string(i));
      }
    });
    g.spawn([&]() -> Task<> {
      co_await curio::sleep(2ms);
      for (int i = 0; i < 5; ++i) {
        int v = co_await q.get();
        log.push_back("get" + std::to_string(v));
        co_await curio::sleep(1ms);
      }
    });
    co_await g.join();
    co_return log;
  };
  EXPECT_EQ(curio::run(main()),
            (std::vector<std::string>{"put0", "put1", "get0", "put2", "get1", "put3", "get2", "put4", "get3", "get4"}));
}

TEST(Queue, FullAndEmptyFollowMaxsizeAndUnboundedIsNeverFull) {
  auto main = []() -> Task<> {
    curio::Queue<int> bounded(1);
    EXPECT_TRUE(bounded.empty());
    co_await bounded.put(1);
    EXPECT_TRUE(bounded.full());
    curio::Queue<int> unbounded;
    for (int i = 0; i < 1000; ++i) co_await unbounded.put(i);
    EXPECT_FALSE(unbounded.full());
    EXPECT_EQ(unbounded.qsize(), 1000u);
  };
  curio::run(main());
}

TEST(Queue, TryFormsReportWhetherTheyWorked) {
  auto main = []() -> Task<> {
    curio::Queue<std::unique_ptr<int>> q(1);
    EXPECT_FALSE(q.try_get().has_value());
    auto item = std::make_unique<int>(7);
    EXPECT_TRUE(q.try_put(std::move(item)));
    auto second = std::make_unique<int>(8);
    EXPECT_FALSE(q.try_put(std::move(second)));
    EXPECT_TRUE(second);  // a failed try_put leaves the item with the caller
    auto got = q.try_get();
    EXPECT_TRUE(got.has_value() && **got == 7);
    co_return;
  };
  curio::run(main());
}

TEST(Queue, MoveOnlyItemsPassThroughBlockingPutAndGet) {
  auto main = []() -> Task<int> {
    curio::Queue<std::unique_ptr<int>> q(1);
    auto consumer = curio::spawn([&]() -> Task<int> {
      int sum = 0;
      for (int i = 0; i < 3; ++i) sum += *co_await q.get();
      co_return sum;
    });
    for (int i = 1; i <= 3; ++i) co_await q.put(std::make_unique<int>(i));
    co_return co_await consumer.join();
  };
  EXPECT_EQ(curio::run(main()), 6);
}

TEST(Queue, JoinReturnsOnlyAfterTaskDoneForEveryItem) {
  auto main = []() -> Task<> {
    curio::Queue<int> q;
    int done = 0;
    for (int i = 0; i < 3; ++i) co_await q.put(i);
    auto worker = curio::spawn([&]() -> Task<> {
      for (int i = 0; i < 3; ++i) {
        co_await q.get();
        co_await curio::sleep(1ms);
        ++done;
        q.task_done();
      }
    });
    co_await q.join();
    EXPECT_EQ(done, 3);
    co_await worker.join();
  };
  curio::run(main());
}

TEST(Queue, JoinOnAQueueWithNothingUnfinishedReturnsAtOnce) {
  auto main = []() -> Task<> {
    curio::Queue<int> q;
    co_await q.join();
  };
  curio::run(main());
}

TEST(Queue, TaskDoneCalledTooOftenIsAnError) {
  auto main = []() -> Task<> {
    curio::Queue<int> q;
    co_await q.put(1);
    co_await q.get();
    q.task_done();
    EXPECT_THROW(q.task_done(), curio::RuntimeError);
  };
  curio::run(main());
}

TEST(Queue, CancelledGetLosesNoItem) {
  auto main = []() -> Task<> {
    curio::Queue<int> q;
    auto getter = curio::spawn([&]() -> Task<> { co_await q.get(); });
    co_await curio::sleep(1ms);
    co_await getter.cancel();
    EXPECT_EQ(q.getters_waiting(), 0u);
    co_await q.put(5);
    EXPECT_EQ(q.qsize(), 1u);
    EXPECT_EQ(co_await q.get(), 5);
  };
  curio::run(main());
}

TEST(Queue, GetCancelledAfterTheItemWasHandedOverStillReturnsIt) {
  // put hands the item to the waiting getter; a cancel that arrives before the getter runs
  // stays pending, so the getter sees its item and meets the cancel at its next block.
  auto main = []() -> Task<> {
    curio::Queue<int> q;
    int received = -1;
    auto getter = curio::spawn([&]() -> Task<> {
      received = co_await q.get();
      co_await curio::sleep(10s);
    });
    co_await curio::sleep(1ms);
    co_await q.put(9);
    co_await getter.cancel();
    EXPECT_EQ(received, 9);
  };
  curio::run(main());
}

TEST(Queue, TimedOutGetLeavesTheQueue) {
  auto main = []() -> Task<> {
    curio::Queue<int> q;
    EXPECT_THROW(co_await curio::timeout_after(2ms, q.get()), curio::TaskTimeout);
    EXPECT_EQ(q.getters_waiting(), 0u);
    co_await q.put(1);
    EXPECT_EQ(q.qsize(), 1u);
  };
  curio::run(main());
}

TEST(Queue, CancelledPutDoesNotInsertItsItem) {
  auto main = []() -> Task<> {
    curio::Queue<int> q(1);
    co_await q.put(1);
    auto putter = curio::spawn([&]() -> Task<> { co_await q.put(2); });
    co_await curio::sleep(1ms);
    co_await putter.cancel();
    EXPECT_EQ(q.putters_waiting(), 0u);
    EXPECT_EQ(co_await q.get(), 1);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.unfinished(), 1u);
  };
  curio::run(main());
}

TEST(Queue, CloseFailsWaitersAndLaterPutsButLetsGetsDrain) {
  auto main = []() -> Task<> {
    curio::Queue<int> q(1);
    co_await q.put(1);
    auto putter = curio::spawn([&]() -> Task<> { co_await q.put(2); });
    co_await curio::sleep(1ms);
    q.close();
    EXPECT_THROW(co_await putter.join(), curio::TaskError);
    EXPECT_THROW(co_await q.put(3), curio::QueueClosed);
    EXPECT_EQ(co_await q.get(), 1);
    EXPECT_THROW(co_await q.get(), curio::QueueClosed);
  };
  curio::run(main());
}

TEST(Queue, CloseWakesAWaitingGetterWithQueueClosed) {
  auto main = []() -> Task<> {
    curio::Queue<int> q;
    auto getter = curio::spawn([&]() -> Task<> { co_await q.get(); });
    co_await curio::sleep(1ms);
    q.close();
    try {
      co_await getter.join();
      ADD_FAILURE() << "get on a closed queue returned";
    } catch (const curio::TaskError& e) {
      EXPECT_THROW(e.rethrow_cause(), curio::QueueClosed);
    }
  };
  curio::run(main());
}

TEST(PriorityQueue, ReturnsSmallestFirst) {
  auto main = []() -> Task<std::vector<int>> {
    curio::PriorityQueue<int> q;
    for (int i : {4, 2, 1, 3}) co_await q.put(i);
    std::vector<int> out;
    while (!q.empty()) out.push_back(co_await q.get());
    co_return out;
  };
  EXPECT_EQ(curio::run(main()), (std::vector<int>{1, 2, 3, 4}));
}

TEST(PriorityQueue, CustomOrderingIsHonoured) {
  auto main = []() -> Task<std::vector<int>> {
    curio::PriorityQueue<int, std::greater<int>> q;
    for (int i : {4, 2, 1, 3}) co_await q.put(i);
    std::vector<int> out;
    while (!q.empty()) out.push_back(co_await q.get());
    co_return out;
  };
  EXPECT_EQ(curio::run(main()), (std::vector<int>{4, 3, 2, 1}));
}

TEST(LifoQueue, Reverses) {
  auto main = []() -> Task<std::vector<int>> {
    curio::LifoQueue<int> q;
    for (int i : {1, 2, 3, 4}) co_await q.put(i);
    std::vector<int> out;
    while (!q.empty()) out.push_back(co_await q.get());
    co_return out;
  };
  EXPECT_EQ(curio::run(main()), (std::vector<int>{4, 3, 2, 1}));
}
