// curio/core/cancellation.hpp: shielding a region from cancellation, and inspecting it.
// disable_cancellation(op) runs op inline with cancellation (and timeouts) held pending; they
// are delivered at the first blocking operation after the outermost region ends.
#pragma once

#include <exception>
#include <type_traits>

#include "curio/core/awaitable.hpp"
#include "curio/core/errors.hpp"
#include "curio/core/task.hpp"
#include "curio/core/traps.hpp"

namespace curio {

namespace detail {

template <class T>
class DisableCancellationAwaiter {
 public:
  explicit DisableCancellationAwaiter(Task<T> op) noexcept : handle_(op.release()) {}
  DisableCancellationAwaiter(DisableCancellationAwaiter&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
  ~DisableCancellationAwaiter() {
    if (handle_) handle_.destroy();
  }
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) {
    task_ = Traps::current();
    ++task_->no_cancel_depth;
    handle_.promise().continuation = caller;
    return handle_;
  }
  T await_resume() {
    --task_->no_cancel_depth;
    auto& p = handle_.promise();
    if constexpr (std::is_void_v<T>) {
      // curio: a cancellation raised inside a nested disabled region is swallowed at its
      // exit and becomes pending; in the outermost region it propagates. (Only for void ops:
      // a T-returning op has no value to return in its place.)
      if (p.error && task_->no_cancel_depth > 0 && is_cancellation(p.error)) {
        TaskExtrasBase& side = task_->side();  // made when the cancellation was sent
        if (!side.cancel_pending) side.cancel_pending = std::exchange(p.error, nullptr);
        return;
      }
    }
    return p.take();
  }

 private:
  std::coroutine_handle<Promise<T>> handle_;
  TaskState* task_ = nullptr;
};

}  // namespace detail

// Runs op with cancellation disabled (nestable). curio's `await disable_cancellation(coro)`.
template <class T>
detail::DisableCancellationAwaiter<T> disable_cancellation(Task<T> op) {
  return detail::DisableCancellationAwaiter<T>(std::move(op));
}

// The same for any awaitable or a callable returning a Task.
template <class X>
requires(TaskLike<X> && !is_task<std::remove_cvref_t<X>>::value) auto disable_cancellation(X&& op) {
  return disable_cancellation(detail::to_task(std::forward<X>(op)));
}
// A coroutine function with its arguments (moved into the task): disable_cancellation(fn, a, b).
template <class F, class A0, class... A>
requires TaskFunction<F, A0, A...>
auto disable_cancellation(F&& fn, A0&& a0, A&&... args) {
  return disable_cancellation(detail::to_task(std::forward<F>(fn), std::forward<A0>(a0), std::forward<A>(args)...));
}

// If cancellation is enabled and one is pending: raises it (and clears it). If disabled:
// returns the pending cancellation (or nullptr) without clearing it.
inline std::exception_ptr check_cancellation() {
  detail::TaskState* t = detail::Traps::current();
  if (!t->has_pending_cancel()) return nullptr;
  detail::TaskExtrasBase& side = *t->extras;
  if (t->cancellation_allowed()) {
    side.pending_is_timeout = false;
    std::rethrow_exception(std::exchange(side.cancel_pending, nullptr));
  }
  return side.cancel_pending;
}

// Like check_cancellation, but only for a pending cancellation of type E: when enabled it is
// raised, when disabled it is returned and cleared. Anything else pending is left alone.
template <class E>
std::exception_ptr check_cancellation() {
  detail::TaskState* t = detail::Traps::current();
  if (!t->has_pending_cancel()) return nullptr;
  detail::TaskExtrasBase& side = *t->extras;
  try {
    std::rethrow_exception(side.cancel_pending);
  } catch (const E&) {
    auto e = std::exchange(side.cancel_pending, nullptr);
    side.pending_is_timeout = false;
    if (t->cancellation_allowed()) std::rethrow_exception(e);
    return e;
  } catch (...) {
  }
  return nullptr;
}

// Replaces the pending cancellation with exc (nullptr clears it); returns the old one.
inline std::exception_ptr set_cancellation(std::exception_ptr exc) {
  detail::TaskState* t = detail::Traps::current();
  if (!exc && !t->extras) return nullptr;  // nothing pending, nothing to set: no side record
  detail::TaskExtrasBase& side = t->side();
  side.pending_is_timeout = false;
  return std::exchange(side.cancel_pending, std::move(exc));
}

// True while the current task runs inside disable_cancellation.
inline bool cancellation_disabled() { return !detail::Traps::current()->cancellation_allowed(); }

}  // namespace curio
