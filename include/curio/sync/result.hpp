// curio/sync/result.hpp: Result<T>, a one-shot value or exception that tasks can wait for
// (curio.sync's Result). set_value / set_exception once; unwrap() waits (cancellably) for it and
// returns the value or rethrows the exception. Not thread-safe: across threads use a
// UniversalResult.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "curio/core/errors.hpp"
#include "curio/core/task.hpp"
#include "curio/core/wait_queue.hpp"

namespace curio {

template <class T = void>
class Result {
  using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

 public:
  bool is_set() const noexcept { return value_.has_value() || error_ != nullptr; }

  // Sets the value and wakes every waiter. A second set is a RuntimeError (it is one-shot).
  template <class... A>
  void set_value(A&&... a) {
    require_unset();
    value_.emplace(std::forward<A>(a)...);
    waiters_.wake_all();
  }
  void set_exception(std::exception_ptr e) {
    require_unset();
    if (!e) throw RuntimeError("curio: Result::set_exception with a null exception");
    error_ = std::move(e);
    waiters_.wake_all();
  }

  // Waits until the result is set (cancellably), without consuming it.
  auto wait() noexcept {
    struct Awaiter : detail::Traps::WaitListAwaiter {
      const Result* result;
      Awaiter(detail::WaitList* l, TaskStatus s, const Result* r) noexcept : WaitListAwaiter(l, s), result(r) {}
      bool await_ready() const noexcept { return result->is_set(); }
    };
    return waiters_.wait_as<Awaiter>(TaskStatus::EventWait, this);
  }

  // Waits, then returns a copy of the value (or void) or rethrows the stored exception. Several
  // tasks may unwrap the same Result.
  Task<T> unwrap() {
    co_await wait();
    if (error_) std::rethrow_exception(error_);
    if constexpr (!std::is_void_v<T>) co_return *value_;
  }

  std::size_t waiting() const noexcept { return waiters_.size(); }

 private:
  void require_unset() const {
    if (is_set()) throw RuntimeError("curio: Result is already set");
  }

  std::optional<Stored> value_;
  std::exception_ptr error_;
  WaitQueue waiters_;
};

}  // namespace curio
