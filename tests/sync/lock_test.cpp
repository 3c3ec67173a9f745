// Lock, RLock, Semaphore, BoundedSemaphore and scoped holding (Held).
// Timing tolerance: sleeps of a few ms only order events; no test measures elapsed time.
#include <gtest/gtest.h>

#include "core/test_support.hpp"

using namespace curio_test;
using curio::Task;

namespace {

// Three workers contend for one primitive; each records when it gets it, holds it briefly.
template <class P>
Task<std::vector<int>> three_workers(P& p) {
  std::vector<int> order;
  curio::TaskGroup g;
  co_await g.scope([&]() -> Task<> {
    for (int i = 0; i < 3; ++i) {
      g.spawn([&, i]() -> Task<> {
        co_await curio::sleep(std::chrono::milliseconds(i));  // arrive in order 0, 1, 2
        auto held = co_await p.scoped();
        order.push_back(i);
        co_await curio::sleep(5ms);
      });
    }
    co_return;
  });
  co_return order;
}

}  // namespace

TEST(Lock, SharedByThreeWorkersIsGrantedInArrivalOrder) {
  auto main = []() -> Task<std::vector<int>> {
    curio::Lock lock;
    co_return co_await three_workers(lock);
  };
  EXPECT_EQ(curio::run(main()), (std::vector<int>{0, 1, 2}));
}

TEST(Lock, ReleaseHandsTheLockToTheFirstWaiterWithoutBarging) {
  auto main = []() -> Task<> {
    curio::Lock lock;
    co_await lock.acquire();
    auto waiter = curio::spawn([&]() -> Task<> {
      co_await lock.acquire();
      lock.release();
    });
    co_await curio::sleep(1ms);
    lock.release();
    // The waiter owns it now, before it even ran: nobody else can take it.
    EXPECT_TRUE(lock.locked());
    EXPECT_EQ(lock.owner_id(), waiter.id());
    EXPECT_FALSE(lock.try_acquire());
    co_await waiter.join();
    EXPECT_FALSE(lock.locked());
  };
  curio::run(main());
}

TEST(Lock, CancelledAcquireIsNeverGranted) {
  auto main = []() -> Task<> {
    curio::Lock lock;
    co_await lock.acquire();
    bool got = false;
    auto waiter = curio::spawn([&]() -> Task<> {
      co_await lock.acquire();
      got = true;
    });
    co_await curio::sleep(1ms);
    co_await waiter.cancel();
    EXPECT_EQ(lock.waiting(), 0u);
    lock.release();
    EXPECT_FALSE(lock.locked());
    EXPECT_FALSE(got);
  };
  curio::run(main());
}

TEST(Lock, TimedOutAcquireLeavesTheQueue) {
  auto main = []() -> Task<> {
    curio::Lock lock;
    co_await lock.acquire();
    auto other = curio::spawn([&]() -> Task<bool> {
      auto r = co_await curio::ignore_after(5ms, lock.acquire());
      co_return r;
    });
    EXPECT_FALSE(co_await other.join());
    EXPECT_EQ(lock.waiting(), 0u);
    lock.release();
    EXPECT_FALSE(lock.locked());
  };
  curio::run(main());
}

TEST(Lock, ScopedHoldReleasesWhenTheBlockThrows) {
  auto main = []() -> Task<> {
    curio::Lock lock;
    try {
      auto held = co_await lock.scoped();
      EXPECT_TRUE(lock.locked());
      throw Boom();
    } catch (const Boom&) {
    }
    EXPECT_FALSE(lock.locked());
  };
  curio::run(main());
}

TEST(Lock, ScopedHoldReleasesWhenTheHolderIsCancelled) {
  auto main = []() -> Task<> {
    curio::Lock lock;
    auto holder = curio::spawn([&]() -> Task<> {
      auto held = co_await lock.scoped();
      co_await curio::sleep(10s);
    });
    co_await curio::sleep(1ms);
    EXPECT_TRUE(lock.locked());
    co_await holder.cancel();
    EXPECT_FALSE(lock.locked());
  };
  curio::run(main());
}

TEST(Lock, ReleaseOfAFreeLockIsAnError) {
  auto main = []() -> Task<> {
    curio::Lock lock;
    EXPECT_THROW(lock.release(), curio::RuntimeError);
    co_return;
  };
  curio::run(main());
}

TEST(RLock, OwnerMayAcquireAgainAndItIsFreeAfterAsManyReleases) {
  auto main = []() -> Task<> {
    curio::RLock lock;
    co_await lock.acquire();
    co_await lock.acquire();
    EXPECT_EQ(lock.count(), 2u);
    lock.release();
    EXPECT_TRUE(lock.locked());
    lock.release();
    EXPECT_FALSE(lock.locked());
  };
  curio::run(main());
}

TEST(RLock, ReleaseByANonOwnerIsAnError) {
  auto main = []() -> Task<> {
    curio::RLock lock;
    co_await lock.acquire();
    auto other = curio::spawn([&]() -> Task<> {
      lock.release();
      co_return;
    });
    try {
      co_await other.join();
      ADD_FAILURE() << "release by a non-owner succeeded";
    } catch (const curio::TaskError& e) {
      EXPECT_NE(std::string(curio::describe_exception(e.cause())).find("does not own"), std::string::npos);
    }
    EXPECT_EQ(lock.owner_id(), curio::current_task().id());
    lock.release();
  };
  curio::run(main());
}

TEST(RLock, WaitersGetItInOrderOnceTheOwnerFullyReleases) {
  auto main = []() -> Task<std::vector<int>> {
    curio::RLock lock;
    co_return co_await three_workers(lock);
  };
  EXPECT_EQ(curio::run(main()), (std::vector<int>{0, 1, 2}));
}

TEST(Semaphore, SharedByThreeWorkersIsGrantedInArrivalOrder) {
  auto main = []() -> Task<std::vector<int>> {
    curio::Semaphore sem(1);
    co_return co_await three_workers(sem);
  };
  EXPECT_EQ(curio::run(main()), (std::vector<int>{0, 1, 2}));
}

TEST(Semaphore, ValueCountsUnitsAndLockedMeansZero) {
  auto main = []() -> Task<> {
    curio::Semaphore sem(2);
    co_await sem.acquire();
    EXPECT_EQ(sem.value(), 1u);
    EXPECT_FALSE(sem.locked());
    co_await sem.acquire();
    EXPECT_TRUE(sem.locked());
    EXPECT_FALSE(sem.try_acquire());
    sem.release();
    sem.release();
    EXPECT_EQ(sem.value(), 2u);
  };
  curio::run(main());
}

TEST(Semaphore, AtMostValueHoldersAtOnce) {
  auto main = []() -> Task<int> {
    curio::Semaphore sem(2);
    int inside = 0, most = 0;
    curio::TaskGroup g;
    for (int i = 0; i < 6; ++i)
      g.spawn([&]() -> Task<> {
        auto held = co_await sem.scoped();
        most = std::max(most, ++inside);
        co_await curio::sleep(2ms);
        --inside;
      });
    co_await g.join();
    co_return most;
  };
  EXPECT_EQ(curio::run(main()), 2);
}

TEST(Semaphore, CancelledAcquireIsNeverGranted) {
  auto main = []() -> Task<> {
    curio::Semaphore sem(0);
    auto waiter = curio::spawn([&]() -> Task<> { co_await sem.acquire(); });
    co_await curio::sleep(1ms);
    co_await waiter.cancel();
    sem.release();
    EXPECT_EQ(sem.value(), 1u);  // the unit went back to the count, not to the dead waiter
  };
  curio::run(main());
}

TEST(BoundedSemaphore, OverReleaseIsAnError) {
  auto main = []() -> Task<> {
    curio::BoundedSemaphore sem(1);
    co_await sem.acquire();
    sem.release();
    EXPECT_THROW(sem.release(), curio::RuntimeError);
    EXPECT_EQ(sem.value(), 1u);
  };
  curio::run(main());
}

TEST(BoundedSemaphore, ScopedHoldReleasesWithinTheBound) {
  auto main = []() -> Task<> {
    curio::BoundedSemaphore sem(1);
    {
      auto held = co_await sem.scoped();
      EXPECT_TRUE(sem.locked());
    }
    EXPECT_EQ(sem.value(), 1u);
  };
  curio::run(main());
}
