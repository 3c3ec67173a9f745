// Threads layer: a run_in_thread round trip (task -> worker thread -> task) beside the same with
// Boost.Asio (co_await post to a thread_pool, then back to the io_context), and UniversalQueue
// items per second from a plain thread to a task.
#include <benchmark/benchmark.h>

#include <thread>

#include "asio_peers.hpp"
#include "curio/curio.hpp"

namespace {

int work(int x) { return x + 1; }

void BM_RunInThreadRoundTrip_curio(benchmark::State& state) {
  curio::run([&]() -> curio::Task<> {
    int x = 0;
    co_await curio::run_in_thread(work, 0);  // start the worker outside the timed loop
    for (auto _ : state) x = co_await curio::run_in_thread(work, x);
    benchmark::DoNotOptimize(x);
  }());
}
BENCHMARK(BM_RunInThreadRoundTrip_curio)->Name("BM_RunInThreadRoundTrip/curio")->UseRealTime();

void BM_RunInThreadRoundTrip_asio(benchmark::State& state) {
  namespace asio = boost::asio;
  asio::thread_pool pool(1);
  bench::run_asio([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    int x = 0;
    for (auto _ : state) {
      co_await asio::post(pool.get_executor(), asio::use_awaitable);  // hop to the pool thread
      x = work(x);
      co_await asio::post(ex, asio::use_awaitable);  // and back to the io_context
    }
    benchmark::DoNotOptimize(x);
  });
  pool.join();
}
BENCHMARK(BM_RunInThreadRoundTrip_asio)->Name("BM_RunInThreadRoundTrip/asio")->UseRealTime();

void BM_UniversalQueueThreadToTask(benchmark::State& state) {
  const std::int64_t batch = 100000;
  std::int64_t total = 0;
  for (auto _ : state) {
    curio::UniversalQueue<int> q(static_cast<std::size_t>(state.range(0)));
    std::thread producer([&] {
      for (int i = 0; i < batch; ++i) q.put_sync(i);
    });
    curio::run([&]() -> curio::Task<> {
      for (int i = 0; i < batch; ++i) benchmark::DoNotOptimize(co_await q.get());
    }());
    producer.join();
    total += batch;
  }
  state.SetItemsProcessed(total);
}
BENCHMARK(BM_UniversalQueueThreadToTask)
    ->Arg(0)
    ->Arg(1024)
    ->ArgName("maxsize")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
