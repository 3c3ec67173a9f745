// curio/core/awaitable.hpp: turning any awaitable, or a callable returning a Task, into a Task,
// so that wrappers such as timeout_after(d, x) accept q.get(), sock.recv(...) or a lambda.
#pragma once

#include <concepts>
#include <functional>
#include <type_traits>
#include <utility>

#include "curio/core/task.hpp"

namespace curio {

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<Task<T>> : std::true_type {};

// A callable returning a Task (curio's corofunc). A coroutine function named without & (a
// function type, or a reference to one) counts: wrappers store std::decay_t of it.
template <class F>
concept TaskFactory = std::invocable < std::decay_t<F>
& > &&is_task<std::invoke_result_t<std::decay_t<F>&>>::value;

// A callable that returns a Task when called with args (curio's spawn(corofunc, *args)). The
// wrappers copy or move the callable and the arguments into the task's frame, as
// run_in_thread does, so nothing dangles while the task runs.
template <class F, class... A>
concept TaskFunction = std::invocable<std::decay_t<F> &&, std::decay_t<A>&&...>&&
    is_task<std::invoke_result_t<std::decay_t<F>&&, std::decay_t<A>&&...>>::value;

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

// The callable and its arguments (all moved into the frame) called once and awaited.
template <class F, class... A>
std::invoke_result_t<F&&, A&&...> call_with(F f, A... args) {
  co_return co_await std::invoke(std::move(f), std::move(args)...);
}

// Anything a wrapper accepts, as a Task.
template <class X>
auto to_task(X&& x) {
  using D = std::decay_t<X>;
  if constexpr (is_task<D>::value)
    return D(std::forward<X>(x));
  else if constexpr (TaskFactory<D>)
    return call_owned(D(std::forward<X>(x)));
  else
    return as_task(D(std::forward<X>(x)));
}

// A callable with its arguments, as a Task.
template <class F, class A0, class... A>
auto to_task(F&& f, A0&& a0, A&&... args) {
  return call_with(std::decay_t<F>(std::forward<F>(f)), std::decay_t<A0>(std::forward<A0>(a0)),
                   std::decay_t<A>(std::forward<A>(args))...);
}

}  // namespace detail

// What timeout_after, ignore_after and disable_cancellation take: a Task, any awaitable, or a
// callable returning a Task.
template <class X>
concept TaskLike =
    is_task<std::remove_cvref_t<X>>::value || TaskFactory<std::remove_cvref_t<X>> || detail::AwaitableNotTask<X>;

// What the wrappers' (op, args...) forms take: TaskLike alone, or a TaskFunction with arguments.
template <class X, class... A>
concept TaskCall = (sizeof...(A) == 0 && TaskLike<X>) || (sizeof...(A) > 0 && TaskFunction<X, A...>);

}  // namespace curio
