// spawn_thread and AWAIT. Timing tolerance: a 50 ms timeout must fire within 1 s.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/test_support.hpp"

using namespace curio_test;
using curio::Task;

TEST(ThreadSpawn, JoinReturnsTheThreadsValue) {
  auto main = []() -> Task<int> {
    auto t = curio::spawn_thread([] { return 6 * 7; });
    co_return co_await t.join();
  };
  EXPECT_EQ(curio::run(main()), 42);
}

TEST(ThreadSpawn, AwaitSleepRunsOnTheKernel) {
  auto main = []() -> Task<double> {
    auto t0 = curio::clock();
    auto t = curio::spawn_thread([] { curio::AWAIT(curio::sleep(50ms)); });
    co_await t.join();
    co_return seconds_since(t0);
  };
  EXPECT_GE(curio::run(main()), 0.045);
}

TEST(ThreadSpawn, AwaitTakesACurioLockHeldByATask) {
  auto main = []() -> Task<std::vector<std::string>> {
    curio::Lock lock;
    std::vector<std::string> log;  // touched only on the kernel thread (via AWAIT)
    co_await lock.acquire();
    auto t = curio::spawn_thread([&] {
      curio::AWAIT(lock.acquire());
      curio::AWAIT([&]() -> Task<> {
        log.push_back("thread has the lock");
        co_return;
      });
      curio::AWAIT([&]() -> Task<> {
        lock.release();
        co_return;
      });
    });
    co_await curio::sleep(30ms);
    log.push_back("task releases");
    lock.release();
    co_await t.join();
    co_return log;
  };
  EXPECT_EQ(curio::run(main()), (std::vector<std::string>{"task releases", "thread has the lock"}));
}

TEST(ThreadSpawn, AwaitUnderATimeoutRaisesTaskTimeoutInTheThread) {
  auto main = []() -> Task<bool> {
    auto t = curio::spawn_thread([] {
      try {
        curio::AWAIT(curio::timeout_after(50ms, curio::sleep(10s)));
      } catch (const curio::TaskTimeout&) {
        return true;
      }
      return false;
    });
    co_return co_await curio::timeout_after(5s, t.join());
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(ThreadSpawn, CancelIsDeliveredAtTheThreadsAwait) {
  auto main = []() -> Task<bool> {
    auto saw_cancel = std::make_shared<std::atomic<bool>>(false);
    auto t = curio::spawn_thread([saw_cancel] {
      try {
        curio::AWAIT(curio::sleep(10s));
      } catch (const curio::TaskCancelled&) {
        *saw_cancel = true;
        throw;
      }
    });
    co_await curio::sleep(30ms);
    co_await t.cancel();
    co_return saw_cancel->load();
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(ThreadSpawn, CancelWhileTheThreadRunsPlainCodeArrivesAtItsNextAwait) {
  auto main = []() -> Task<bool> {
    auto saw_cancel = std::make_shared<std::atomic<bool>>(false);
    auto t = curio::spawn_thread([saw_cancel] {
      std::this_thread::sleep_for(50ms);  // not cancellable: plain code
      try {
        curio::AWAIT(curio::sleep(0s));
      } catch (const curio::TaskCancelled&) {
        *saw_cancel = true;
      }
    });
    co_await curio::sleep(10ms);
    co_await t.cancel();
    co_return saw_cancel->load();
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(ThreadSpawn, ExceptionOfTheThreadReachesJoin) {
  auto main = []() -> Task<> {
    auto t = curio::spawn_thread([]() -> int { throw Boom(); });
    try {
      co_await t.join();
      ADD_FAILURE() << "no error";
    } catch (const curio::TaskError& e) {
      EXPECT_THROW(e.rethrow_cause(), Boom);
    }
  };
  curio::run(main());
}

TEST(ThreadSpawn, AwaitOutsideAnAsyncThreadIsAnAsyncOnlyError) {
  EXPECT_THROW(curio::AWAIT(curio::sleep(0s)), curio::AsyncOnlyError);
}
