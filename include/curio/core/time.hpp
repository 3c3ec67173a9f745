// curio/core/time.hpp: clock, sleep, wake_at, and scoped timeouts.
// timeout_after(d, op) runs op inside the current task under a deadline: TaskTimeout if it
// expires (TimeoutCancellationError through inner blocks when an outer one expired,
// UncaughtTimeoutError when an inner timeout escaped); ignore_after gives up quietly instead.
#pragma once

#include <chrono>
#include <optional>
#include <type_traits>

#include "curio/core/awaitable.hpp"
#include "curio/core/errors.hpp"
#include "curio/core/log.hpp"
#include "curio/core/task.hpp"
#include "curio/core/traps.hpp"

namespace curio {

// The kernel clock (monotonic). Never blocks, never raises a cancellation.
inline Clock::time_point clock() noexcept { return detail::to_time_point(detail::now_ns()); }

namespace detail {
template <class Rep, class Period>
std::int64_t deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  std::int64_t now = now_ns();
  return ns > kNoDeadline - now ? kNoDeadline - 1 : now + ns;
}
inline std::int64_t deadline_after_seconds(double s) noexcept {
  return deadline_after(std::chrono::duration<double>(s));
}
}  // namespace detail

// Suspends the task for d; sleep(0s) only yields to the other ready tasks.
template <class Rep, class Period>
auto sleep(std::chrono::duration<Rep, Period> d) noexcept {
  return detail::sleep_until_ns(d.count() <= 0 ? 0 : detail::deadline_after(d));
}
// curio's float seconds.
inline auto sleep(double seconds) noexcept {
  return detail::sleep_until_ns(seconds <= 0 ? 0 : detail::deadline_after_seconds(seconds));
}
// Suspends the task until the clock reaches t.
inline auto wake_at(Clock::time_point t) noexcept {
  std::int64_t ns = detail::to_ns(t);
  return detail::sleep_until_ns(ns <= 0 ? 1 : ns);
}

namespace detail {

// Runs op inline in the current task with a deadline pushed on the task's deadline stack.
// The classification of a timeout on exit follows curio's time.py.
template <class T, bool Ignore>
class TimeoutAwaiter {
 public:
  using Result = std::conditional_t<Ignore, std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>, T>;

  TimeoutAwaiter(std::int64_t deadline, Task<T> op) noexcept : handle_(op.release()) { scope_.deadline = deadline; }
  TimeoutAwaiter(TimeoutAwaiter&& o) noexcept : handle_(std::exchange(o.handle_, {})), scope_(o.scope_) {}
  ~TimeoutAwaiter() {
    if (handle_) handle_.destroy();
  }

  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) {
    handle_.promise().continuation = caller;
    if (unlimited()) return handle_;  // no scope of its own: enclosing limits act as without it
    task_ = Traps::current();
    scope_.outer = task_->deadlines;
    task_->deadlines = &scope_;
    prior_ = Traps::set_timeout(task_, scope_.deadline);
    return handle_;
  }
  Result await_resume() {
    if (unlimited()) {
      auto& p = handle_.promise();
      if (p.error) std::rethrow_exception(p.error);
      if constexpr (std::is_void_v<T>) {
        if constexpr (Ignore) return true;
      } else {
        return Result(std::move(*p.value));
      }
    }
    Traps::unset_timeout(task_, prior_);
    struct PopScope {
      TaskState* t;
      TimeoutScope* outer;
      ~PopScope() { t->deadlines = outer; }
    } pop{task_, scope_.outer};
    auto& p = handle_.promise();
    if (!p.error) {
      // curio's "timeout badness": the block finished, but after its deadline (it never
      // reached a blocking point the timeout could interrupt). Logged, not raised.
      if (scope_.deadline < kNoDeadline) {
        std::int64_t late = now_ns() - scope_.deadline;
        if (late > 0) log_timeout_badness(late);
      }
      if constexpr (std::is_void_v<T>) {
        if constexpr (Ignore) return true;
      } else {
        return Result(std::move(*p.value));
      }
    } else {
      try {
        std::rethrow_exception(p.error);
      } catch (const TaskTimeout& e) {
        if constexpr (Ignore)
          return classify(e, e.clock(), false);
        else
          classify(e, e.clock(), false);
      } catch (const TimeoutCancellationError& e) {
        if constexpr (Ignore)
          return classify(e, e.clock(), true);
        else
          classify(e, e.clock(), true);
      }
    }
    if constexpr (!std::is_void_v<Result>) __builtin_unreachable();
  }

 private:
  // Called with the timeout exception in flight. Returns (ignore_after's "gave up" result)
  // only if this block's own deadline expired; otherwise throws the right exception.
  // A converted exception keeps the partial progress the interrupted operation recorded.
  template <class E>
  [[noreturn]] static void throw_converted(const CancelledError& from, Clock::time_point at) {
    E converted(at);
    converted.copy_progress_from(from);
    throw converted;
  }
  Result classify(const CancelledError& caught, Clock::time_point at, bool is_outer_kind) {
    std::int64_t at_ns = to_ns(at);
    TimeoutScope* outermost_expired = nullptr;
    for (TimeoutScope* s = &scope_; s; s = s->outer)
      if (s->deadline <= at_ns) outermost_expired = s;
    if (!outermost_expired) throw UncaughtTimeoutError();
    if (outermost_expired != &scope_) {
      if (!is_outer_kind) throw_converted<TimeoutCancellationError>(caught, at);
      throw;  // already a TimeoutCancellationError: let it pass through
    }
    if constexpr (Ignore) {
      if constexpr (std::is_void_v<T>)
        return false;
      else
        return std::nullopt;
    } else {
      if (is_outer_kind) throw_converted<TaskTimeout>(caught, at);
      throw;
    }
  }

  bool unlimited() const noexcept { return scope_.deadline == kNoDeadline; }

  std::coroutine_handle<Promise<T>> handle_;
  TimeoutScope scope_{};
  TaskState* task_ = nullptr;
  std::int64_t prior_ = kNoDeadline;
};

}  // namespace detail

// "No limit" for timeout_after/ignore_after (curio's timeout_after(None, ...)): the op runs
// with no deadline of its own; an enclosing timeout still applies. An empty
// std::optional<duration> (or std::nullopt) means the same, so an optional deadline needs no branch.
struct NoTimeout {
  explicit constexpr NoTimeout() = default;
};
inline constexpr NoTimeout no_timeout{};

namespace detail {
template <class L>
struct is_duration : std::false_type {};
template <class Rep, class Period>
struct is_duration<std::chrono::duration<Rep, Period>> : std::true_type {};
template <class L>
struct is_optional_limit : std::false_type {};
template <class L>
struct is_optional_limit<std::optional<L>> : std::bool_constant<is_duration<L>::value || std::is_arithmetic_v<L>> {};
}  // namespace detail

// What timeout_after/ignore_after take as the limit: a duration, seconds (curio's float), an
// optional of either, no_timeout or std::nullopt.
template <class L>
concept TimeLimit = detail::is_duration<L>::value || std::is_arithmetic_v<L> || detail::is_optional_limit<L>::value ||
    std::is_same_v<L, NoTimeout> || std::is_same_v<L, std::nullopt_t>;

namespace detail {
template <class L>
std::int64_t limit_deadline(const L& limit) noexcept {
  if constexpr (is_duration<L>::value)
    return deadline_after(limit);
  else if constexpr (std::is_arithmetic_v<L>)
    return deadline_after_seconds(static_cast<double>(limit));
  else if constexpr (is_optional_limit<L>::value)
    return limit ? limit_deadline(*limit) : kNoDeadline;
  else
    return kNoDeadline;  // NoTimeout, nullopt
}

template <bool Ignore, class X, class... A>
auto make_timeout(std::int64_t deadline, X&& op, A&&... args) {
  auto task = to_task(std::forward<X>(op), std::forward<A>(args)...);
  using T = typename decltype(task)::value_type;
  return TimeoutAwaiter<T, Ignore>(deadline, std::move(task));
}
}  // namespace detail

// co_await timeout_after(limit, op) runs op with a timeout: returns op's value, or raises
// TaskTimeout when the limit expires. op is a Task, any awaitable (q.get(), sock.recv(...)), a
// callable returning a Task (a coroutine function by name, a lambda), or such a callable with
// its arguments: timeout_after(2s, fetch, url). Callable and arguments are moved into the task.
// For a block use a lambda: timeout_after(1s, [&]() -> Task<> {...}).
template <TimeLimit L, class X, class... A>
requires TaskCall<X, A...>
auto timeout_after(L limit, X&& op, A&&... args) {
  return detail::make_timeout<false>(detail::limit_deadline(limit), std::forward<X>(op), std::forward<A>(args)...);
}
template <class X, class... A>
requires TaskCall<X, A...>
auto timeout_at(Clock::time_point deadline, X&& op, A&&... args) {
  return detail::make_timeout<false>(detail::to_ns(deadline), std::forward<X>(op), std::forward<A>(args)...);
}

// The same, giving up quietly: std::optional<T> (empty on timeout), or for a void op a bool
// that is true if it finished in time.
template <TimeLimit L, class X, class... A>
requires TaskCall<X, A...>
auto ignore_after(L limit, X&& op, A&&... args) {
  return detail::make_timeout<true>(detail::limit_deadline(limit), std::forward<X>(op), std::forward<A>(args)...);
}
template <class X, class... A>
requires TaskCall<X, A...>
auto ignore_at(Clock::time_point deadline, X&& op, A&&... args) {
  return detail::make_timeout<true>(detail::to_ns(deadline), std::forward<X>(op), std::forward<A>(args)...);
}

}  // namespace curio
