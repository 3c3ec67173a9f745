// curio/core/spawn.hpp: spawn, current_task, and the handles to spawned tasks.
// spawn(f()) starts f as a new concurrent task and returns a TaskHandle<T>: join (value, or
// TaskError carrying the cause), wait, cancel, result, exception, and introspection
// (id, name, parent id, state). AnyTaskHandle is the same without the result type.
#pragma once

#include <concepts>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>

#include "curio/core/awaitable.hpp"
#include "curio/core/detail/result_ops.hpp"
#include "curio/core/errors.hpp"
#include "curio/core/task.hpp"
#include "curio/core/traps.hpp"

namespace curio {

namespace detail {
void group_discard(TaskGroup* group, TaskState* t) noexcept;  // task_group.cpp

}  // namespace detail

// SpawnOptions (daemon, name, lazy_name, quiet_connection_errors): curio/core/detail/task_state.hpp.

template <class T>
class TaskHandle;

// A handle to a spawned task, whatever its result type.
class AnyTaskHandle {
 public:
  AnyTaskHandle() noexcept = default;
  explicit AnyTaskHandle(detail::TaskRef ref) noexcept : state_(std::move(ref)) {}

  explicit operator bool() const noexcept { return static_cast<bool>(state_); }
  std::uint64_t id() const noexcept { return state_->id; }
  std::uint64_t parent_id() const noexcept { return state_->parent_id; }
  std::string_view name() const noexcept { return state_->name(); }
  void set_name(std::string_view n) { state_->set_name(n); }
  TaskStatus state() const noexcept { return state_->status; }
  bool daemon() const noexcept { return state_->daemon; }
  bool cancelled() const noexcept { return state_->cancelled; }
  bool terminated() const noexcept { return state_->terminated; }
  bool joined() const noexcept { return state_->joined; }
  std::uint64_t cycles() const noexcept { return state_->cycles; }
  friend bool operator==(const AnyTaskHandle& a, const AnyTaskHandle& b) noexcept { return a.state_ == b.state_; }

  // Waits for the task to end; returns nothing and raises nothing of the task's.
  auto wait() const noexcept { return WaitAwaiter(state_.get(), false); }

  // Waits for the task to end; raises TaskError (cause() = the task's exception) if it failed.
  auto join() const noexcept { return WaitAwaiter(state_.get(), true); }

  // Cancels the task: its pending (or next) blocking co_await raises exc (TaskCancelled by
  // default). With blocking, waits until it has ended. Returns false if it had already ended.
  Task<bool> cancel(bool blocking = true) const { return cancel(std::exception_ptr{}, blocking); }
  template <class E>
  requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr> &&
           !std::is_same_v<std::decay_t<E>, bool>) Task<bool> cancel(E exc, bool blocking = true)
  const { return cancel(std::make_exception_ptr(std::move(exc)), blocking); }
  Task<bool> cancel(std::exception_ptr exc, bool blocking = true) const {
    detail::TaskRef s = state_;  // the coroutine keeps the task alive, not the handle
    if (s->kernel != Kernel::current()) throw RuntimeError(foreign_task_message(s.get()));
    if (s->terminated) {
      s->joined = true;
      co_return false;
    }
    if (!s->cancelled) {  // a second cancel sends nothing new; it only waits
      s->cancelled = true;
      detail::Traps::cancel(s.get(), exc ? exc : std::make_exception_ptr(TaskCancelled()));
    }
    if (blocking) co_await WaitAwaiter(s.get(), false);
    co_return true;
  }

  // The task's exception (nullptr if it succeeded). RuntimeError if it has not ended.
  std::exception_ptr exception() const {
    require_terminated("exception");
    state_->result_read = true;
    return state_->promise()->error;
  }

  // The task's value as T (re-raising its exception unwrapped). RuntimeError if it has not
  // ended or if T is not its result type.
  template <class T>
  T result_as() const {
    require_terminated("result");
    if (*state_->result_ops->type != typeid(T))
      throw RuntimeError("curio: task result requested as a different type than the task returns");
    state_->result_read = true;
    auto* p = static_cast<detail::Promise<T>*>(state_->promise());
    if (p->error) std::rethrow_exception(p->error);
    if constexpr (!std::is_void_v<T>) {
      if constexpr (std::is_copy_constructible_v<T>)
        return *p->value;
      else
        return std::move(*p->value);
    }
  }

  detail::TaskState* state_ptr() const noexcept { return state_.get(); }

 protected:
  void require_terminated(const char* what) const {
    if (!state_->terminated)
      throw RuntimeError(std::string("curio: task ") + what + " requested before the task ended");
  }

  // Waits on the task's joiners list. For join, marks the task joined, removes it from its
  // group and turns a failure into TaskError.
  struct WaitAwaiter : detail::Traps::JoinAwaiter {
    bool joining;
    WaitAwaiter(detail::TaskState* t, bool j) noexcept : JoinAwaiter(t), joining(j) {}
    // The kernel check first: `terminated` is a bit in the byte of flags that the target's
    // kernel writes (cancel, join, group reaping), so reading it from another kernel's thread
    // would be a data race. `kernel` never changes after spawn. A foreign join gets its
    // RuntimeError from await_suspend even if the task has ended.
    bool await_ready() const noexcept { return target->kernel == Kernel::current() && target->terminated; }
    bool await_suspend(std::coroutine_handle<> h) {
      if (target->kernel != Kernel::current()) {  // thread-per-core: joiners wait on the task's kernel
        foreign_join(this);
        return false;
      }
      return JoinAwaiter::await_suspend(h);
    }
    [[gnu::cold, gnu::noinline]] static void foreign_join(WaitAwaiter* a) {
      a->task = detail::Traps::current();
      a->task->set_trap_error(std::make_exception_ptr(RuntimeError(foreign_task_message(a->target))));
    }
    void await_resume() {
      if (task) detail::Traps::rethrow_trap_error(task);
      if (joining) finish_join(target);
    }
  };
  // Runs on the wrong kernel's thread: it reads only the id, which never changes after spawn.
  // Not the name: a lazy name is formatted and stored on first use, and the side record that
  // holds a name can be made by the task's own kernel at any moment (a cancellation).
  [[gnu::cold, gnu::noinline]] static std::string foreign_task_message(const detail::TaskState* t) {
    return "curio: task " + std::to_string(t->id) +
           " belongs to another kernel (join, wait for and cancel a task from the kernel that spawned it)";
  }
  static void finish_join(detail::TaskState* t) {
    t->joined = true;
    if (t->group) detail::group_discard(t->group, t);
    if (t->promise()->error) {
      throw TaskError("curio: task " + std::to_string(t->id) + " '" + std::string(t->name()) +
                          "' failed: " + describe_exception(t->promise()->error),
                      t->promise()->error);
    }
  }

  detail::TaskRef state_;
};

// A handle to a spawned task whose coroutine returns T.
template <class T>
class TaskHandle : public AnyTaskHandle {
 public:
  using AnyTaskHandle::AnyTaskHandle;

  // Waits for the task and returns its value; TaskError (with the cause) if it failed.
  // A copyable value is copied out; a move-only value is moved out to the (first) joiner.
  auto join() const noexcept { return JoinAwaiter(state_.get()); }

  // The value, or the task's exception re-raised unwrapped. RuntimeError if not ended.
  T result() const { return result_as<T>(); }

 private:
  struct JoinAwaiter : WaitAwaiter {
    explicit JoinAwaiter(detail::TaskState* t) noexcept : WaitAwaiter(t, true) {}
    T await_resume() {
      WaitAwaiter::await_resume();
      if constexpr (!std::is_void_v<T>) {
        auto* p = static_cast<detail::Promise<T>*>(this->target->promise());
        if constexpr (std::is_copy_constructible_v<T>)
          return *p->value;
        else
          return std::move(*p->value);
      }
    }
  };
};

// Starts coro as a new task in the current kernel; it first runs at the next scheduling cycle.
template <class T>
TaskHandle<T> spawn(Task<T> coro, SpawnOptions options = {}) {
  static_assert(alignof(detail::Promise<T>) <= 16, "a task's promise is found at a fixed place in its frame");
  auto h = coro.release();
  if (!h) throw RuntimeError("curio::spawn: empty Task");
  detail::TaskState* s = detail::Traps::spawn(h, options, &detail::result_ops_for<T>);
  return TaskHandle<T>(detail::TaskRef(s));
}
template <class T>
TaskHandle<T> spawn(Task<T> coro, bool daemon) {
  return spawn(std::move(coro), SpawnOptions{.daemon = daemon});
}

// The callable form (curio's spawn(corofunc)). Prefer it for lambdas with captures: the
// lambda is moved into the task, so its captures live as long as the task.
// (`spawn([&]() -> Task<> {...}())` would destroy the lambda at the end of the statement while
// the task still runs.)
template <TaskFactory F>
auto spawn(F&& factory, SpawnOptions options = {}) {
  return spawn(detail::call_owned(std::decay_t<F>(std::forward<F>(factory))), options);
}
template <TaskFactory F>
auto spawn(F&& factory, bool daemon) {
  return spawn(std::forward<F>(factory), SpawnOptions{.daemon = daemon});
}

// Any other awaitable (sock.recv(n), q.get()): moved into a new task that awaits it.
template <class A>
requires detail::AwaitableNotTask<A>
auto spawn(A&& op, SpawnOptions options = {}) {
  return spawn(detail::as_task(std::remove_cvref_t<A>(std::forward<A>(op))), options);
}

namespace detail {
// The (fn, args...) form, unless the single argument is the factory form's options/daemon flag.
template <class F, class A0, class... A>
concept SpawnCall = TaskFunction<F, A0, A...> && !std::is_same_v<std::decay_t<A0>, SpawnOptions> &&
                    !(sizeof...(A) == 0 && std::is_same_v<std::decay_t<A0>, bool> && TaskFactory<F>);
}  // namespace detail

// curio's spawn(corofunc, *args): spawn(fetch, url, 3) calls fetch(url, 3) in the new task. The
// callable and the arguments are copied or moved into the task (as with run_in_thread), so a
// reference parameter refers to the task's own copy: pass std::ref(x) to share x instead.
template <class F, class A0, class... A>
requires detail::SpawnCall<F, A0, A...>
auto spawn(F&& fn, A0&& a0, A&&... args) {
  return spawn(detail::to_task(std::forward<F>(fn), std::forward<A0>(a0), std::forward<A>(args)...));
}

// Starts coro as a new task in `kernel` from the thread that drives it, while it is not running
// (to embed a kernel driven by run_once(); inside a task, use spawn(coro)).
template <class T>
TaskHandle<T> spawn(Kernel& kernel, Task<T> coro, SpawnOptions options = {}) {
  static_assert(alignof(detail::Promise<T>) <= 16, "a task's promise is found at a fixed place in its frame");
  auto h = coro.release();
  if (!h) throw RuntimeError("curio::spawn: empty Task");
  detail::TaskState* s = detail::Traps::spawn_in(kernel, h, options, &detail::result_ops_for<T>);
  return TaskHandle<T>(detail::TaskRef(s));
}
template <TaskFactory F>
auto spawn(Kernel& kernel, F&& factory, SpawnOptions options = {}) {
  return spawn(kernel, detail::call_owned(std::decay_t<F>(std::forward<F>(factory))), options);
}

// The task that is running now. AsyncOnlyError outside a task.
inline AnyTaskHandle current_task() { return AnyTaskHandle(detail::TaskRef(detail::Traps::current())); }

}  // namespace curio
