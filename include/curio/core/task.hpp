// curio/core/task.hpp: Task<T>, the return type of every curio coroutine.
// A Task is lazy and move-only. `co_await f()` runs f inside the calling task by symmetric
// transfer (a call, no kernel trip, no stack growth); only curio::spawn creates a new task.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "curio/core/frame_pool.hpp"

namespace curio {

template <class T = void>
class Task;

// Where a coroutine is (its function, file and the line of its pending co_await), captured by
// the compiler at each co_await of a Task coroutine at the cost of one 4-byte store; read by
// curio::where (curio/core/where.hpp). std::source_location is not usable with Clang 14, the
// builtins are (GCC and Clang). On unless the library is built with the CMake option
// CURIO_AWAIT_LOCATIONS=OFF (a public definition, so that every translation unit agrees).
#ifndef CURIO_AWAIT_LOCATIONS
#define CURIO_AWAIT_LOCATIONS 1
#endif

namespace detail {

class TaskState;

struct SourceSite {
  const char* file;
  const char* function;
  std::uint32_t line;
  static constexpr SourceSite current(const char* file = __builtin_FILE(), const char* function = __builtin_FUNCTION(),
                                      std::uint32_t line = __builtin_LINE()) noexcept {
    return {file, function, line};
  }
};

struct PromiseBase;
// Records the task's async stack when an exception first escapes a frame (for the report of a
// task that crashed unjoined). Defined in src/core/where.cpp.
void note_escaping_exception(PromiseBase* frame) noexcept;

// What every Task promise has, whatever T is; the kernel only sees this part.
struct PromiseBase {
  std::coroutine_handle<> continuation;  // who awaits us inline; empty for a task's root
  std::exception_ptr error;
#if CURIO_AWAIT_LOCATIONS
  // 16 bytes: the frame's file and function (set once, when the frame is created; the function
  // name is stored as an offset from the file name: both are literals of the same translation
  // unit) and the line of the co_await the frame is in (set at every co_await).
  const char* site_file = nullptr;
  std::int32_t site_function_offset = 0;
  std::uint32_t site_line = 0;  // 0: no co_await reached yet

  explicit PromiseBase(SourceSite s) noexcept : site_file(s.file) {
    auto off = reinterpret_cast<std::intptr_t>(s.function) - reinterpret_cast<std::intptr_t>(s.file);
    site_function_offset = off == static_cast<std::int32_t>(off) ? static_cast<std::int32_t>(off) : 0;
  }
  const char* site_function() const noexcept {
    if (site_function_offset == 0) return nullptr;
    return reinterpret_cast<const char*>(reinterpret_cast<std::intptr_t>(site_file) + site_function_offset);
  }
  // Every co_await in a Task coroutine passes here: the default argument is evaluated at the
  // co_await expression, so it is the awaiting line (one 4-byte store). What it returns is a
  // reference to the awaiter, never a copy: GCC 12 copies an awaiter handed back by reference
  // or by value into a second frame slot (store-forwarding stalls that made an Event switch
  // 2.6x slower, docs/performance.md), while the temporary awaiter itself already lives in the
  // frame until the co_await's full expression ends, i.e. across the suspension.
  template <class A>
  auto await_transform(A&& a, std::uint32_t line = __builtin_LINE()) noexcept {
    site_line = line;
    if constexpr (requires { static_cast<A&&>(a).operator co_await(); })
      return AwaiterByValue<decltype(static_cast<A&&>(a).operator co_await())>{static_cast<A&&>(a).operator co_await()};
    else
      return AwaiterRef<std::remove_reference_t<A>>{a};
  }
  // The awaiter the co_await expression built, forwarded through a pointer.
  template <class A>
  struct AwaiterRef {
    A& a;
    bool await_ready() noexcept(noexcept(a.await_ready())) { return a.await_ready(); }
    template <class H>
    decltype(auto) await_suspend(H h) noexcept(noexcept(a.await_suspend(h))) {
      return a.await_suspend(h);
    }
    decltype(auto) await_resume() noexcept(noexcept(a.await_resume())) { return a.await_resume(); }
  };
  // An awaitable's operator co_await result (Task's: one handle), kept by value.
  template <class A>
  struct AwaiterByValue {
    A a;
    bool await_ready() noexcept(noexcept(a.await_ready())) { return a.await_ready(); }
    template <class H>
    decltype(auto) await_suspend(H h) noexcept(noexcept(a.await_suspend(h))) {
      return a.await_suspend(h);
    }
    decltype(auto) await_resume() noexcept(noexcept(a.await_resume())) { return a.await_resume(); }
  };
#else
  explicit PromiseBase(SourceSite) noexcept {}
#endif

  static void* operator new(std::size_t n) { return FramePool::allocate(n); }
  static void operator delete(void* p, std::size_t n) noexcept { FramePool::deallocate(p, n); }

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      // Return to whoever awaited us inline; a task's root returns to the kernel loop,
      // which notices that the root frame is done.
      if (auto c = h.promise().continuation) return c;
      return std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept {
    error = std::current_exception();
#if CURIO_AWAIT_LOCATIONS
    note_escaping_exception(this);
#endif
  }
};

template <class T>
struct Promise : PromiseBase {
  std::optional<T> value;

  // The default argument is evaluated in the coroutine that creates this promise: its name.
  explicit Promise(SourceSite s = SourceSite::current()) noexcept : PromiseBase(s) {}

  Task<T> get_return_object() noexcept;
  template <class U = T>
  requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) { value.emplace(std::forward<U>(v)); }
  T take() {
    if (error) std::rethrow_exception(error);
    return std::move(*value);
  }
};

template <>
struct Promise<void> : PromiseBase {
  explicit Promise(SourceSite s = SourceSite::current()) noexcept : PromiseBase(s) {}
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take() {
    if (error) std::rethrow_exception(error);
  }
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using value_type = T;
  using handle_type = std::coroutine_handle<promise_type>;

  Task() noexcept = default;
  explicit Task(handle_type h) noexcept : handle_(h) {}
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { destroy(); }

  bool valid() const noexcept { return static_cast<bool>(handle_); }

  // Awaiting a task runs it to completion inside the awaiting task (symmetric transfer).
  auto operator co_await() && noexcept { return Awaiter{handle_}; }
  auto operator co_await() & noexcept { return Awaiter{handle_}; }

  // Gives up ownership of the frame (used by spawn, which hands it to a task record).
  handle_type release() noexcept { return std::exchange(handle_, {}); }

 private:
  struct Awaiter {
    handle_type callee;
    bool await_ready() const noexcept { return !callee || callee.done(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept {
      callee.promise().continuation = caller;
      return callee;
    }
    T await_resume() { return callee.promise().take(); }
  };

  void destroy() noexcept {
    if (handle_) handle_.destroy();
  }

  handle_type handle_;
};

namespace detail {
template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}
}  // namespace detail

}  // namespace curio
