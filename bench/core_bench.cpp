// bench/core_bench.cpp: micro-benchmarks of the core (issue 2), each beside its Boost.Asio
// 1.81 peer. One kernel (or io_context) per benchmark function; the `for (auto _ : state)`
// loop runs inside a task, so kernel set-up and shut-down are not measured.
//
//   BM_SpawnJoin      spawn a trivial task and join it (value returned)
//   BM_SwitchEvent    two tasks ping-pong through two Events (Asio: two unbuffered channels)
//   BM_SwitchYield    two tasks each yielding in a loop: sleep(0) (Asio: co_await post)
//   BM_TimeoutAfter   timeout_after(1s, op) around an op that completes at once
// The /curio_activation and /curio_monitor variants run the same with a do-nothing Activation
// installed, and with the monitor on (issue 12's costs).
// Switch benchmarks count one iteration as a round trip (two switches) and report the
// per_switch counter. The 1,000,000-sleepers figure comes from curio_sleepers (sleepers.cpp).
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <chrono>

#include "asio_peers.hpp"
#include "curio/curio.hpp"

using namespace std::chrono_literals;
namespace asio = bench::asio;
using bench::awaitable;
using bench::use_awaitable;

namespace {

curio::Task<int> trivial() { co_return 1; }
awaitable<int> asio_trivial() { co_return 1; }

// --- spawn + join ---------------------------------------------------------------------------

// Issue 12's costs: the same benchmarks with an activation whose hooks do nothing (the price of
// the hook calls themselves) and with the monitor on (its probe records every switch).
struct NoopActivation : curio::Activation {};
curio::KernelOptions kernel_options(int mode) {
  curio::KernelOptions o;
  if (mode == 1) o.activations.push_back(std::make_shared<NoopActivation>());
  if (mode == 2) {
    o.monitor = true;
    o.monitor_port = 0;
  }
  return o;
}

template <int Mode = 0>
void SpawnJoin_curio(benchmark::State& state) {
  curio::run(
      [&]() -> curio::Task<> {
        for (auto _ : state) {
          auto h = curio::spawn(trivial());
          int v = co_await h.join();
          benchmark::DoNotOptimize(v);
        }
      }(),
      kernel_options(Mode));
}

// The like-for-like peer: a coroutine co_spawns a trivial coroutine and awaits its completion.
void SpawnJoin_asio(benchmark::State& state) {
  bench::run_asio([&](asio::any_io_executor ex) -> awaitable<void> {
    for (auto _ : state) {
      int v = co_await asio::co_spawn(ex, asio_trivial(), use_awaitable);
      benchmark::DoNotOptimize(v);
    }
  });
}

// co_spawn with a completion handler from outside, then restart() + run() of the same
// io_context (the set-up the issue text describes).
void SpawnJoin_asio_run(benchmark::State& state) {
  asio::io_context ctx(BENCH_ASIO_HINT);
  for (auto _ : state) {
    int out = 0;
    asio::co_spawn(ctx, asio_trivial(), [&out](std::exception_ptr, int v) { out = v; });
    ctx.restart();
    ctx.run();
    benchmark::DoNotOptimize(out);
  }
}

// --- switch: Event ping-pong ------------------------------------------------------------------

template <int Mode = 0>
void SwitchEvent_curio(benchmark::State& state) {
  curio::run(
      [&]() -> curio::Task<> {
        curio::Event ping, pong;
        bool done = false;
        auto partner = curio::spawn([&]() -> curio::Task<> {
          for (;;) {
            co_await ping.wait();
            ping.clear();
            if (done) co_return;
            pong.set();
          }
        });
        for (auto _ : state) {
          ping.set();
          co_await pong.wait();
          pong.clear();
        }
        done = true;
        ping.set();
        co_await partner.join();
      }(),
      kernel_options(Mode));
  bench::time_per(state, "per_switch", 2);
}

// Asio has no event; the closest is a rendezvous channel (capacity 0) each way.
void SwitchEvent_asio(benchmark::State& state) {
  bench::run_asio([&](asio::any_io_executor ex) -> awaitable<void> {
    bench::IntChannel ping(ex, 0), pong(ex, 0);
    bool partner_done = false;
    asio::co_spawn(
        ex,
        [&]() -> awaitable<void> {
          for (;;) {
            int v = co_await ping.async_receive(use_awaitable);
            if (v < 0) break;
            co_await pong.async_send(boost::system::error_code{}, v, use_awaitable);
          }
          partner_done = true;
        },
        asio::detached);
    for (auto _ : state) {
      co_await ping.async_send(boost::system::error_code{}, 1, use_awaitable);
      int v = co_await pong.async_receive(use_awaitable);
      benchmark::DoNotOptimize(v);
    }
    co_await ping.async_send(boost::system::error_code{}, -1, use_awaitable);
    while (!partner_done) co_await asio::post(ex, use_awaitable);  // it uses our locals
  });
  bench::time_per(state, "per_switch", 2);
}

// --- switch: yield ping-pong ------------------------------------------------------------------

template <int Mode = 0>
void SwitchYield_curio(benchmark::State& state) {
  curio::run(
      [&]() -> curio::Task<> {
        bool done = false;
        auto partner = curio::spawn([&]() -> curio::Task<> {
          while (!done) co_await curio::sleep(0s);
        });
        for (auto _ : state) co_await curio::sleep(0s);
        done = true;
        co_await partner.join();
      }(),
      kernel_options(Mode));
  bench::time_per(state, "per_switch", 2);
}

void SwitchYield_asio(benchmark::State& state) {
  bench::run_asio([&](asio::any_io_executor ex) -> awaitable<void> {
    bool done = false, partner_done = false;
    asio::co_spawn(
        ex,
        [&]() -> awaitable<void> {
          while (!done) co_await asio::post(ex, use_awaitable);
          partner_done = true;
        },
        asio::detached);
    for (auto _ : state) co_await asio::post(ex, use_awaitable);
    done = true;
    while (!partner_done) co_await asio::post(ex, use_awaitable);  // it uses our locals
  });
  bench::time_per(state, "per_switch", 2);
}

// --- timeout_after around an op that completes in time ----------------------------------------

void TimeoutAfter_curio(benchmark::State& state) {
  curio::run([&]() -> curio::Task<> {
    for (auto _ : state) {
      int v = co_await curio::timeout_after(1s, trivial());
      benchmark::DoNotOptimize(v);
    }
  }());
}

// The same op without the timeout: the difference is the cost of setting + clearing it.
void TimeoutAfter_curio_no_timeout(benchmark::State& state) {
  curio::run([&]() -> curio::Task<> {
    for (auto _ : state) {
      int v = co_await trivial();
      benchmark::DoNotOptimize(v);
    }
  }());
}

// Asio's idiom for a timeout on an awaitable: race it against a timer (awaitable operator ||).
void TimeoutAfter_asio(benchmark::State& state) {
  using namespace boost::asio::experimental::awaitable_operators;
  bench::run_asio([&](asio::any_io_executor ex) -> awaitable<void> {
    asio::steady_timer timer(ex);
    for (auto _ : state) {
      timer.expires_after(1s);
      auto r = co_await (asio_trivial() || timer.async_wait(use_awaitable));
      benchmark::DoNotOptimize(r);
    }
  });
}

void TimeoutAfter_asio_no_timeout(benchmark::State& state) {
  bench::run_asio([&](asio::any_io_executor) -> awaitable<void> {
    for (auto _ : state) {
      int v = co_await asio_trivial();
      benchmark::DoNotOptimize(v);
    }
  });
}

}  // namespace

BENCHMARK(SpawnJoin_curio<0>)->Name("BM_SpawnJoin/curio");
BENCHMARK(SpawnJoin_curio<1>)->Name("BM_SpawnJoin/curio_activation");
BENCHMARK(SpawnJoin_curio<2>)->Name("BM_SpawnJoin/curio_monitor");
BENCHMARK(SpawnJoin_asio)->Name("BM_SpawnJoin/asio");
BENCHMARK(SpawnJoin_asio_run)->Name("BM_SpawnJoin/asio_run");
BENCHMARK(SwitchEvent_curio<0>)->Name("BM_SwitchEvent/curio");
BENCHMARK(SwitchEvent_curio<1>)->Name("BM_SwitchEvent/curio_activation");
BENCHMARK(SwitchEvent_curio<2>)->Name("BM_SwitchEvent/curio_monitor");
BENCHMARK(SwitchEvent_asio)->Name("BM_SwitchEvent/asio");
BENCHMARK(SwitchYield_curio<0>)->Name("BM_SwitchYield/curio");
BENCHMARK(SwitchYield_curio<1>)->Name("BM_SwitchYield/curio_activation");
BENCHMARK(SwitchYield_curio<2>)->Name("BM_SwitchYield/curio_monitor");
BENCHMARK(SwitchYield_asio)->Name("BM_SwitchYield/asio");
BENCHMARK(TimeoutAfter_curio)->Name("BM_TimeoutAfter/curio");
BENCHMARK(TimeoutAfter_curio_no_timeout)->Name("BM_TimeoutAfter/curio_no_timeout");
BENCHMARK(TimeoutAfter_asio)->Name("BM_TimeoutAfter/asio");
BENCHMARK(TimeoutAfter_asio_no_timeout)->Name("BM_TimeoutAfter/asio_no_timeout");
