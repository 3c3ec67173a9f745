// spawn_on / call_on between kernels: results, exceptions, cancellation, timeouts, misuse; and
// UniversalQueue / UniversalEvent between tasks on different kernels.
// Timing tolerances: sleeps of 10-50 ms only order events; timeouts are 500 ms against remote
// work of 60 s, so only the order is asserted.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "core/test_support.hpp"

using namespace curio_test;
using curio::Task;

namespace {

// Runs body on kernel 0 of a 2-kernel run; kernel 1 only serves.
template <class F>
void on_kernel0(F body) {
  curio::run_parallel(2, [&](std::size_t i) -> Task<> {
    if (i == 0) co_await body();
  });
}

Task<std::string> where_am_i(std::string tag) {
  co_await curio::sleep(1ms);
  co_return tag + " on kernel " + std::to_string(curio::kernel_index());
}

}  // namespace

TEST(ParallelSpawnOn, ReturnsTheValueOfTheTaskRunOnTheOtherKernel) {
  on_kernel0([]() -> Task<> {
    std::string r = co_await curio::spawn_on(1, where_am_i("hello"));
    EXPECT_EQ(r, "hello on kernel 1");
  });
}

TEST(ParallelSpawnOn, TheCallableFormMakesTheCoroutineOnTheTargetKernel) {
  on_kernel0([]() -> Task<> {
    std::thread::id here = std::this_thread::get_id();
    auto there = co_await curio::spawn_on(1, [here]() -> Task<bool> {
      co_await curio::sleep(1ms);
      co_return std::this_thread::get_id() != here;
    });
    EXPECT_TRUE(there);
  });
}

TEST(ParallelSpawnOn, RaisesTheRemoteTasksExceptionUnwrapped) {
  on_kernel0([]() -> Task<> { EXPECT_THROW(co_await curio::spawn_on(1, fail_after(1ms)), Boom); });
}

TEST(ParallelSpawnOn, ManyCallsFromSeveralTasksAllComeBack) {
  on_kernel0([]() -> Task<> {
    int total = 0;
    curio::TaskGroup g;
    co_await g.scope([&]() -> Task<> {
      for (int t = 0; t < 20; ++t) {
        g.spawn([&, t]() -> Task<> {
          for (int j = 0; j < 50; ++j) {
            int v = co_await curio::spawn_on(1, [t, j]() -> Task<int> { co_return t * 100 + j; });
            EXPECT_EQ(v, t * 100 + j);
            ++total;
          }
        });
      }
      co_return;
    });
    EXPECT_EQ(total, 1000);
  });
}

TEST(ParallelSpawnOn, CancellingTheCallerCancelsTheRemoteTaskAndWaitsForIt) {
  std::atomic<bool> remote_cancelled{false};
  std::atomic<bool> remote_started{false};
  on_kernel0([&]() -> Task<> {
    auto caller = curio::spawn([&]() -> Task<> {
      co_await curio::spawn_on(1, [&]() -> Task<> {
        remote_started = true;
        bool cancelled = false;
        try {
          co_await curio::sleep(60s);
        } catch (const curio::TaskCancelled&) {
          cancelled = true;
        }
        if (cancelled) {
          co_await curio::sleep(10ms);  // still running when the caller's cancel began
          remote_cancelled = true;
          throw curio::TaskCancelled();
        }
      });
    });
    // A remote task cancelled before it starts never runs: cancel once it waits.
    for (int i = 0; i < 10'000 && !remote_started.load(); ++i) co_await curio::sleep(1ms);
    co_await curio::sleep(10ms);
    co_await caller.cancel();
    EXPECT_TRUE(remote_cancelled.load());  // the caller ended only after the remote task did
    EXPECT_TRUE(caller.cancelled());
  });
}

TEST(ParallelSpawnOn, ATimeoutAroundTheCallRaisesTaskTimeoutAndCancelsTheRemoteTask) {
  std::atomic<bool> remote_cancelled{false};
  on_kernel0([&]() -> Task<> {
    co_await curio::spawn_on(1, where_am_i("warm-up"));  // kernel 1 is running
    // 500 ms: long enough for kernel 1 to start the remote task on a loaded machine (a remote
    // task cancelled before it starts never runs), short beside its 60 s.
    EXPECT_THROW(co_await curio::timeout_after(500ms, curio::spawn_on(1,
                                                                      [&]() -> Task<> {
                                                                        try {
                                                                          co_await curio::sleep(60s);
                                                                        } catch (const curio::TaskCancelled&) {
                                                                          remote_cancelled = true;
                                                                          throw;
                                                                        }
                                                                      })),
                 curio::TaskTimeout);
    EXPECT_TRUE(remote_cancelled.load());
  });
}

TEST(ParallelSpawnOn, IgnoreAfterAroundAQuickCallGetsItsValue) {
  on_kernel0([]() -> Task<> {
    auto r = co_await curio::ignore_after(5s, curio::spawn_on(1, where_am_i("quick")));
    EXPECT_EQ(r.value_or("none"), "quick on kernel 1");
  });
}

TEST(ParallelSpawnOn, OnItsOwnKernelWorksToo) {
  on_kernel0([]() -> Task<> { EXPECT_EQ(co_await curio::spawn_on(0, where_am_i("self")), "self on kernel 0"); });
}

TEST(ParallelSpawnOn, ToAKernelThatDoesNotExistIsARuntimeError) {
  on_kernel0([]() -> Task<> {
    EXPECT_THROW(co_await curio::spawn_on(2, where_am_i("x")), curio::RuntimeError);
    EXPECT_THROW(co_await curio::call_on(7, [] { return 1; }), curio::RuntimeError);
  });
}

TEST(ParallelSpawnOn, OutsideRunParallelIsARuntimeError) {
  curio::run([]() -> Task<> {
    EXPECT_THROW(co_await curio::spawn_on(0, where_am_i("x")), curio::RuntimeError);
    EXPECT_THROW(co_await curio::call_on(0, [] { return 1; }), curio::RuntimeError);
  }());
}

TEST(ParallelSpawnOn, OutsideATaskIsAnAsyncOnlyError) {
  EXPECT_THROW((void)curio::spawn_on(0, where_am_i("x")), curio::AsyncOnlyError);
}

TEST(ParallelSpawnOn, ToAKernelThatHasShutDownIsARuntimeError) {
  // Both mains end at once; a shielded daemon on kernel 0 keeps calling kernel 1 while the
  // kernels shut down, until kernel 1 is gone: then the call raises instead of hanging.
  std::atomic<int> gone{0};
  curio::run_parallel(2, [&](std::size_t i) -> Task<> {
    if (i == 0) {
      curio::spawn(
          [&]() -> Task<> {
            co_await curio::disable_cancellation([&]() -> Task<> {
              for (;;) {
                try {
                  co_await curio::call_on(1, [] { return 1; });
                } catch (const curio::RuntimeError&) {
                  ++gone;
                  co_return;
                }
                co_await curio::sleep(1ms);
              }
            });
          },
          {.daemon = true});
    }
    co_return;
  });
  EXPECT_EQ(gone.load(), 1);
}

TEST(ParallelCallOn, RunsTheFunctionOnTheTargetKernelsThread) {
  on_kernel0([]() -> Task<> {
    std::thread::id here = std::this_thread::get_id();
    std::thread::id there = co_await curio::call_on(1, [] { return std::this_thread::get_id(); });
    EXPECT_NE(here, there);
    EXPECT_EQ(co_await curio::call_on(1, [] { return curio::kernel_index(); }), 1u);
  });
}

TEST(ParallelCallOn, RaisesTheFunctionsException) {
  on_kernel0([]() -> Task<> { EXPECT_THROW(co_await curio::call_on(1, []() -> int { throw Boom(); }), Boom); });
}

TEST(ParallelCallOn, ReadsStateThatBelongsToTheOtherKernel) {
  // Each kernel owns a counter only its own tasks touch; call_on reads kernel 1's one there.
  static thread_local int owned = 0;
  curio::run_parallel(2, [&](std::size_t i) -> Task<> {
    owned = static_cast<int>(i) * 10 + 5;
    if (i == 0) {
      co_await curio::sleep(10ms);
      EXPECT_EQ(co_await curio::call_on(1, [] { return owned; }), 15);
      co_await curio::call_on(1, [] { owned = 99; });
      EXPECT_EQ(co_await curio::call_on(1, [] { return owned; }), 99);
      EXPECT_EQ(owned, 5);
    }
  });
}

TEST(ParallelUniversal, AUniversalQueueCarriesItemsBetweenKernels) {
  curio::UniversalQueue<int> q;
  long sum = 0;
  curio::run_parallel(2, [&](std::size_t i) -> Task<> {
    if (i == 0) {
      for (int v = 1; v <= 1000; ++v) co_await q.put(v);
      co_await q.put(0);  // end marker
    } else {
      while (int v = co_await q.get()) sum += v;
    }
  });
  EXPECT_EQ(sum, 1000L * 1001 / 2);
}

TEST(ParallelUniversal, AUniversalEventWakesATaskOnAnotherKernel) {
  curio::UniversalEvent ev;
  std::atomic<bool> woke{false};
  curio::run_parallel(2, [&](std::size_t i) -> Task<> {
    if (i == 0) {
      co_await curio::sleep(20ms);
      ev.set();
    } else {
      co_await ev.wait();
      woke = true;
    }
  });
  EXPECT_TRUE(woke.load());
}
