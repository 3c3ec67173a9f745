// RemoteSignal: the cross-thread wait trap (curio's _future_wait) that thread bridges use.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "test_support.hpp"

using namespace curio_test;
using curio::Task;
using curio::detail::RemoteSignal;

TEST(RemoteSignal, SetFromAnotherThreadWakesTheWaitingTask) {
  auto main = []() -> Task<bool> {
    auto sig = std::make_shared<RemoteSignal>();
    std::thread t([sig] {
      std::this_thread::sleep_for(20ms);
      sig->set();
    });
    co_await curio::detail::remote_wait(sig);
    t.join();
    co_return sig->is_set();
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(RemoteSignal, WaitAfterSetReturnsAtOnce) {
  auto main = []() -> Task<bool> {
    auto sig = std::make_shared<RemoteSignal>();
    sig->set();
    co_await curio::detail::remote_wait(sig);
    co_return true;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(RemoteSignal, KernelKeepsRunningTasksWhileOneWaits) {
  // While one task waits 50 ms for a thread, a ticker on 1 ms sleeps must tick many times
  // (tolerance: at least 10 ticks).
  auto main = []() -> Task<int> {
    int ticks = 0;
    bool done = false;
    auto ticker = curio::spawn([&]() -> Task<> {
      while (!done) {
        ++ticks;
        co_await curio::sleep(1ms);
      }
    });
    auto sig = std::make_shared<RemoteSignal>();
    std::thread t([sig] {
      std::this_thread::sleep_for(50ms);
      sig->set();
    });
    co_await curio::detail::remote_wait(sig);
    done = true;
    t.join();
    co_await ticker.join();
    co_return ticks;
  };
  EXPECT_GE(curio::run(main()), 10);
}

TEST(RemoteSignal, CancelledWaitIgnoresALateSet) {
  auto main = []() -> Task<bool> {
    auto sig = std::make_shared<RemoteSignal>();
    auto waiter = curio::spawn([sig]() -> Task<> { co_await curio::detail::remote_wait(sig); });
    co_await curio::sleep(1ms);
    co_await waiter.cancel();
    std::thread t([sig] { sig->set(); });
    t.join();
    co_await curio::sleep(5ms);  // the late wakeup must be dropped, not resume a dead wait
    co_return curio::is_cancellation(waiter.exception());
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(RemoteSignal, ManyThreadsWakeManyTasks) {
  constexpr int kTasks = 200;
  auto main = []() -> Task<int> {
    std::vector<std::shared_ptr<RemoteSignal>> sigs;
    for (int i = 0; i < kTasks; ++i) sigs.push_back(std::make_shared<RemoteSignal>());
    std::atomic<int> woke{0};
    curio::TaskGroup g;
    for (auto& s : sigs)
      g.spawn([s, &woke]() -> Task<> {
        co_await curio::detail::remote_wait(s);
        woke.fetch_add(1);
      });
    std::thread a([&] {
      for (int i = 0; i < kTasks; i += 2) sigs[i]->set();
    });
    std::thread b([&] {
      for (int i = 1; i < kTasks; i += 2) sigs[i]->set();
    });
    co_await g.join();
    a.join();
    b.join();
    co_return woke.load();
  };
  EXPECT_EQ(curio::run(main()), kTasks);
}
