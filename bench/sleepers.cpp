// bench/sleepers.cpp: N concurrent sleeping tasks (default 1,000,000): the time to spawn them,
// to get them all asleep, and to wake them all, and the memory each one costs.
//
//   curio_sleepers [--tasks N] [--spread-ms MS] [--margin-ms MS] [--asio]
//
// Every task sleeps until base + offset. base is the start of spawning + margin (default 2 s,
// enough for all to be spawned and asleep before the first deadline); the offsets are spread
// over MS milliseconds in a scrambled order (0: all at the same instant, so "wake" is the pure
// cost of expiring N timers and running N tasks to their end). Memory is the
// growth of the resident set (VmRSS) from before the first spawn to the moment all tasks are
// asleep: everything a sleeping task costs (coroutine frame, task record, timer slot, malloc
// headers), not only the kernel's bookkeeping. --asio runs the same with Boost.Asio coroutines
// (co_spawn + a steady_timer each) for comparison. One mode per process, so peaks do not mix.
#include <sys/resource.h>

#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "curio/curio.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Mem {
  long rss_kb = 0;
  long hwm_kb = 0;
};

Mem read_mem() {
  Mem m;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) m.rss_kb = std::atol(line.c_str() + 6);
    if (line.rfind("VmHWM:", 0) == 0) m.hwm_kb = std::atol(line.c_str() + 6);
  }
  return m;
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// What all sleepers share; each knows only its index.
struct Shared {
  std::size_t n = 0;
  Clock::duration spread{};
  Clock::duration margin{};  // base = start of spawning + margin
  Clock::time_point base{};
  std::size_t armed = 0;
  std::size_t woke = 0;
  Clock::time_point last_woke{};
};

Clock::time_point deadline_of(const Shared& s, std::uint32_t i) {
  if (s.spread == Clock::duration::zero()) return s.base;
  // Scrambled offsets (Knuth's multiplicative hash mod n): the timer heap sees deadlines in an
  // order unrelated to the spawn order.
  std::uint64_t k = (static_cast<std::uint64_t>(i) * 2654435761u) % s.n;
  return s.base + s.spread * static_cast<std::int64_t>(k) / static_cast<std::int64_t>(s.n);
}

struct Phases {
  double spawn_wall = 0, arm_wall = 0, wake_wall = 0, wake_cpu = 0, late = 0, teardown = 0;
  Mem before, asleep, after;
};

// --- curio ------------------------------------------------------------------------------------

curio::Task<> sleeper(Shared& s, std::uint32_t i) {
  ++s.armed;
  co_await curio::wake_at(deadline_of(s, i));
  if (++s.woke == s.n) s.last_woke = Clock::now();
}

Phases run_curio(Shared& s) {
  Phases p;
  p.before = read_mem();
  double cpu0 = 0;
  Clock::time_point t_end;
  {
    curio::Kernel kernel;
    kernel.run([&]() -> curio::Task<> {
      auto t0 = Clock::now();
      s.base = t0 + s.margin;
      for (std::uint32_t i = 0; i < s.n; ++i) curio::spawn(sleeper(s, i), curio::SpawnOptions{.daemon = true});
      auto t1 = Clock::now();
      p.spawn_wall = secs(t1 - t0);
      while (s.armed < s.n) co_await curio::sleep(0s);  // one cycle runs them all to their sleep
      auto t2 = Clock::now();
      p.arm_wall = secs(t2 - t1);
      if (t2 >= s.base) std::fprintf(stderr, "warning: arming ran past the first deadline (raise --margin-ms)\n");
      p.asleep = read_mem();
      cpu0 = cpu_seconds();
      while (s.woke < s.n) co_await curio::sleep(10ms);
    }());
    p.wake_cpu = cpu_seconds() - cpu0;
    t_end = Clock::now();
  }  // kernel shutdown: the finished tasks are already gone
  p.teardown = secs(Clock::now() - t_end);
  p.wake_wall = secs(s.last_woke - s.base);
  p.late = secs(s.last_woke - (s.base + s.spread));
  p.after = read_mem();
  return p;
}

// --- Boost.Asio -------------------------------------------------------------------------------

namespace asio = boost::asio;

asio::awaitable<void> asio_sleeper(Shared& s, std::uint32_t i) {
  asio::steady_timer timer(co_await asio::this_coro::executor, deadline_of(s, i));
  ++s.armed;
  co_await timer.async_wait(asio::use_awaitable);
  if (++s.woke == s.n) s.last_woke = Clock::now();
}

Phases run_asio(Shared& s) {
  Phases p;
  p.before = read_mem();
  double cpu0 = 0;
  Clock::time_point t_end;
  {
    asio::io_context ctx(1);
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
          auto ex = co_await asio::this_coro::executor;
          auto t0 = Clock::now();
          s.base = t0 + s.margin;
          // co_spawn starts each sleeper at once (dispatch on its own thread): it arms its timer
          // inside this loop.
          for (std::uint32_t i = 0; i < s.n; ++i) asio::co_spawn(ex, asio_sleeper(s, i), asio::detached);
          auto t1 = Clock::now();
          p.spawn_wall = secs(t1 - t0);
          while (s.armed < s.n) co_await asio::post(ex, asio::use_awaitable);
          auto t2 = Clock::now();
          p.arm_wall = secs(t2 - t1);
          if (t2 >= s.base) std::fprintf(stderr, "warning: arming ran past the first deadline (raise --margin-ms)\n");
          p.asleep = read_mem();
          cpu0 = cpu_seconds();
        },
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
    ctx.run();  // returns when every sleeper has finished
    p.wake_cpu = cpu_seconds() - cpu0;
    t_end = Clock::now();
  }
  p.teardown = secs(Clock::now() - t_end);
  p.wake_wall = secs(s.last_woke - s.base);
  p.late = secs(s.last_woke - (s.base + s.spread));
  p.after = read_mem();
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  Shared s;
  s.n = 1'000'000;
  long spread_ms = 0;
  long margin_ms = 2000;
  bool use_asio = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--tasks") && i + 1 < argc)
      s.n = std::strtoul(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--spread-ms") && i + 1 < argc)
      spread_ms = std::strtol(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--margin-ms") && i + 1 < argc)
      margin_ms = std::strtol(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--asio"))
      use_asio = true;
    else {
      std::fprintf(stderr, "usage: %s [--tasks N] [--spread-ms MS] [--margin-ms MS] [--asio]\n", argv[0]);
      return 2;
    }
  }
  if (s.n == 0) return 2;
  s.spread = std::chrono::milliseconds(spread_ms);
  s.margin = std::chrono::milliseconds(margin_ms);

  Phases p = use_asio ? run_asio(s) : run_curio(s);
  if (s.woke != s.n) {
    std::fprintf(stderr, "error: %zu of %zu sleepers woke\n", s.woke, s.n);
    return 1;
  }

  const double n = static_cast<double>(s.n);
  const double rss_per_task = static_cast<double>(p.asleep.rss_kb - p.before.rss_kb) * 1024.0 / n;
  const double hwm_per_task = static_cast<double>(p.asleep.hwm_kb - p.before.hwm_kb) * 1024.0 / n;
  std::printf("%s: %zu sleeping tasks, deadlines spread over %ld ms\n", use_asio ? "asio" : "curio", s.n, spread_ms);
  std::printf("  spawn all      %8.3f s  %7.1f ns/task\n", p.spawn_wall, p.spawn_wall * 1e9 / n);
  std::printf("  all asleep     %8.3f s  %7.1f ns/task  (first run of each task, timer armed)\n", p.arm_wall,
              p.arm_wall * 1e9 / n);
  std::printf("  wake all       %8.3f s  %7.1f ns/task  (first deadline -> last task woken)\n", p.wake_wall,
              p.wake_wall * 1e9 / n);
  std::printf("                 %8.3f s CPU while waking; last wake-up %.1f ms after the last deadline\n", p.wake_cpu,
              p.late * 1e3);
  std::printf("  teardown       %8.3f s\n", p.teardown);
  std::printf("  memory         VmRSS %ld -> %ld KiB while asleep (%ld KiB after), VmHWM %ld -> %ld KiB\n",
              p.before.rss_kb, p.asleep.rss_kb, p.after.rss_kb, p.before.hwm_kb, p.asleep.hwm_kb);
  std::printf("  per task       %.0f bytes RSS (%.0f bytes by VmHWM), everything included\n", rss_per_task,
              hwm_per_task);
  if (!use_asio) {
    constexpr std::size_t kTaskState = sizeof(curio::detail::TaskState);
    constexpr std::size_t g = curio::detail::FramePool::kGranule;
    std::printf("  bookkeeping    sizeof(TaskState) %zu (pool block %zu) + timer heap entry 16 = %zu bytes\n",
                kTaskState, (kTaskState + g - 1) / g * g, (kTaskState + g - 1) / g * g + 16);
  }
  return 0;
}
