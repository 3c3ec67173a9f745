// curio/process/run_in_process.hpp: run_in_process (curio.workers) for CPU-heavy work. Each call
// forks a worker process that runs fn(args...) and sends the result back through a pipe while
// the task waits on the kernel (which keeps running). Cancelling the task kills the worker; a
// worker that dies without answering (a crash, a signal) raises ProcessError.
//
// What crosses the boundary: the worker is a fork of this process at the time of the call, so
// fn and its arguments need no conversion at all (any callable and any argument types work, as
// copies). Only the result travels back: void, trivially copyable types, std::string,
// std::vector of trivially copyable types, or any type with a ProcessCodec specialization. An
// exception thrown by fn comes back as ProcessError carrying its type and message.
// The worker must not use curio (the kernel and its threads are not in the fork).
#pragma once

#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "curio/core/errors.hpp"
#include "curio/core/task.hpp"

namespace curio {

// The worker failed: fn threw, or the process died without answering.
class ProcessError : public CurioError {
 public:
  using CurioError::CurioError;
};

// How a result type crosses from the worker back to the caller. Specialize for your own types:
// static void encode(const T&, std::string& out); static T decode(std::string_view bytes).
template <class T, class = void>
struct ProcessCodec;

template <class T>
struct ProcessCodec<T, std::enable_if_t<std::is_trivially_copyable_v<T>>> {
  static void encode(const T& v, std::string& out) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
  static T decode(std::string_view bytes) {
    if (bytes.size() != sizeof(T)) throw ProcessError("curio: run_in_process: malformed result from the worker");
    T v;
    std::memcpy(&v, bytes.data(), sizeof v);
    return v;
  }
};
template <>
struct ProcessCodec<std::string> {
  static void encode(const std::string& v, std::string& out) { out.append(v); }
  static std::string decode(std::string_view bytes) { return std::string(bytes); }
};
template <class E>
struct ProcessCodec<std::vector<E>, std::enable_if_t<std::is_trivially_copyable_v<E>>> {
  static void encode(const std::vector<E>& v, std::string& out) {
    out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(E));
  }
  static std::vector<E> decode(std::string_view bytes) {
    if (bytes.size() % sizeof(E) != 0) throw ProcessError("curio: run_in_process: malformed result from the worker");
    std::vector<E> v(bytes.size() / sizeof(E));
    std::memcpy(v.data(), bytes.data(), bytes.size());
    return v;
  }
};

namespace detail {
// Forks a worker that runs body() and writes its reply ('V' + value bytes, or 'E' + error
// text); waits for the reply and the worker's exit without blocking the kernel. Returns the
// value bytes; ProcessError for 'E' or a worker that died; kills the worker if cancelled.
Task<std::string> run_forked(std::function<std::string()> body);
std::string describe_current_exception();
}  // namespace detail

template <class F, class... A>
requires std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>
    Task<std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>> run_in_process(F fn, A... args) {
  using R = std::invoke_result_t<F, A...>;
  std::string bytes = co_await detail::run_forked([&]() -> std::string {
    std::string out = "V";
    try {
      if constexpr (std::is_void_v<R>) {
        std::invoke(fn, args...);
      } else {
        ProcessCodec<R>::encode(std::invoke(fn, args...), out);
      }
    } catch (...) {
      out = "E" + detail::describe_current_exception();
    }
    return out;
  });
  if constexpr (!std::is_void_v<R>) co_return ProcessCodec<R>::decode(bytes);
}

}  // namespace curio
