// src/core/task_state.cpp: task records: construction, names, and the "never joined" report.
#include "curio/core/detail/task_state.hpp"

#include <cstdio>
#include <string>

#include "curio/core/log.hpp"
#include "curio/core/task.hpp"
#include "task_extras.hpp"

namespace curio {

const char* to_string(TaskStatus s) noexcept {
  switch (s) {
    case TaskStatus::Initial:
      return "INITIAL";
    case TaskStatus::Ready:
      return "READY";
    case TaskStatus::Running:
      return "RUNNING";
    case TaskStatus::Terminated:
      return "TERMINATED";
    case TaskStatus::ReadWait:
      return "READ_WAIT";
    case TaskStatus::WriteWait:
      return "WRITE_WAIT";
    case TaskStatus::FutureWait:
      return "FUTURE_WAIT";
    case TaskStatus::TimeSleep:
      return "TIME_SLEEP";
    case TaskStatus::TaskJoin:
      return "TASK_JOIN";
    case TaskStatus::EventWait:
      return "EVENT_WAIT";
    case TaskStatus::LockAcquire:
      return "LOCK_ACQUIRE";
    case TaskStatus::SemaAcquire:
      return "SEMA_ACQUIRE";
    case TaskStatus::CondWait:
      return "COND_WAIT";
    case TaskStatus::QueueGet:
      return "QUEUE_GET";
    case TaskStatus::QueuePut:
      return "QUEUE_PUT";
    case TaskStatus::QueueJoin:
      return "QUEUE_JOIN";
    case TaskStatus::Wait:
      return "WAIT";
  }
  return "?";
}

namespace detail {

TaskState::TaskState(Kernel* k, std::coroutine_handle<> root_frame, std::uint64_t task_id, std::uint64_t parent,
                     bool is_daemon) noexcept
    : id(task_id), parent_id(parent), kernel(k), root(root_frame), daemon(is_daemon) {}

TaskState::~TaskState() {
  if (terminated && !joined && !daemon && !cancelled && !result_read) {
    log_message(LogLevel::Warning, "never-joined", [&] {
      return "curio: task " + std::to_string(id) + " '" + std::string(name()) + "' finished but was never joined";
    });
  }
  if (root) root.destroy();
}

std::string_view TaskState::name() const noexcept {
  // Unnamed tasks are "task"; SpawnOptions::name names them (curio::where shows the functions).
  if (TaskExtras* e = extras_of(this); e && !e->name.empty()) return e->name;
  if (!group_linked && lazy_name.format) [[unlikely]] {
    // Formatted once, when first shown, then kept like a given name (a task record is only
    // touched on its kernel's thread, so caching from a const accessor races with nothing).
    try {
      std::string n = lazy_name.format(lazy_name.data);
      if (!n.empty()) {
        auto* self = const_cast<TaskState*>(this);
        self->extras_or_make().name = std::move(n);
        self->lazy_name = {};
        return extras_of(this)->name;
      }
    } catch (...) {  // out of memory: shown unnamed
    }
  }
  return "task";
}

void TaskState::set_name(std::string_view n) {
  extras_or_make().name.assign(n.data(), n.size());
  if (!group_linked) lazy_name = {};  // (a listed group member has no lazy name: its links are there)
}

TaskExtras& TaskState::extras_or_make() {
  if (!extras) extras.reset(new TaskExtras);
  return *extras_of(this);
}

TaskExtrasBase& TaskState::side() { return extras_or_make(); }

void TaskExtrasDeleter::operator()(TaskExtrasBase* e) const noexcept { delete static_cast<TaskExtras*>(e); }

}  // namespace detail
}  // namespace curio
