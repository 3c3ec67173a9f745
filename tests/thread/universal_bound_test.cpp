// A bounded UniversalQueue bounds its producer as curio's queues do (issue 9, item 3): an item
// handed to a waiting getter counts against maxsize until that getter has taken it.
// sleep(0) only orders events; nothing is timed.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/test_support.hpp"

using namespace curio_test;
using curio::Task;

TEST(UniversalQueueBound, TaskProducerStaysWithinMaxsizeOfAYieldingConsumer) {
  auto main = []() -> Task<std::vector<std::string>> {
    curio::UniversalQueue<int> q(2);
    std::vector<std::string> log;
    curio::TaskGroup g;
    g.spawn([&]() -> Task<> {
      for (int i = 0; i < 5; ++i) {
        int v = co_await q.get();
        log.push_back("got" + std::to_string(v));
        co_await curio::sleep(0);
      }
    });
    co_await curio::sleep(0);  // the consumer waits in get
    g.spawn([&]() -> Task<> {
      for (int i = 0; i < 5; ++i) {
        co_await q.put(i);
        log.push_back("put" + std::to_string(i));
      }
    });
    co_await g.join();
    co_return log;
  };
  // Each put wakes the other task through the kernel's remote-signal path, which needs a
  // scheduling cycle or two, so only the bound is exact: never more than 2 puts ahead.
  auto log = curio::run(main());
  ASSERT_EQ(log.size(), 10u);
  int ahead = 0;
  for (const auto& e : log) {
    ahead += e.rfind("put", 0) == 0 ? 1 : -1;
    EXPECT_LE(ahead, 2) << "the producer ran more than maxsize items ahead";
  }
}

TEST(UniversalQueueBound, AHandedOverItemCountsUntilTheGetterTakesIt) {
  auto main = []() -> Task<> {
    curio::UniversalQueue<int> q(1);
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
  auto main = []() -> Task<> {
    curio::UniversalQueue<int> q(1);
    co_await q.put(1);
    bool put_returned = false;
    auto putter = curio::spawn([&]() -> Task<> {
      co_await q.put(2);
      put_returned = true;
      co_await curio::sleep(10s);
    });
    co_await curio::sleep(0);
    EXPECT_EQ(co_await q.get(), 1);  // grants the putter the freed place
    co_await putter.cancel();
    EXPECT_TRUE(put_returned);
    EXPECT_EQ(co_await q.get(), 2);
  };
  curio::run(main());
}
