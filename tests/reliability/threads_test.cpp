// Saturation without loss: run_in_thread jobs far beyond the worker-thread limit queue and all
// complete with their own results; a producer faster than its consumer blocks at maxsize
// (UniversalQueue from a thread, Queue between tasks) instead of growing memory.
// Timing tolerance: jobs sleep 1 ms; the consumer sleeps 1 ms per item so the producer is
// always ahead; every wait is bounded by a timeout of 30 s. No duration is asserted.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/test_support.hpp"

using namespace curio_test;
using curio::Task;

TEST(ReliabilityThreads, RunInThreadBeyondTheWorkerLimitQueuesWithoutLoss) {
  std::size_t old_limit = curio::worker_thread_limit();
  curio::set_worker_thread_limit(4);
  std::atomic<int> concurrent{0}, peak{0};
  constexpr int kJobs = 400;
  auto results = curio::run([&]() -> Task<std::vector<int>> {
    curio::TaskGroup g;
    std::vector<curio::TaskHandle<int>> handles;
    co_await curio::timeout_after(30s, g.scope([&]() -> Task<> {
      for (int i = 0; i < kJobs; ++i) {
        handles.push_back(g.spawn(curio::run_in_thread([&, i] {
          int now = ++concurrent;
          int p = peak.load();
          while (now > p && !peak.compare_exchange_weak(p, now)) {
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          --concurrent;
          return i * 3;
        })));
      }
      co_return;
    }));
    std::vector<int> out;
    for (auto& h : handles) out.push_back(co_await h.join());
    co_return out;
  }());
  curio::set_worker_thread_limit(old_limit);
  ASSERT_EQ(results.size(), static_cast<std::size_t>(kJobs));
  for (int i = 0; i < kJobs; ++i) EXPECT_EQ(results[i], i * 3);
  EXPECT_LE(peak.load(), 4) << "never more jobs at once than worker threads";
}

TEST(ReliabilityThreads, FastThreadProducerBlocksAtMaxsize) {
  constexpr std::size_t kMax = 8;
  constexpr int kItems = 300;
  curio::UniversalQueue<int> q(kMax);
  std::atomic<std::size_t> largest{0};
  std::thread producer([&] {
    for (int i = 0; i < kItems; ++i) {
      q.put_sync(i);
      std::size_t n = q.qsize();
      std::size_t l = largest.load();
      while (n > l && !largest.compare_exchange_weak(l, n)) {
      }
    }
  });
  auto got = curio::run([&]() -> Task<std::vector<int>> {
    std::vector<int> out;
    for (int i = 0; i < kItems; ++i) {
      out.push_back(co_await curio::timeout_after(30s, q.get()));
      co_await curio::sleep(1ms);  // a slow consumer
    }
    co_return out;
  }());
  producer.join();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kItems));
  for (int i = 0; i < kItems; ++i) EXPECT_EQ(got[i], i);
  EXPECT_LE(largest.load(), kMax);
}

TEST(ReliabilityThreads, FastTaskProducerBlocksAtMaxsize) {
  constexpr std::size_t kMax = 4;
  constexpr int kItems = 200;
  curio::run([&]() -> Task<> {
    curio::Queue<int> q(kMax);
    std::size_t largest = 0;
    auto producer = curio::spawn([&]() -> Task<> {
      for (int i = 0; i < kItems; ++i) {
        co_await q.put(i);
        largest = std::max(largest, q.qsize());
      }
    });
    for (int i = 0; i < kItems; ++i) {
      EXPECT_EQ(co_await curio::timeout_after(30s, q.get()), i);
      co_await curio::sleep(0ms);
    }
    co_await producer.join();
    EXPECT_LE(largest, kMax);
  }());
}
