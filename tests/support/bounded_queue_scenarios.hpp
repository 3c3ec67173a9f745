// Shared test scenarios (header only) for the bounded queues: curio's Queue family
// (tests/sync/queue_bound_test.cpp) and UniversalQueue (tests/thread/universal_bound_test.cpp)
// must bound their producers the same way. sleep(0) only orders events; nothing is timed.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "curio/curio.hpp"

namespace curio_test {

// A consumer waits first; a producer puts 0..4 into a queue of maxsize 2; the consumer yields
// (sleep(0)) after each get when `yielding`. Returns the order of the puts and gets.
template <class Q>
curio::Task<std::vector<std::string>> producer_consumer(bool yielding) {
  Q q(2);
  std::vector<std::string> log;
  curio::TaskGroup g;
  g.spawn([&]() -> curio::Task<> {
    for (int i = 0; i < 5; ++i) {
      int v = co_await q.get();
      log.push_back("got" + std::to_string(v));
      if (yielding) co_await curio::sleep(0);
    }
  });
  co_await curio::sleep(0);  // the consumer is now waiting in get
  g.spawn([&]() -> curio::Task<> {
    for (int i = 0; i < 5; ++i) {
      co_await q.put(i);
      log.push_back("put" + std::to_string(i));
    }
  });
  co_await g.join();
  co_return log;
}

// An item put for a waiting getter counts against maxsize until the getter has taken it.
template <class Q>
curio::Task<> expect_a_handed_over_item_counts_until_taken() {
  Q q(1);
  auto getter = curio::spawn([&]() -> curio::Task<int> { co_return co_await q.get(); });
  co_await curio::sleep(0);
  co_await q.put(1);
  EXPECT_EQ(q.qsize(), 1u);
  EXPECT_TRUE(q.full());
  EXPECT_FALSE(q.try_put(2));
  EXPECT_EQ(co_await getter.join(), 1);
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_TRUE(q.try_put(2));
}

// A get grants a waiting putter the freed place and wakes it; a cancel that comes before it runs
// stays pending: the put completes (no item lost) and the putter meets the cancel at its next
// blocking point.
template <class Q>
curio::Task<> expect_a_granted_putter_cancelled_still_puts() {
  Q q(1);
  co_await q.put(1);
  bool put_returned = false;
  auto putter = curio::spawn([&]() -> curio::Task<> {
    co_await q.put(2);
    put_returned = true;
    co_await curio::sleep(std::chrono::seconds(10));
  });
  co_await curio::sleep(0);
  EXPECT_EQ(co_await q.get(), 1);  // grants the putter the freed place
  co_await putter.cancel();
  EXPECT_TRUE(put_returned);
  EXPECT_EQ(q.qsize(), 1u);
  EXPECT_EQ(co_await q.get(), 2);
}

}  // namespace curio_test
