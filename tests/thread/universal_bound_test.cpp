// A bounded UniversalQueue bounds its producer as curio's queues do (issue 9, item 3): an item
// handed to a waiting getter counts against maxsize until that getter has taken it.
// sleep(0) only orders events; nothing is timed.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/test_support.hpp"
#include "support/bounded_queue_scenarios.hpp"

using namespace curio_test;
using curio::Task;

TEST(UniversalQueueBound, TaskProducerStaysWithinMaxsizeOfAYieldingConsumer) {
  // Each put wakes the other task through the kernel's remote-signal path, which needs a
  // scheduling cycle or two, so only the bound is exact: never more than 2 puts ahead.
  auto log = curio::run(producer_consumer<curio::UniversalQueue<int>>(true));
  ASSERT_EQ(log.size(), 10u);
  int ahead = 0;
  for (const auto& e : log) {
    ahead += e.rfind("put", 0) == 0 ? 1 : -1;
    EXPECT_LE(ahead, 2) << "the producer ran more than maxsize items ahead";
  }
}

TEST(UniversalQueueBound, AHandedOverItemCountsUntilTheGetterTakesIt) {
  curio::run(expect_a_handed_over_item_counts_until_taken<curio::UniversalQueue<int>>());
}

TEST(UniversalQueueBound, ThreadProducerIsNeverMoreThanMaxsizeAheadOfATaskConsumer) {
  constexpr int kItems = 200;
  constexpr int kMax = 3;
  auto main = []() -> Task<> {
    curio::UniversalQueue<int> q(kMax);
    std::atomic<int> produced{0};
    std::thread producer([&] {
      for (int i = 0; i < kItems; ++i) {
        q.put_sync(i);
        produced.fetch_add(1);
      }
    });
    for (int consumed = 1; consumed <= kItems; ++consumed) {
      EXPECT_EQ(co_await q.get(), consumed - 1);
      EXPECT_LE(produced.load(), consumed + kMax);
      if (consumed % 7 == 0) co_await curio::sleep(0);
    }
    producer.join();
  };
  curio::run(main());
}

TEST(UniversalQueueBound, APutterGrantedAPlaceThenCancelledStillPutsItsItem) {
  curio::run(expect_a_granted_putter_cancelled_still_puts<curio::UniversalQueue<int>>());
}
