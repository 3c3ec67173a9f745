// Bounded queues bound the producer as curio's do (issue 9, item 3): an item put for a waiting
// getter counts against maxsize until the getter has taken it, and a full queue admits a putter
// only when a getter took an item. The event orders are curio 1.6's for the same program.
// sleep(0) only orders events; nothing is timed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/test_support.hpp"

using namespace curio_test;
using curio::Task;

namespace {

// A consumer waits first; a producer puts 0..4 into a queue of maxsize 2; the consumer yields
// (sleep(0)) after each get when `yielding`.
template <class Q>
Task<std::vector<std::string>> producer_consumer(bool yielding) {
  Q q(2);
  std::vector<std::string> log;
  curio::TaskGroup g;
  g.spawn([&]() -> Task<> {
    for (int i = 0; i < 5; ++i) {
      int v = co_await q.get();
      log.push_back("got" + std::to_string(v));
      if (yielding) co_await curio::sleep(0);
    }
  });
  co_await curio::sleep(0);  // the consumer is now waiting in get
  g.spawn([&]() -> Task<> {
    for (int i = 0; i < 5; ++i) {
      co_await q.put(i);
      log.push_back("put" + std::to_string(i));
    }
  });
  co_await g.join();
  co_return log;
}

using Log = std::vector<std::string>;

}  // namespace

TEST(BoundedQueue, QueueProducerStaysWithinMaxsizeOfAYieldingConsumer) {
  EXPECT_EQ(curio::run(producer_consumer<curio::Queue<int>>(true)),
            (Log{"put0", "put1", "got0", "put2", "got1", "put3", "got2", "put4", "got3", "got4"}));
}

TEST(BoundedQueue, PriorityQueueProducerStaysWithinMaxsizeOfAYieldingConsumer) {
  EXPECT_EQ(curio::run(producer_consumer<curio::PriorityQueue<int>>(true)),
            (Log{"put0", "put1", "got0", "put2", "got1", "put3", "got2", "put4", "got3", "got4"}));
}

TEST(BoundedQueue, LifoQueueProducerStaysWithinMaxsizeOfAYieldingConsumer) {
  EXPECT_EQ(curio::run(producer_consumer<curio::LifoQueue<int>>(true)),
            (Log{"put0", "put1", "got0", "put2", "got2", "put3", "got3", "put4", "got4", "got1"}));
}

TEST(BoundedQueue, QueueWithAConsumerThatDoesNotYieldFollowsCurioOrder) {
  // curio's docs producer/consumer with Queue(maxsize=2): the consumer drains, then waits.
  EXPECT_EQ(curio::run(producer_consumer<curio::Queue<int>>(false)),
            (Log{"put0", "put1", "got0", "got1", "put2", "put3", "got2", "got3", "put4", "got4"}));
}

TEST(BoundedQueue, AnItemPutForAWaitingGetterCountsUntilTheGetterRuns) {
  auto main = []() -> Task<> {
    curio::Queue<int> q(1);
    auto getter = curio::spawn([&]() -> Task<int> { co_return co_await q.get(); });
    co_await curio::sleep(0);
    co_await q.put(1);
    EXPECT_EQ(q.qsize(), 1u);
    EXPECT_TRUE(q.full());
    EXPECT_FALSE(q.try_put(2));
    EXPECT_EQ(co_await getter.join(), 1);
    EXPECT_EQ(q.qsize(), 0u);
    EXPECT_TRUE(q.try_put(2));
  };
  curio::run(main());
}

TEST(BoundedQueue, APutterCancelledAfterItsPlaceWasGrantedStillPutsItsItem) {
  // The get grants the putter a place and wakes it; the cancel comes before it runs, so it stays
  // pending: the put completes (no item lost), and the putter meets the cancel at its next block.
  auto main = []() -> Task<> {
    curio::Queue<int> q(1);
    co_await q.put(1);
    bool put_returned = false;
    auto putter = curio::spawn([&]() -> Task<> {
      co_await q.put(2);
      put_returned = true;
      co_await curio::sleep(10s);
    });
    co_await curio::sleep(0);
    EXPECT_EQ(co_await q.get(), 1);
    co_await putter.cancel();
    EXPECT_TRUE(put_returned);
    EXPECT_EQ(q.qsize(), 1u);
    EXPECT_EQ(co_await q.get(), 2);
  };
  curio::run(main());
}
