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
#include "curio/core/task_group.hpp"
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

namespace detail {
// Why a spawn_thread call is refused, as readable compile errors (not an error deep inside
// UniversalResult): a thread runs plain functions; coroutines run as tasks.
template <class F, class... A>
constexpr bool check_thread_function() {
  using D = std::decay_t<F>;
  static_assert(!is_task<D>::value,
                "curio::spawn_thread: this is a Task (a coroutine already called); run it with curio::spawn, "
                "or pass a plain function and call the coroutine inside it with AWAIT(...)");
  if constexpr (!is_task<D>::value) {
    static_assert(std::is_invocable_v<D&, std::decay_t<A>&...>,
                  "curio::spawn_thread: fn cannot be called with these arguments");
    if constexpr (std::is_invocable_v<D&, std::decay_t<A>&...>) {
      static_assert(!is_task<std::invoke_result_t<D&, std::decay_t<A>&...>>::value,
                    "curio::spawn_thread: fn is a coroutine function (it returns a Task); run it with curio::spawn, "
                    "or call it from a thread function with AWAIT(fn, args...)");
      return !is_task<std::invoke_result_t<D&, std::decay_t<A>&...>>::value;
    }
  }
  return false;
}
}  // namespace detail

// Starts fn() on a new thread managed as a task; returns its TaskHandle. A Task, or a function
// returning one, is refused at compile time (use spawn).
template <class F>
auto spawn_thread(F&& fn, SpawnOptions options = {}) {
  if constexpr (detail::check_thread_function<F>()) {  // else only the static_assert's message
    using R = std::invoke_result_t<std::decay_t<F>&>;
    return spawn(detail::async_thread_task<R>(std::function<R()>(std::forward<F>(fn)), options), options);
  }
}

// curio's spawn_thread(fn, *args): fn(args...) on a new thread. fn and the arguments are copied
// or moved into the thread (std::ref shares instead).
template <class F, class A0, class... A>
requires(!std::is_same_v<std::decay_t<A0>, SpawnOptions>) auto spawn_thread(F&& fn, A0&& a0, A&&... args) {
  if constexpr (detail::check_thread_function<F, A0, A...>()) {
    return spawn_thread([f = std::decay_t<F>(std::forward<F>(fn)), a0 = std::decay_t<A0>(std::forward<A0>(a0)),
                         ... args = std::decay_t<A>(std::forward<A>(args))]() mutable -> decltype(auto) {
      return std::invoke(f, a0, args...);
    });
  }
}

template <class F, class... A>
auto TaskGroup::spawn_thread(F&& fn, A&&... args) {
  auto handle = curio::spawn_thread(std::forward<F>(fn), std::forward<A>(args)...);
  add_task(handle);
  return handle;
}

namespace detail {
// AWAIT of an operation: runs it on the spawning kernel, blocks this thread until it is done.
template <class X>
auto await_in_thread(X&& op) {
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
}  // namespace detail

// In a thread started by spawn_thread: runs op (a Task, an awaitable, or a callable returning a
// Task) on the spawning kernel and waits for it. AsyncOnlyError anywhere else.
// As in curio, AWAIT passes everything else through, so helper code can serve both worlds:
// AWAIT(x) of a value that is not awaitable returns x unchanged (anywhere, in a thread or
// not), and AWAIT(fn, args...) calls fn(args...) and AWAITs the result if it is a Task.
template <class X, class... A>
decltype(auto) AWAIT(X&& op, A&&... args) {
  if constexpr (sizeof...(A) > 0) {
    if constexpr (std::is_void_v<std::invoke_result_t<X&&, A&&...>>)
      std::invoke(std::forward<X>(op), std::forward<A>(args)...);
    else
      return AWAIT(std::invoke(std::forward<X>(op), std::forward<A>(args)...));
  } else if constexpr (!TaskLike<X>) {
    if constexpr (std::is_invocable_v<X&&>) {  // a plain function: called (curio calls callables)
      if constexpr (std::is_void_v<std::invoke_result_t<X&&>>)
        std::invoke(std::forward<X>(op));
      else
        return std::invoke(std::forward<X>(op));
    } else {
      return std::decay_t<X>(std::forward<X>(op));  // a plain value: unchanged
    }
  } else {
    return detail::await_in_thread(std::forward<X>(op));
  }
}

}  // namespace curio
