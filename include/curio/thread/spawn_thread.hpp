// curio/thread/spawn_thread.hpp: spawn_thread and AWAIT (curio's async threads). spawn_thread(fn)
// runs fn on a new real thread, managed like a task: the returned TaskHandle joins it, cancels
// it, reads its result. Inside that thread, AWAIT(op) runs a curio operation (sleep, a Lock, a
// Queue, a timeout_after...) on the kernel that spawned the thread and blocks the thread until it
// is done, returning its value or raising its exception.
//
// Cancelling the task delivers the cancellation to the thread's current AWAIT, or to its next
// one if it is running plain code; the task ends when the thread function returns.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include "curio/core/awaitable.hpp"
#include "curio/core/cancellation.hpp"
#include "curio/core/spawn.hpp"
#include "curio/core/task_local.hpp"
#include "curio/thread/universal_event.hpp"
#include "curio/thread/universal_queue.hpp"

namespace curio {

namespace detail {

// What the thread asks its kernel to do: run `work`; or, if `fail` is set instead... see below.
struct AwaitRequest {
  Task<> work;                                   // runs the operation, reports to the thread
  std::function<void(std::exception_ptr)> fail;  // reports a cancellation without running it
  bool finished = false;                         // the thread function has returned
};

struct AsyncThread {
  UniversalQueue<AwaitRequest> requests;
  std::exception_ptr pending_cancel;  // arrived while the thread ran plain code (kernel side only)
};

// The async thread the calling thread is, or null.
AsyncThread*& current_async_thread() noexcept;

template <class R>
Task<R> async_thread_task(std::function<R()> fn, SpawnOptions) {
  auto state = std::make_shared<AsyncThread>();
  UniversalResult<R> outcome;
  // The thread sees the spawning task's TaskLocal values (curio/core/task_local.hpp).
  std::thread thread([state, &outcome, fn = std::move(fn), locals = capture_locals()]() mutable {
    adopt_thread_locals(std::move(locals));
    current_async_thread() = state.get();
    try {
      if constexpr (std::is_void_v<R>) {
        fn();
        outcome.set_value();
      } else {
        outcome.set_value(fn());
      }
    } catch (...) {
      outcome.set_exception(std::current_exception());
    }
    current_async_thread() = nullptr;
    AwaitRequest last;
    last.finished = true;
    state->requests.put_sync(std::move(last));
  });
  // Serve the thread's AWAITs until it finishes. The task must not end before the thread does
  // (the thread uses this kernel), so a cancellation is caught and handed to the thread.
  for (;;) {
    std::optional<AwaitRequest> request;
    try {
      request.emplace(co_await state->requests.get());
    } catch (const CancelledError&) {
      state->pending_cancel = std::current_exception();
      continue;
    }
    if (request->finished) break;
    if (state->pending_cancel) {
      request->fail(std::exchange(state->pending_cancel, nullptr));
      continue;
    }
    co_await std::move(request->work);  // reports its own outcome (a cancellation included)
  }
  thread.join();  // it has returned from fn already
  co_return co_await outcome.unwrap();
}

}  // namespace detail

// Starts fn() on a new thread managed as a task; returns its TaskHandle.
template <class F>
requires std::is_invocable_v<std::decay_t<F>>
auto spawn_thread(F&& fn, SpawnOptions options = {}) {
  using R = std::invoke_result_t<std::decay_t<F>>;
  return spawn(detail::async_thread_task<R>(std::function<R()>(std::forward<F>(fn)), options), options);
}

// In a thread started by spawn_thread: runs op (a Task, an awaitable, or a callable returning a
// Task) on the spawning kernel and waits for it. AsyncOnlyError anywhere else.
template <class X>
auto AWAIT(X&& op) {
  auto task = detail::to_task(std::forward<X>(op));
  using T = typename decltype(task)::value_type;
  detail::AsyncThread* self = detail::current_async_thread();
  if (!self) throw AsyncOnlyError("curio: AWAIT outside a thread started by spawn_thread");
  UniversalResult<T> result;
  detail::AwaitRequest request;
  request.work = [](Task<T> op, UniversalResult<T>& r) -> Task<> {
    try {
      if constexpr (std::is_void_v<T>) {
        co_await std::move(op);
        r.set_value();
      } else {
        r.set_value(co_await std::move(op));
      }
    } catch (...) {
      r.set_exception(std::current_exception());
    }
  }(std::move(task), result);
  request.fail = [&result](std::exception_ptr e) { result.set_exception(std::move(e)); };
  self->requests.put_sync(std::move(request));
  return result.unwrap_sync();
}

}  // namespace curio
