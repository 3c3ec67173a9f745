// curio/core/awaitable.hpp: turning any awaitable, or a callable returning a Task, into a Task,
// so that wrappers such as timeout_after(d, x) accept q.get(), sock.recv(...) or a lambda.
#pragma once

#include <concepts>
#include <type_traits>
#include <utility>

#include "curio/core/task.hpp"

namespace curio {

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<Task<T>> : std::true_type {};

// A callable returning a Task (curio's corofunc).
template <class F>
concept TaskFactory = std::invocable<F&> && is_task<std::invoke_result_t<F&>>::value;

namespace detail {

template <class A>
decltype(auto) get_awaiter(A&& a) {
  if constexpr (requires { std::forward<A>(a).operator co_await(); })
    return std::forward<A>(a).operator co_await();
  else
    return std::forward<A>(a);
}

template <class A>
concept Awaiter = requires(A& a) {
  a.await_ready();
  a.await_resume();
};

template <class A>
concept AwaitableNotTask = !is_task<std::remove_cvref_t<A>>::value && !TaskFactory<std::remove_cvref_t<A>> &&
                           Awaiter<std::remove_cvref_t<decltype(get_awaiter(std::declval<A>()))>>;

template <class A>
using await_result_t =
    decltype(std::declval<std::remove_cvref_t<decltype(get_awaiter(std::declval<A>()))>&>().await_resume());

// The awaitable (moved into the frame) awaited by a Task.
template <class A>
Task<await_result_t<A>> as_task(A a) {
  co_return co_await std::move(a);
}

// The callable (moved into the frame) invoked and awaited by a Task: its captures live until
// the Task ends.
template <class F>
std::invoke_result_t<F&> call_owned(F f) {
  co_return co_await f();
}

// Anything a wrapper accepts, as a Task.
template <class X>
auto to_task(X&& x) {
  using D = std::remove_cvref_t<X>;
  if constexpr (is_task<D>::value)
    return D(std::forward<X>(x));
  else if constexpr (TaskFactory<D>)
    return call_owned(D(std::forward<X>(x)));
  else
    return as_task(D(std::forward<X>(x)));
}

}  // namespace detail

// What timeout_after, ignore_after and disable_cancellation take: a Task, any awaitable, or a
// callable returning a Task.
template <class X>
concept TaskLike =
    is_task<std::remove_cvref_t<X>>::value || TaskFactory<std::remove_cvref_t<X>> || detail::AwaitableNotTask<X>;

}  // namespace curio
