// run_in_thread and block_in_thread. Timing tolerance: "released at once" means within 1 s of a
// 5 s job; a job of 200 ms must let a 10 ms ticker tick at least 5 times (it would tick 0 if the
// kernel were blocked). Generous for a loaded 2-core machine.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/test_support.hpp"

using namespace curio_test;
using curio::Task;

namespace {
int add(int a, int b) { return a + b; }
void block_for(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }
struct Custom {
  int code;
};
}  // namespace

TEST(WorkersRunInThread, ReturnsTheValue) {
  EXPECT_EQ(curio::run([]() -> Task<int> { co_return co_await curio::run_in_thread(add, 2, 3); }()), 5);
}

TEST(WorkersRunInThread, KernelKeepsRunningWhileTheThreadBlocks) {
  auto main = []() -> Task<int> {
    int ticks = 0;
    auto ticker = curio::spawn([&]() -> Task<> {
      for (;;) {
        co_await curio::sleep(10ms);
        ++ticks;
      }
    });
    co_await curio::run_in_thread(block_for, 200ms);
    co_await ticker.cancel();
    co_return ticks;
  };
  EXPECT_GE(curio::run(main()), 5);
}

TEST(WorkersRunInThread, ExceptionComesBackUnchanged) {
  auto main = []() -> Task<> {
    try {
      co_await curio::run_in_thread([] { throw Custom{42}; });
      ADD_FAILURE() << "no exception";
    } catch (const Custom& c) {
      EXPECT_EQ(c.code, 42);
    }
  };
  curio::run(main());
}

TEST(WorkersRunInThread, CancellationReleasesTheTaskAtOnce) {
  auto main = []() -> Task<double> {
    auto job = curio::spawn([]() -> Task<> { co_await curio::run_in_thread(block_for, 5000ms); });
    co_await curio::sleep(50ms);
    auto t0 = curio::clock();
    co_await job.cancel();
    co_return seconds_since(t0);
  };
  EXPECT_LT(curio::run(main()), 1.0);
}

TEST(WorkersRunInThread, TimeoutReleasesTheTaskAtTheDeadline) {
  auto main = []() -> Task<double> {
    auto t0 = curio::clock();
    try {
      co_await curio::timeout_after(100ms, curio::run_in_thread(block_for, 5000ms));
      ADD_FAILURE() << "no timeout";
    } catch (const curio::TaskTimeout&) {
    }
    co_return seconds_since(t0);
  };
  double took = curio::run(main());
  EXPECT_GE(took, 0.09);
  EXPECT_LT(took, 1.0);
}

TEST(WorkersRunInThread, CallOnCancelRunsWhenARunningJobIsCancelled) {
  auto main = []() -> Task<> {
    auto stop = std::make_shared<std::atomic<bool>>(false);
    auto job = curio::spawn([stop]() -> Task<> {
      // Named, not written inside the co_await: GCC 12 destroys by-value lambda captures twice
      // when the lambda is a temporary in a co_await expression (docs/core.md).
      curio::CallOnCancel hook([stop] { *stop = true; });
      auto wait_for_stop = [stop] {
        while (!*stop) std::this_thread::sleep_for(1ms);
      };
      co_await curio::run_in_thread(std::move(hook), wait_for_stop);
    });
    co_await curio::sleep(50ms);
    co_await job.cancel();
    EXPECT_TRUE(*stop);
  };
  curio::run(main());
}

TEST(WorkersRunInThread, AQueuedJobCancelledBeforeItStartsNeverRuns) {
  auto main = []() -> Task<> {
    std::size_t old = curio::worker_thread_limit();
    curio::set_worker_thread_limit(1);
    auto ran = std::make_shared<std::atomic<bool>>(false);
    auto first = curio::spawn([]() -> Task<> { co_await curio::run_in_thread(block_for, 300ms); });
    co_await curio::sleep(20ms);
    auto second = curio::spawn([ran]() -> Task<> {
      auto mark = [ran] { *ran = true; };
      co_await curio::run_in_thread(mark);
    });
    co_await curio::sleep(20ms);
    co_await second.cancel();
    co_await first.join();
    co_await curio::run_in_thread([] {});  // the single worker has passed the cancelled job
    EXPECT_FALSE(*ran);
    curio::set_worker_thread_limit(old);
  };
  curio::run(main());
}

TEST(WorkersRunInThread, AtMostTheLimitOfJobsRunAtOnce) {
  auto main = []() -> Task<int> {
    std::size_t old = curio::worker_thread_limit();
    curio::set_worker_thread_limit(2);
    auto running = std::make_shared<std::atomic<int>>(0);
    auto most = std::make_shared<std::atomic<int>>(0);
    curio::TaskGroup g;
    for (int i = 0; i < 6; ++i)
      g.spawn(curio::run_in_thread([running, most] {
        int now = ++*running;
        int seen = *most;
        while (now > seen && !most->compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(20ms);
        --*running;
      }));
    co_await g.join();
    curio::set_worker_thread_limit(old);
    co_return most->load();
  };
  EXPECT_EQ(curio::run(main()), 2);
}

namespace {
std::atomic<int> gate_inside{0};
std::atomic<int> gate_most{0};
void gated_call() {
  int now = ++gate_inside;
  int seen = gate_most;
  while (now > seen && !gate_most.compare_exchange_weak(seen, now)) {
  }
  std::this_thread::sleep_for(30ms);
  --gate_inside;
}
}  // namespace

TEST(WorkersBlockInThread, AtMostOneThreadPerCallableAtATime) {
  auto main = []() -> Task<> {
    curio::TaskGroup g;
    for (int i = 0; i < 3; ++i) g.spawn(curio::block_in_thread(gated_call));
    co_await g.join();
  };
  curio::run(main());
  EXPECT_EQ(gate_most.load(), 1);
}

TEST(WorkersBlockInThread, DifferentCallablesRunConcurrently) {
  auto main = []() -> Task<double> {
    auto t0 = curio::clock();
    curio::TaskGroup g;
    g.spawn(curio::block_in_thread(block_for, 200ms));
    g.spawn(curio::block_in_thread([] { std::this_thread::sleep_for(200ms); }));
    co_await g.join();
    co_return seconds_since(t0);
  };
  EXPECT_LT(curio::run(main()), 0.39);  // sequential would be 0.4 s
}

TEST(WorkersRunInThread, TimeoutsRacingJobCompletionKeepThePoolCountRight) {
  // A timeout about as long as the job often fires after the job finished but before its task
  // saw the result; that must not retire a worker that stays in the pool.
  auto main = []() -> Task<std::size_t> {
    auto job = [] { std::this_thread::sleep_for(900us); };
    for (int i = 0; i < 1000; ++i) co_await curio::ignore_after(1ms, curio::run_in_thread(job));
    co_await curio::run_in_thread(job);  // the pool still takes work
    co_return curio::worker_thread_count();
  };
  std::size_t workers = curio::run(main());
  EXPECT_GE(workers, 1u);
  EXPECT_LE(workers, curio::worker_thread_limit());
}
