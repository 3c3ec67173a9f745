// run_parallel: start and stop, kernel indices, pinning, the first failure, signals.
// Timing tolerances: sleeps of 1-50 ms only order events; nothing asserts a duration. A main
// that stops the others first waits until they have started (until_started, at most 10 s).
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "core/test_support.hpp"

using namespace curio_test;
using curio::Task;

namespace {

std::vector<int> affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (::sched_getaffinity(0, sizeof set, &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) out.push_back(c);
  return out;
}

// Waits until n mains have said they started: a kernel thread can start late on a loaded machine,
// and a stop that comes before a kernel's main starts keeps that main from running at all.
Task<> until_started(const std::atomic<int>& started, int n) {
  for (int i = 0; i < 10'000 && started.load() < n; ++i) co_await curio::sleep(1ms);
}

}  // namespace

TEST(ParallelRun, RunsMainOnEveryKernelEachOnItsOwnThread) {
  std::mutex mu;
  std::set<std::size_t> indices;
  std::set<std::thread::id> threads;
  curio::run_parallel(3, [&](std::size_t i) -> Task<> {
    co_await curio::sleep(1ms);
    EXPECT_EQ(curio::kernel_index(), i);
    EXPECT_EQ(curio::kernel_count(), 3u);
    std::lock_guard lock(mu);
    indices.insert(i);
    threads.insert(std::this_thread::get_id());
  });
  EXPECT_EQ(indices, (std::set<std::size_t>{0, 1, 2}));
  EXPECT_EQ(threads.size(), 3u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
}

TEST(ParallelRun, DefaultKernelCountIsTheNumberOfCpusInTheAffinityMask) {
  EXPECT_EQ(curio::usable_cpu_count(), affinity().size());
  std::atomic<int> mains{0};
  curio::run_parallel([&](std::size_t) -> Task<> {
    ++mains;
    co_return;
  });
  EXPECT_EQ(mains.load(), static_cast<int>(curio::usable_cpu_count()));
}

TEST(ParallelRun, PinnedKernelsRunOnTheirCpuOfTheAffinityMask) {
  std::vector<int> cpus = affinity();
  std::vector<int> seen(4, -1);
  curio::run_parallel(4,
                      [&](std::size_t i) -> Task<> {
                        seen[i] = ::sched_getcpu();
                        co_return;
                      },
                      {.pin = true});
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(seen[i], cpus[i % cpus.size()]) << "kernel " << i;
}

TEST(ParallelRun, ReturnsOnlyWhenEveryMainHasEnded) {
  std::atomic<int> ended{0};
  curio::run_parallel(2, [&](std::size_t i) -> Task<> {
    co_await curio::sleep(i == 0 ? 1ms : 50ms);
    ++ended;
  });
  EXPECT_EQ(ended.load(), 2);
}

TEST(ParallelRun, FirstExceptionCancelsTheOtherMainsAndIsRaised) {
  std::atomic<int> cancelled{0};
  std::atomic<int> started{0};
  auto main = [&](std::size_t i) -> Task<> {
    if (i == 1) {
      co_await until_started(started, 2);
      throw Boom();
    }
    ++started;
    try {
      co_await curio::sleep(60s);
    } catch (const curio::TaskCancelled&) {
      ++cancelled;
      throw;
    }
  };
  EXPECT_THROW(curio::run_parallel(3, main), Boom);
  EXPECT_EQ(cancelled.load(), 2);
}

TEST(ParallelRun, AnExceptionRaisedWhileTheOthersAreCancelledDoesNotReplaceTheFirst) {
  auto main = [&](std::size_t i) -> Task<> {
    if (i == 0) throw Boom();
    try {
      co_await curio::sleep(60s);
    } catch (const curio::TaskCancelled&) {
      throw std::logic_error("second");
    }
  };
  EXPECT_THROW(curio::run_parallel(2, main), Boom);
}

TEST(ParallelRun, SigtermStopsEveryKernelGracefully) {
  std::atomic<int> cancelled{0};
  std::atomic<int> started{0};
  auto main = [&](std::size_t i) -> Task<> {
    ++started;
    if (i == 0) {
      co_await until_started(started, 2);
      ::kill(::getpid(), SIGTERM);  // process-directed, as from a shell or systemd
    }
    try {
      co_await curio::sleep(60s);
    } catch (const curio::TaskCancelled&) {
      ++cancelled;
      throw;
    }
  };
  curio::run_parallel(2, main, {.stop_on_signals = true});  // returns normally
  EXPECT_EQ(cancelled.load(), 2);
}

TEST(ParallelRun, SigintStopsEveryKernelGracefully) {
  std::atomic<int> cancelled{0};
  std::atomic<int> started{0};
  auto main = [&](std::size_t i) -> Task<> {
    ++started;
    if (i == 1) {
      co_await until_started(started, 2);
      ::kill(::getpid(), SIGINT);
    }
    try {
      co_await curio::sleep(60s);
    } catch (const curio::TaskCancelled&) {
      ++cancelled;
    }
  };
  curio::run_parallel(2, main, {.stop_on_signals = true});
  EXPECT_EQ(cancelled.load(), 2);
}

TEST(ParallelRun, AKernelWhoseMainEndedKeepsServingTheOthers) {
  auto main = [&](std::size_t i) -> Task<> {
    if (i == 1) co_return;  // kernel 1 has nothing of its own to do
    co_await curio::sleep(30ms);
    std::size_t where = co_await curio::call_on(1, [] { return curio::kernel_index(); });
    EXPECT_EQ(where, 1u);
  };
  curio::run_parallel(2, main);
}

TEST(ParallelRun, TasksLeftOnAKernelAreCancelledAtTheEnd) {
  std::atomic<int> cancelled{0};
  curio::run_parallel(2, [&](std::size_t) -> Task<> {
    curio::spawn(
        [&]() -> Task<> {
          try {
            co_await curio::sleep(60s);
          } catch (const curio::TaskCancelled&) {
            ++cancelled;
          }
        },
        {.daemon = true});
    co_return;
  });
  EXPECT_EQ(cancelled.load(), 2);
}

TEST(ParallelRun, CalledInsideAKernelIsARuntimeError) {
  curio::run([]() -> Task<> {
    EXPECT_THROW(curio::run_parallel(1, [](std::size_t) -> Task<> { co_return; }), curio::RuntimeError);
    co_return;
  }());
}

TEST(ParallelRun, AnEmptyMainIsARuntimeError) { EXPECT_THROW(curio::run_parallel(2, {}), curio::RuntimeError); }

TEST(ParallelRun, KernelIndexOutsideARunIsARuntimeError) {
  EXPECT_THROW(curio::kernel_index(), curio::RuntimeError);
  EXPECT_THROW(curio::kernel_count(), curio::RuntimeError);
}
