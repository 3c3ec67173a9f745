// curio/parallel/kernels.hpp: one kernel per core, run as one program (thread-per-core).
// run_parallel(n, main) starts n independent kernels on n threads, runs main(index) on each and
// returns when all have ended (the first failure cancels the others and is raised). Inside,
// spawn_on(k, coro) and call_on(k, fn) run work on kernel k and bring back its result.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "curio/core/awaitable.hpp"
#include "curio/core/cancellation.hpp"
#include "curio/core/errors.hpp"
#include "curio/core/spawn.hpp"
#include "curio/core/task.hpp"
#include "curio/core/traps.hpp"

namespace curio {

struct ParallelOptions {
  bool pin = false;  // pin kernel i's thread to the i-th CPU of the affinity mask (modulo its size)
  // SIGINT and SIGTERM (through the signal layer) stop every kernel gracefully: each main is
  // cancelled, and run_parallel returns normally once all have ended.
  bool stop_on_signals = false;
};

// The number of CPUs this process may run on (its affinity mask), at least 1.
std::size_t usable_cpu_count();

// Starts n kernels (n = 0: usable_cpu_count()) on n new threads, runs main(i) as the main task
// of kernel i, and returns when every main has ended. A kernel whose main ended keeps serving
// spawn_on/call_on until all mains have ended; then every kernel shuts down (its remaining
// tasks are cancelled). The first exception from a main (other than the cancellations this
// causes) cancels the other mains and is raised here. Call it from a plain thread, not a task.
void run_parallel(std::size_t n, std::function<Task<>(std::size_t)> main, ParallelOptions options = {});
inline void run_parallel(std::function<Task<>(std::size_t)> main, ParallelOptions options = {}) {
  run_parallel(0, std::move(main), options);
}

// Inside run_parallel (or a tcp_server with kernels): this kernel's index and the number of
// kernels. RuntimeError elsewhere.
std::size_t kernel_index();
std::size_t kernel_count();

namespace detail {

// Kernel k's inbox in the current run (RuntimeError naming `what` if there is no run, or k is
// out of range).
std::shared_ptr<RemoteInbox> parallel_inbox(std::size_t k, const char* what);
[[noreturn]] void throw_kernel_gone(std::size_t k, const char* what);

template <class T>
using RemoteValue = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// What the caller's task and the remote kernel share. The remote kernel writes value/error
// before done->set(); the caller reads them after its wait on done ends (ordered by the
// signal's mutex). runner and the flags are touched only on the remote kernel's thread.
template <class T>
struct RemoteCall {
  std::shared_ptr<RemoteSignal> done = std::make_shared<RemoteSignal>();
  std::optional<RemoteValue<T>> value;
  std::exception_ptr error;
  TaskRef runner;                 // the remote task (spawn_on)
  bool cancel_requested = false;  // a cancel arrived before the remote work started
};

template <class T>
void finish_remote(RemoteCall<T>& st, std::exception_ptr e) noexcept {
  st.error = std::move(e);
  st.done->set();
}

template <class T>
Task<> remote_runner(std::shared_ptr<RemoteCall<T>> st, Task<T> coro) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(coro);
      st->value.emplace();
    } else {
      st->value.emplace(co_await std::move(coro));
    }
  } catch (...) {
    st->error = std::current_exception();
  }
  st->runner = TaskRef();  // the record belongs to this kernel: drop it here, not on the caller's
  st->done->set();
}

// Posted to kernel k: starts the runner task there.
template <class T, class Make>
struct RemoteSpawnCall final : InboxCall {
  std::shared_ptr<RemoteCall<T>> st;
  Make make;  // () -> Task<T>, called on the remote kernel
  std::size_t k;
  RemoteSpawnCall(std::shared_ptr<RemoteCall<T>> s, Make m, std::size_t kk)
      : st(std::move(s)), make(std::move(m)), k(kk) {}
  void run() noexcept override {
    if (st->cancel_requested) return finish_remote(*st, std::make_exception_ptr(TaskCancelled("spawn_on: cancelled")));
    try {
      auto h = spawn(remote_runner<T>(st, make()), SpawnOptions{.daemon = true, .name = "spawn_on"});
      h.state_ptr()->result_read = true;  // its outcome goes to the caller
      st->runner = TaskRef(h.state_ptr());
    } catch (...) {
      finish_remote(*st, std::current_exception());
    }
  }
  void drop() noexcept override {
    try {
      throw_kernel_gone(k, "spawn_on");
    } catch (...) {
      finish_remote(*st, std::current_exception());
    }
  }
};

// Posted to kernel k: runs fn() right there, between task steps.
template <class T, class F>
struct FunctionCall final : InboxCall {
  std::shared_ptr<RemoteCall<T>> st;
  F fn;
  std::size_t k;
  FunctionCall(std::shared_ptr<RemoteCall<T>> s, F f, std::size_t kk) : st(std::move(s)), fn(std::move(f)), k(kk) {}
  void run() noexcept override {
    if (st->cancel_requested) return finish_remote(*st, std::make_exception_ptr(TaskCancelled("call_on: cancelled")));
    try {
      if constexpr (std::is_void_v<T>) {
        fn();
        st->value.emplace();
      } else {
        st->value.emplace(fn());
      }
    } catch (...) {
      st->error = std::current_exception();
    }
    st->done->set();
  }
  void drop() noexcept override {
    try {
      throw_kernel_gone(k, "call_on");
    } catch (...) {
      finish_remote(*st, std::current_exception());
    }
  }
};

// Posted to kernel k when the caller is cancelled: cancels the runner (or stops it starting).
template <class T>
struct CancelCall final : InboxCall {
  std::shared_ptr<RemoteCall<T>> st;
  explicit CancelCall(std::shared_ptr<RemoteCall<T>> s) : st(std::move(s)) {}
  void run() noexcept override {
    st->cancel_requested = true;
    if (TaskState* t = st->runner.get(); t && !t->terminated) {
      t->cancelled = true;
      Traps::cancel(t, std::make_exception_ptr(TaskCancelled("spawn_on: the calling task was cancelled")));
    }
  }
  void drop() noexcept override {}  // the kernel is gone: its shutdown already ended the runner
};

// The caller's side: post, wait, and on cancellation cancel the remote work and wait for it to
// end (so nothing it uses outlives the call) before the cancellation goes on.
template <class T>
Task<T> await_remote(std::shared_ptr<RemoteInbox> inbox, std::shared_ptr<RemoteCall<T>> st,
                     std::unique_ptr<InboxCall> call) {
  Traps::post_call(*inbox, std::move(call));  // a refused call finishes st itself (drop)
  std::exception_ptr cancelled;
  try {
    co_await remote_wait(st->done);
  } catch (...) {
    cancelled = std::current_exception();
  }
  if (cancelled) {
    if (!st->done->is_set()) {
      Traps::post_call(*inbox, std::make_unique<CancelCall<T>>(st));
      co_await disable_cancellation(remote_wait(st->done));
      std::rethrow_exception(cancelled);
    }
    // It had finished when the cancellation came: the result stands and the cancellation
    // reaches the task at its next blocking point (as for run_in_thread).
    Traps::defer_cancellation(Traps::current(), std::move(cancelled));
  }
  if (st->error) std::rethrow_exception(st->error);
  if constexpr (!std::is_void_v<T>) co_return std::move(*st->value);
}

template <class T, class Make>
Task<T> spawn_on_impl(std::size_t k, Make make) {
  Traps::current();  // AsyncOnlyError outside a task
  auto inbox = parallel_inbox(k, "spawn_on");
  auto st = std::make_shared<RemoteCall<T>>();
  return await_remote<T>(std::move(inbox), st, std::make_unique<RemoteSpawnCall<T, Make>>(st, std::move(make), k));
}

}  // namespace detail

// co_await spawn_on(k, coro): runs coro as a new task on kernel k of this run_parallel and
// returns its value (or raises its exception, unwrapped). Cancelling the caller (or a timeout
// around the call) cancels the remote task and waits for it to end. The coroutine's arguments
// cross threads: pass values, not references to this kernel's objects.
template <class T>
Task<T> spawn_on(std::size_t k, Task<T> coro) {
  struct Make {
    Task<T> coro;
    Task<T> operator()() { return std::move(coro); }
  };
  return detail::spawn_on_impl<T>(k, Make{std::move(coro)});
}

// The callable form: factory() is called on kernel k (so the coroutine frame is made there and
// the factory's captures live in the remote task).
template <TaskFactory F>
auto spawn_on(std::size_t k, F&& factory) {
  using TaskT = std::invoke_result_t<std::decay_t<F>&>;
  using T = typename TaskT::value_type;
  struct Make {
    std::decay_t<F> f;
    TaskT operator()() { return detail::call_owned(std::move(f)); }
  };
  return detail::spawn_on_impl<T>(k, Make{std::decay_t<F>(std::forward<F>(factory))});
}

// co_await call_on(k, fn): calls fn() on kernel k's thread (between its task steps, not in a
// task: fn must not block) and returns its value or raises its exception. Use it to read or
// change what belongs to kernel k.
template <class F>
requires(std::is_invocable_v<std::decay_t<F>&> && !TaskFactory<F>) Task < std::invoke_result_t < std::decay_t<F>
& >> call_on(std::size_t k, F&& fn) {
  using T = std::invoke_result_t<std::decay_t<F>&>;
  detail::Traps::current();
  auto inbox = detail::parallel_inbox(k, "call_on");
  auto st = std::make_shared<detail::RemoteCall<T>>();
  return detail::await_remote<T>(
      std::move(inbox), st,
      std::make_unique<detail::FunctionCall<T, std::decay_t<F>>>(st, std::decay_t<F>(std::forward<F>(fn)), k));
}

}  // namespace curio
