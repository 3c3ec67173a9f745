// curio/core/combinators.hpp: curio::all and curio::any, typed combinators on top of TaskGroup
// (as cppcoro's when_all, Asio's && and ||).
//   auto [s, b] = co_await curio::all(get_subject(id), get_buyinfo(id));  // a tuple; an error cancels the rest
//   auto first = co_await curio::any(from_cache(k), from_db(k));         // the first to finish; others cancelled
#pragma once

#include <cstddef>
#include <exception>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "curio/core/awaitable.hpp"
#include "curio/core/task.hpp"
#include "curio/core/task_group.hpp"

namespace curio {

namespace detail {

// A void result stands as std::monostate in a tuple or variant.
template <class T>
using value_or_monostate_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
value_or_monostate_t<T> handle_value(const TaskHandle<T>& h) {
  if constexpr (std::is_void_v<T>) {
    h.result();
    return {};
  } else {
    return h.result();
  }
}

template <class... T>
Task<std::tuple<value_or_monostate_t<T>...>> all_of(Task<T>... tasks) {
  TaskGroup g;
  std::tuple<TaskHandle<T>...> handles;
  // The body re-raises the first error it sees; scope() then cancels and joins the others.
  co_await g.scope([&]() -> Task<> {
    handles = std::tuple<TaskHandle<T>...>{g.spawn(std::move(tasks))...};  // braces: spawned left to right
    while (auto done = co_await g.next_done())
      if (std::exception_ptr e = done->exception()) std::rethrow_exception(e);
  });
  co_return std::apply([](const auto&... h) { return std::tuple<value_or_monostate_t<T>...>(handle_value(h)...); },
                       handles);
}

template <class... T>
inline constexpr bool all_same_v = sizeof...(T) > 0 &&
                                   (std::is_same_v<std::tuple_element_t<0, std::tuple<T...>>, T> && ...);

template <class... T>
using any_result_t = std::conditional_t<all_same_v<T...>, std::tuple_element_t<0, std::tuple<T...>>,
                                        std::variant<value_or_monostate_t<T>...>>;

template <class R, std::size_t I, class... T>
R any_value(const std::tuple<TaskHandle<T>...>& handles, std::uint64_t winner) {
  if constexpr (I == sizeof...(T)) {
    throw RuntimeError("curio::any: the finished task is not one of its tasks");
  } else {
    const auto& h = std::get<I>(handles);
    if (h.id() != winner) return any_value<R, I + 1, T...>(handles, winner);
    if constexpr (all_same_v<T...>) {
      return h.result();
    } else {
      return R(std::in_place_index<I>, handle_value(h));
    }
  }
}

template <class... T>
Task<any_result_t<T...>> any_of(Task<T>... tasks) {
  using R = any_result_t<T...>;
  TaskGroup g;
  std::tuple<TaskHandle<T>...> handles;
  std::uint64_t winner = 0;
  co_await g.scope([&]() -> Task<> {
    handles = std::tuple<TaskHandle<T>...>{g.spawn(std::move(tasks))...};
    auto done = co_await g.next_done();
    winner = done->id();
    co_await g.cancel_remaining();
  });
  co_return any_value<R, 0, T...>(handles, winner);
}

}  // namespace detail

// Runs every op concurrently (each as a task of one TaskGroup) and returns their values as a
// tuple, in argument order (std::monostate for a void op). The first op to fail cancels the
// others; once they have ended, its exception is raised unchanged (not wrapped in TaskError).
// Cancelling or timing out the caller cancels them all. Each op is a Task, any awaitable, or a
// callable returning a Task (as timeout_after takes).
template <class... X>
requires(sizeof...(X) > 0 && (TaskLike<X> && ...)) auto all(X&&... ops) {
  return detail::all_of(detail::to_task(std::forward<X>(ops))...);
}

// Runs every op concurrently and returns the value of the first to finish; the others are
// cancelled and have ended when it returns. If the first to finish failed, its exception is
// raised unchanged. The result is T when every op returns T (void if they are void), otherwise a
// std::variant whose index() says which op finished first.
template <class... X>
requires(sizeof...(X) > 0 && (TaskLike<X> && ...)) auto any(X&&... ops) {
  return detail::any_of(detail::to_task(std::forward<X>(ops))...);
}

}  // namespace curio
