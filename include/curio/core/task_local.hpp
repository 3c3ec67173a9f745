// curio/core/task_local.hpp: TaskLocal<T>, task-local context (curio's ContextTask/contextvars).
// A value set in a task is seen by that task and by every task it spawns afterwards (directly,
// in a TaskGroup, or as a spawn_thread thread), which get a copy: a child's set() does not
// change its parent. Tasks that never use a TaskLocal pay nothing (one null pointer).
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

#include "curio/core/errors.hpp"

namespace curio {

namespace detail {
// The calling task's value for key (or, outside a task, the calling thread's), or nullptr.
const void* local_find(std::uint64_t key) noexcept;
std::shared_ptr<const void> local_find_shared(std::uint64_t key);
void local_set(std::uint64_t key, std::shared_ptr<const void> value);
void local_erase(std::uint64_t key);
std::uint64_t new_local_key() noexcept;
// The calling task's (or thread's) values, to carry into another thread (spawn_thread), and
// installing them as the calling thread's own.
std::shared_ptr<const void> capture_locals();
void adopt_thread_locals(std::shared_ptr<const void> locals);
}  // namespace detail

template <class T>
class TaskLocal {
 public:
  // get() without a value set raises RuntimeError.
  TaskLocal() : key_(detail::new_local_key()) {}
  // get() without a value set returns `fallback`.
  explicit TaskLocal(T fallback)
      : key_(detail::new_local_key()), fallback_(std::make_shared<const T>(std::move(fallback))) {}
  TaskLocal(const TaskLocal&) = delete;
  TaskLocal& operator=(const TaskLocal&) = delete;

  // The current task's value (the fallback if none is set). The reference stays valid until
  // the value is next set or reset in this task.
  const T& get() const {
    if (const T* v = find()) return *v;
    if (fallback_) return *fallback_;
    throw RuntimeError("curio::TaskLocal::get: no value is set in this task and the TaskLocal has no default");
  }
  // The current task's value, or nullptr (the fallback does not count).
  const T* find() const noexcept { return static_cast<const T*>(detail::local_find(key_)); }
  bool has_value() const noexcept { return find() != nullptr; }

  // Sets the value for the current task and for the tasks it spawns from now on.
  void set(T value) { detail::local_set(key_, std::make_shared<const T>(std::move(value))); }
  // Removes the current task's value (its children keep theirs).
  void reset() { detail::local_erase(key_); }

  // set() for the lifetime of the returned object, then the previous value (or none) again.
  class [[nodiscard]] Scope {
   public:
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    ~Scope() {
      if (prev_)
        detail::local_set(local_->key_, std::move(prev_));
      else
        detail::local_erase(local_->key_);
    }

   private:
    friend class TaskLocal;
    Scope(const TaskLocal* l, std::shared_ptr<const void> prev) : local_(l), prev_(std::move(prev)) {}
    const TaskLocal* local_;
    std::shared_ptr<const void> prev_;
  };
  Scope bind(T value) {
    std::shared_ptr<const void> prev = detail::local_find_shared(key_);
    set(std::move(value));
    return Scope(this, std::move(prev));
  }

 private:
  std::uint64_t key_;
  std::shared_ptr<const T> fallback_;
};

}  // namespace curio
