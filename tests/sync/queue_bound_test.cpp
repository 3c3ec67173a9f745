// Bounded queues bound the producer as curio's do (issue 9, item 3): an item put for a waiting
// getter counts against maxsize until the getter has taken it, and a full queue admits a putter
// only when a getter took an item. The event orders are curio 1.6's for the same program.
// sleep(0) only orders events; nothing is timed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/test_support.hpp"
#include "support/bounded_queue_scenarios.hpp"

using namespace curio_test;
using curio::Task;

namespace {

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
  curio::run(expect_a_handed_over_item_counts_until_taken<curio::Queue<int>>());
}

TEST(BoundedQueue, APutterCancelledAfterItsPlaceWasGrantedStillPutsItsItem) {
  curio::run(expect_a_granted_putter_cancelled_still_puts<curio::Queue<int>>());
}
