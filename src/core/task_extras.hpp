// src/core/task_extras.hpp: the part of a task record that only some tasks need (private).
// TaskState holds one pointer to it, null until a task is named, sets a TaskLocal, inherits
// task-local values, is watched by the monitor, lets an exception escape a frame, is woken with
// an error, is cancelled or times out (TaskExtrasBase's fields).
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "curio/core/detail/task_state.hpp"
#include "curio/core/where.hpp"

namespace curio::detail {

// An immutable set of task-local values; tasks share it until one of them sets a value.
struct LocalContext {
  std::vector<std::pair<std::uint64_t, std::shared_ptr<const void>>> values;
};

struct TaskExtras : TaskExtrasBase {
  // Pooled like task records: no malloc header, and cheap to make on a task's first error.
  static void* operator new(std::size_t n) { return FramePool::allocate(n); }
  static void operator delete(void* p, std::size_t n) noexcept { FramePool::deallocate(p, n); }

  std::string name;                            // empty: unnamed ("task")
  std::shared_ptr<const LocalContext> locals;  // TaskLocal values (inherited at spawn)
  void* observer = nullptr;                    // the monitor's record of this task
  std::exception_ptr crash_error;              // the exception crash_frames belong to
  std::vector<Frame> crash_frames;             // where it escaped from, root first
};

// The whole side record of t (null if it has none): every side record is a TaskExtras.
inline TaskExtras* extras_of(const TaskState* t) noexcept { return static_cast<TaskExtras*>(t->extras.get()); }

// The calling thread's task-local values when it runs no task (a spawn_thread thread, or the
// thread calling run(), whose context the main task inherits).
std::shared_ptr<const LocalContext>& thread_locals() noexcept;

// Kernel::spawn: the new task inherits its spawner's values (or the thread's for a main task).
void inherit_locals(TaskState* parent, TaskState* child);

}  // namespace curio::detail
