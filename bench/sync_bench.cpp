// bench/sync_bench.cpp: micro-benchmarks of the sync layer (issue 3), each beside its
// Boost.Asio 1.81 peer. One kernel (or io_context) per benchmark function; the
// `for (auto _ : state)` loop runs inside a task.
//
//   BM_LockUncontended   acquire + release of a free Lock (Asio: a capacity-1 channel used as
//                        a token: async_send takes it, try_receive gives it back)
//   BM_LockScoped        the same through `auto held = co_await lock.scoped();`
//   BM_LockHandoff       two tasks alternately take the lock and yield while holding it, so
//                        every acquisition is a hand-off from the other task (per_handoff)
//   BM_Queue/...         one producer task, one consumer task, maxsize 1, 64 and unbounded
//                        (Asio: experimental::channel with that capacity); items/second
#include <cstddef>
#include <cstdint>
#include <limits>

#include "asio_peers.hpp"
#include "curio/curio.hpp"

using namespace std::chrono_literals;
namespace asio = bench::asio;
using bench::awaitable;
using bench::use_awaitable;

namespace {

// --- uncontended lock -----------------------------------------------------------------------

void LockUncontended_curio(benchmark::State& state) {
  curio::run([&]() -> curio::Task<> {
    curio::Lock lock;
    for (auto _ : state) {
      co_await lock.acquire();
      lock.release();
    }
  }());
}

void LockUncontended_asio(benchmark::State& state) {
  bench::run_asio([&](asio::any_io_executor ex) -> awaitable<void> {
    bench::TokenChannel lock(ex, 1);
    for (auto _ : state) {
      co_await lock.async_send(boost::system::error_code{}, use_awaitable);
      lock.try_receive([](boost::system::error_code) {});
    }
  });
}

void LockScoped_curio(benchmark::State& state) {
  curio::run([&]() -> curio::Task<> {
    curio::Lock lock;
    for (auto _ : state) {
      auto held = co_await lock.scoped();
      benchmark::DoNotOptimize(held);
    }
  }());
}

// --- contended hand-off -----------------------------------------------------------------------

void LockHandoff_curio(benchmark::State& state) {
  curio::run([&]() -> curio::Task<> {
    curio::Lock lock;
    bool done = false;
    auto partner = curio::spawn([&]() -> curio::Task<> {
      while (!done) {
        co_await lock.acquire();
        co_await curio::sleep(0s);
        lock.release();
      }
    });
    for (auto _ : state) {
      co_await lock.acquire();
      co_await curio::sleep(0s);
      lock.release();
    }
    done = true;
    co_await partner.join();
  }());
  bench::time_per(state, "per_handoff", 2);
}

void LockHandoff_asio(benchmark::State& state) {
  bench::run_asio([&](asio::any_io_executor ex) -> awaitable<void> {
    bench::TokenChannel lock(ex, 1);
    bool done = false, partner_done = false;
    asio::co_spawn(
        ex,
        [&]() -> awaitable<void> {
          while (!done) {
            co_await lock.async_send(boost::system::error_code{}, use_awaitable);
            co_await asio::post(ex, use_awaitable);
            lock.try_receive([](boost::system::error_code) {});
          }
          partner_done = true;
        },
        asio::detached);
    for (auto _ : state) {
      co_await lock.async_send(boost::system::error_code{}, use_awaitable);
      co_await asio::post(ex, use_awaitable);
      lock.try_receive([](boost::system::error_code) {});
    }
    done = true;
    while (!partner_done) co_await asio::post(ex, use_awaitable);  // it uses our locals
  });
  bench::time_per(state, "per_handoff", 2);
}

// --- queue: 1 producer, 1 consumer ------------------------------------------------------------
// The producer puts exactly as many items as the consumer's benchmark loop takes
// (state.max_iterations), so both end together. maxsize 0 is unbounded: then the producer never
// blocks and puts everything before the consumer runs again (and so does Asio's with a channel
// as large as the run).

template <std::size_t MaxSize>
void Queue_curio(benchmark::State& state) {
  curio::run([&]() -> curio::Task<> {
    curio::Queue<int> q(MaxSize);
    const auto n = state.max_iterations;
    auto producer = curio::spawn([&q, n]() -> curio::Task<> {
      for (benchmark::IterationCount i = 0; i < n; ++i) co_await q.put(static_cast<int>(i));
    });
    for (auto _ : state) {
      int v = co_await q.get();
      benchmark::DoNotOptimize(v);
    }
    co_await producer.join();
  }());
  state.SetItemsProcessed(state.iterations());
}

template <std::size_t MaxSize>
void Queue_asio(benchmark::State& state) {
  bench::run_asio([&](asio::any_io_executor ex) -> awaitable<void> {
    const auto n = state.max_iterations;
    const std::size_t capacity = MaxSize != 0 ? MaxSize : static_cast<std::size_t>(n);
    bench::IntChannel ch(ex, capacity);
    bool producer_done = false;
    asio::co_spawn(
        ex,
        [&ch, &producer_done, n]() -> awaitable<void> {
          for (benchmark::IterationCount i = 0; i < n; ++i)
            co_await ch.async_send(boost::system::error_code{}, static_cast<int>(i), use_awaitable);
          producer_done = true;
        },
        asio::detached);
    for (auto _ : state) {
      int v = co_await ch.async_receive(use_awaitable);
      benchmark::DoNotOptimize(v);
    }
    while (!producer_done) co_await asio::post(ex, use_awaitable);  // it uses our locals
  });
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(LockUncontended_curio)->Name("BM_LockUncontended/curio");
BENCHMARK(LockUncontended_asio)->Name("BM_LockUncontended/asio");
BENCHMARK(LockScoped_curio)->Name("BM_LockScoped/curio");
BENCHMARK(LockHandoff_curio)->Name("BM_LockHandoff/curio");
BENCHMARK(LockHandoff_asio)->Name("BM_LockHandoff/asio");
BENCHMARK_TEMPLATE(Queue_curio, 1)->Name("BM_Queue/maxsize:1/curio");
BENCHMARK_TEMPLATE(Queue_asio, 1)->Name("BM_Queue/maxsize:1/asio");
BENCHMARK_TEMPLATE(Queue_curio, 64)->Name("BM_Queue/maxsize:64/curio");
BENCHMARK_TEMPLATE(Queue_asio, 64)->Name("BM_Queue/maxsize:64/asio");
BENCHMARK_TEMPLATE(Queue_curio, 0)->Name("BM_Queue/unbounded/curio");
BENCHMARK_TEMPLATE(Queue_asio, 0)->Name("BM_Queue/unbounded/asio");
