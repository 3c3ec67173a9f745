// curio/core/where.hpp: async stack traces. curio::where(task) tells where a task is: the chain
// of coroutine frames from its root down to the one that is suspended, each with its function
// and the file:line of the co_await it is in, and what the task waits for (a deadline, an fd,
// an Event, a Lock, a queue, a thread job, another task). Plain data; to_string() formats it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "curio/core/detail/task_state.hpp"
#include "curio/core/errors.hpp"

namespace curio {

class AnyTaskHandle;

// One coroutine frame of a task's async stack.
struct Frame {
  std::string_view function;  // the coroutine's unqualified name ("operator()" for a lambda)
  std::string_view file;      // the file of its source (as the compiler was given it)
  std::uint32_t line = 0;     // the line of the co_await it is suspended in; 0 if none yet
};

// What a suspended task waits for.
struct WaitInfo {
  TaskStatus state = TaskStatus::Initial;  // the kind of wait (READ_WAIT, TIME_SLEEP, EVENT_WAIT...)
  int fd = -1;                             // READ_WAIT/WRITE_WAIT: the file descriptor
  std::optional<Clock::time_point> until;  // TIME_SLEEP: when it wakes up
  std::uint64_t task_id = 0;               // TASK_JOIN on one task: that task's id
  const void* object = nullptr;            // the wait queue, signal or fd registration waited on
  // "sleep until +1.250s", "fd 7 readable", "Event 0x...", "join task 12", "thread job"...
  std::string describe() const;
};

struct TaskTrace {
  std::uint64_t id = 0;
  std::uint64_t parent_id = 0;
  std::string name;
  TaskStatus state = TaskStatus::Initial;
  std::uint64_t cycles = 0;
  bool daemon = false;
  // Root first, the frame the task is suspended in last. Empty while the task runs (its
  // frames are changing on the stack) and once it has ended.
  std::vector<Frame> frames;
  WaitInfo wait;
  std::optional<Clock::time_point> timeout;  // the active timeout_after/ignore_after deadline
  // Set by the monitor for the task that is running now: how long it has been running.
  std::optional<double> running_for_seconds;

  // A multi-line report: "Task 7 'worker' TIME_SLEEP: sleep until +0.250s" and one line per
  // frame, root first: "  main  examples/x.cpp:42".
  std::string to_string() const;
};

// Where the task is now. Call it from the thread that drives the task's kernel (inside one of
// its tasks, or between run_once() calls); RuntimeError from inside another kernel. The monitor
// answers the same question from its own thread (curio/monitor/monitor.hpp).
TaskTrace where(const AnyTaskHandle& task);

namespace detail {
// The frame chain from `innermost` (a suspended or running Task frame) up to the task's root,
// root first. Kernel thread only.
void collect_frames(PromiseBase* innermost, std::vector<Frame>& out);
TaskTrace trace_of(TaskState* t);
void frames_of(TaskState* t, std::vector<Frame>& out);  // empty while it runs
void wait_of(TaskState* t, WaitInfo& out);
// The crash-report text of a task whose exception escaped its root (empty if not recorded).
std::string crash_trace_text(TaskState* t);
}  // namespace detail

}  // namespace curio
