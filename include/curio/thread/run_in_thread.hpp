// curio/thread/run_in_thread.hpp: run_in_thread and block_in_thread (curio.workers). Blocking
// calls run on a bounded pool of worker threads (64 by default) while the task waits on the
// kernel, which keeps running other tasks. The value or exception comes back unchanged.
// Cancelling the waiting task releases it at once: a job still queued never runs; a job already
// running finishes on its own, its result is discarded, and its worker is retired (the pool
// starts a fresh one if needed), as in curio. An optional CallOnCancel hook lets the caller
// interrupt the blocking call.
#pragma once

#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>

#include "curio/core/errors.hpp"
#include "curio/core/task.hpp"
#include "curio/core/traps.hpp"

namespace curio {

// The maximum number of worker threads (default 64). Fewer than running jobs is fine: the rest
// wait in a queue (cancellably).
void set_worker_thread_limit(std::size_t n);
std::size_t worker_thread_limit() noexcept;
// Workers currently alive (idle or busy), for tests and introspection.
std::size_t worker_thread_count() noexcept;

// Called on the task's kernel thread when run_in_thread is cancelled while the job runs (e.g.
// to close the socket a blocking call waits on).
// (A class with a constructor, not an aggregate: GCC 12 destroys a brace-initialized aggregate
// temporary twice when it appears inside a co_await expression.)
class CallOnCancel {
 public:
  template <class F>
  explicit CallOnCancel(F f) : fn(std::move(f)) {}
  std::function<void()> fn;
};

namespace detail {

// Test-only fault injection (tests/faults): while set, starting a worker thread fails with the
// errno it returns (0: start normally). A run_in_thread that then has no worker at all raises
// SystemError in its task; with other workers alive its job waits in the queue.
extern std::atomic<int (*)()> fail_thread_start;

// One job for the pool: run() on a worker, then done->set(). Its state only moves forward:
// kQueued -> kRunning -> kFinished, or kQueued/kRunning -> kAbandoned when its task is cancelled
// (an abandoned queued job is skipped; an abandoned running job retires its worker).
struct ThreadJob {
  std::function<void()> run;
  std::shared_ptr<RemoteSignal> done = std::make_shared<RemoteSignal>();
  std::atomic<int> state{kQueued};
  static constexpr int kQueued = 0, kRunning = 1, kAbandoned = 2, kFinished = 3;
};
void submit_thread_job(std::shared_ptr<ThreadJob> job);
// The task side of a cancelled job: abandons it if it has not finished (a queued job then never
// runs). Returns the state it was in.
int cancel_thread_job(ThreadJob& job) noexcept;

template <class R>
using ThreadResult = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

template <class F, class... A>
Task<std::invoke_result_t<F, A...>> run_in_thread_impl(std::function<void()> on_cancel, F fn, A... args) {
  using R = std::invoke_result_t<F, A...>;
  struct Outcome {
    std::optional<ThreadResult<R>> value;
    std::exception_ptr error;
  };
  auto outcome = std::make_shared<Outcome>();  // shared: a cancelled job may finish later
  auto job = std::make_shared<ThreadJob>();
  job->run = [outcome, fn = std::move(fn), args = std::make_tuple(std::move(args)...)]() mutable {
    try {
      if constexpr (std::is_void_v<R>) {
        std::apply(fn, std::move(args));
        outcome->value.emplace();
      } else {
        outcome->value.emplace(std::apply(fn, std::move(args)));
      }
    } catch (...) {
      outcome->error = std::current_exception();
    }
  };
  Traps::current();  // AsyncOnlyError outside a task, before anything is submitted
  submit_thread_job(job);
  std::exception_ptr cancelled;
  try {
    co_await remote_wait(job->done);
  } catch (...) {
    cancelled = std::current_exception();
  }
  if (cancelled) {
    int was = cancel_thread_job(*job);
    if (was != ThreadJob::kFinished) {
      if (was == ThreadJob::kRunning && on_cancel) on_cancel();
      std::rethrow_exception(cancelled);
    }
    // The job had finished when the cancellation came: its result stands (a read is not lost,
    // a write is not reported as failed) and the cancellation reaches the task at its next
    // blocking point.
    Traps::defer_cancellation(Traps::current(), std::move(cancelled));
  }
  if (outcome->error) std::rethrow_exception(outcome->error);
  if constexpr (!std::is_void_v<R>) co_return std::move(*outcome->value);
}

}  // namespace detail

// co_await run_in_thread(fn, args...): fn(args...) on a worker thread. Arguments are copied (or
// moved) into the job; pass std::ref for references that outlive the call.
template <class F, class... A>
requires std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>
auto run_in_thread(F&& fn, A&&... args) {
  return detail::run_in_thread_impl({}, std::decay_t<F>(std::forward<F>(fn)),
                                    std::decay_t<A>(std::forward<A>(args))...);
}
template <class F, class... A>
requires std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>
auto run_in_thread(CallOnCancel on_cancel, F&& fn, A&&... args) {
  return detail::run_in_thread_impl(std::move(on_cancel.fn), std::decay_t<F>(std::forward<F>(fn)),
                                    std::decay_t<A>(std::forward<A>(args))...);
}

namespace detail {
// A kernel-local Semaphore(1) per callable identity, so that at most one thread at a time is
// blocked in the same callable (block_in_thread). Defined in src/thread/run_in_thread.cpp.
class BlockGate;
std::shared_ptr<BlockGate> block_gate_for(const void* identity);
Task<> enter_gate(BlockGate& gate);
void leave_gate(BlockGate& gate) noexcept;

template <class F>
const void* callable_identity(const F& fn) noexcept {
  if constexpr (std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>)
    return reinterpret_cast<const void*>(fn);
  else
    return &typeid(F);  // a lambda or functor type: all calls of that type share a gate
}
}  // namespace detail

// Like run_in_thread, for calls that block for a long time (waiting on something): at most one
// worker thread is blocked in a given callable at a time; other callers of the same callable
// wait in the kernel, in order. Callable identity: the function pointer, or the functor type.
template <class F, class... A>
requires std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>
    Task<std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>> block_in_thread(F fn, A... args) {
  auto gate = detail::block_gate_for(detail::callable_identity(fn));
  co_await detail::enter_gate(*gate);
  struct Leave {
    detail::BlockGate& gate;
    ~Leave() { detail::leave_gate(gate); }
  } leave{*gate};
  co_return co_await run_in_thread(std::move(fn), std::move(args)...);
}

}  // namespace curio
