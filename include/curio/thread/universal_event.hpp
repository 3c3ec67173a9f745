// curio/thread/universal_event.hpp: UniversalEvent and UniversalResult<T>, shared between tasks
// (on any number of kernels) and plain threads. Tasks co_await wait()/unwrap(); threads call
// wait_sync()/unwrap_sync(). set() and set_value() work from anywhere.
#pragma once

#include <exception>
#include <mutex>
#include <optional>
#include <type_traits>
#include <variant>

#include "curio/thread/detail/universal_waiter.hpp"

namespace curio {

class UniversalEvent {
 public:
  bool is_set() const {
    std::lock_guard lock(mu_);
    return set_;
  }
  void set() {
    std::lock_guard lock(mu_);
    set_ = true;
    waiters_.wake_all();
  }
  void clear() {
    std::lock_guard lock(mu_);
    set_ = false;
  }

  // In a task: waits (cancellably) until set.
  Task<> wait() {
    detail::require_task_context("UniversalEvent::wait");
    detail::UniversalWaiter w;
    {
      std::lock_guard lock(mu_);
      if (set_) co_return;
      w.signal = std::make_shared<detail::RemoteSignal>();
      waiters_.push(&w);
    }
    co_await detail::await_wake(mu_, waiters_, w);
  }
  // In a thread: blocks until set.
  void wait_sync() {
    std::unique_lock lock(mu_);
    if (set_) return;
    detail::UniversalWaiter w;
    waiters_.push(&w);
    detail::wait_in_thread(lock, w, "UniversalEvent::wait_sync");
  }

 private:
  mutable std::mutex mu_;
  bool set_ = false;
  detail::WaiterList waiters_;
};

// A one-shot value or exception, set from anywhere, awaited by tasks or threads.
template <class T = void>
class UniversalResult {
  using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

 public:
  bool is_set() const {
    std::lock_guard lock(mu_);
    return value_.has_value() || error_;
  }
  template <class... A>
  void set_value(A&&... a) {
    std::lock_guard lock(mu_);
    require_unset();
    value_.emplace(std::forward<A>(a)...);
    waiters_.wake_all();
  }
  void set_exception(std::exception_ptr e) {
    std::lock_guard lock(mu_);
    require_unset();
    error_ = std::move(e);
    waiters_.wake_all();
  }

  // In a task: waits for the result, then returns a copy of the value or rethrows.
  Task<T> unwrap() {
    detail::require_task_context("UniversalResult::unwrap");
    detail::UniversalWaiter w;
    {
      std::lock_guard lock(mu_);
      if (!value_ && !error_) {
        w.signal = std::make_shared<detail::RemoteSignal>();
        waiters_.push(&w);
      }
    }
    if (w.signal) co_await detail::await_wake(mu_, waiters_, w);
    std::lock_guard lock(mu_);
    if (error_) std::rethrow_exception(error_);
    if constexpr (!std::is_void_v<T>) co_return *value_;
  }
  // In a thread: blocks for the result.
  T unwrap_sync() {
    std::unique_lock lock(mu_);
    if (!value_ && !error_) {
      detail::UniversalWaiter w;
      waiters_.push(&w);
      detail::wait_in_thread(lock, w, "UniversalResult::unwrap_sync");
    }
    if (error_) std::rethrow_exception(error_);
    if constexpr (!std::is_void_v<T>) return *value_;
  }

 private:
  void require_unset() const {
    if (value_ || error_) throw RuntimeError("curio: UniversalResult is already set");
  }
  mutable std::mutex mu_;
  std::optional<Stored> value_;
  std::exception_ptr error_;
  detail::WaiterList waiters_;
};

}  // namespace curio
