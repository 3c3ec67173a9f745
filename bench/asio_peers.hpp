// bench/asio_peers.hpp: what the curio benchmarks and their Boost.Asio 1.81 peers share:
// the Asio includes, a runner for one Asio coroutine on a single-threaded io_context, and the
// "per switch"/"per hand-off" counter.
#pragma once

#include <benchmark/benchmark.h>

#include <boost/asio.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <exception>
#include <string>
#include <utility>

// The io_context's concurrency hint: 1 (one thread, the usual single-threaded set-up) unless
// the build says otherwise, e.g. -DBENCH_ASIO_HINT=BOOST_ASIO_CONCURRENCY_HINT_UNSAFE.
#ifndef BENCH_ASIO_HINT
#define BENCH_ASIO_HINT 1
#endif

namespace bench {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;

// An Asio channel carrying ints, the peer of curio::Queue<int> (and, with capacity 1 and an
// empty signature, of curio::Lock).
using IntChannel = asio::experimental::channel<void(boost::system::error_code, int)>;
using TokenChannel = asio::experimental::channel<void(boost::system::error_code)>;

// Runs the coroutine made by make(executor) on a fresh io_context for one thread until it and
// all it spawned are done; rethrows its exception.
template <class F>
void run_asio(F&& make) {
  asio::io_context ctx(BENCH_ASIO_HINT);
  asio::co_spawn(ctx, std::forward<F>(make)(ctx.get_executor()), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  ctx.run();
}

// Adds a counter `name` = wall time per event, when one iteration is `per_iteration` events
// (e.g. two task switches per ping-pong round trip).
inline void time_per(benchmark::State& state, const std::string& name, double per_iteration) {
  state.counters[name] =
      benchmark::Counter(per_iteration, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

}  // namespace bench
