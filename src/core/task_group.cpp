// src/core/task_group.cpp: TaskGroup (curio's task.py TaskGroup), built on spawn, cancel and
// a WaitQueue that members' termination wakes.
#include "curio/core/task_group.hpp"

#include <algorithm>
#include <string>

#include "curio/core/log.hpp"

namespace curio {

using detail::TaskRef;
using detail::TaskState;

namespace detail {
void notify_group_member_done(TaskGroup* group, TaskState* t) noexcept { group->member_done(t); }
void group_discard(TaskGroup* group, TaskState* t) noexcept { group->unlink(t); }
}  // namespace detail

namespace {
// Shields a region of a group operation from cancellation: cleanup must finish.
class Shield {
 public:
  Shield() : t_(detail::Traps::current()) { ++t_->no_cancel_depth; }
  ~Shield() { --t_->no_cancel_depth; }
  Shield(const Shield&) = delete;
  Shield& operator=(const Shield&) = delete;

 private:
  TaskState* t_;
};
}  // namespace

TaskGroup::~TaskGroup() {
  std::size_t alive = 0;
  while (head_) {
    TaskState* t = head_;
    if (!t->terminated) {
      ++alive;
      t->cancelled = true;
      detail::Traps::cancel(t, std::make_exception_ptr(TaskCancelled("task group destroyed")));
    }
    t->joined = true;
    unlink(t);
  }
  finished_.clear();
  if (alive) {
    log_message(LogLevel::Warning, "taskgroup-destroyed", [&] {
      return "curio: TaskGroup destroyed with " + std::to_string(alive) +
             " running task(s); they were cancelled but not waited for "
             "(use co_await group.scope(...) or co_await group.join())";
    });
  }
}

void TaskGroup::check_open(const char* what) const {
  if (joined_) throw RuntimeError(std::string("curio: TaskGroup::") + what + " on a group that was already joined");
}

void TaskGroup::require_joined(const char* what) const {
  if (!joined_) throw RuntimeError(std::string("curio: TaskGroup::") + what + " requested before the group was joined");
}

void TaskGroup::link(TaskState* t) noexcept {
  t->add_ref();
  t->group = this;
  t->group_prev = tail_;
  t->group_next = nullptr;
  (tail_ ? tail_->group_next : head_) = t;
  tail_ = t;
}

void TaskGroup::unlink(TaskState* t) noexcept {
  if (t->group != this) return;
  (t->group_prev ? t->group_prev->group_next : head_) = t->group_next;
  (t->group_next ? t->group_next->group_prev : tail_) = t->group_prev;
  t->group_prev = t->group_next = nullptr;
  t->group = nullptr;
  if (!t->terminated && !t->daemon) --running_;
  auto it = std::find_if(finished_.begin(), finished_.end(), [t](const TaskRef& r) { return r.get() == t; });
  if (it != finished_.end()) finished_.erase(it);
  t->release();
}

void TaskGroup::adopt(TaskState* t) {
  link(t);
  if (t->terminated) {
    if (t->daemon)
      unlink(t);
    else
      finished_.emplace_back(t);
  } else if (!t->daemon) {
    ++running_;
  }
}

void TaskGroup::add_task(const AnyTaskHandle& task) {
  check_open("add_task");
  TaskState* t = task.state_ptr();
  if (!t) throw RuntimeError("curio: TaskGroup::add_task with an empty handle");
  if (t->group) throw RuntimeError("curio: TaskGroup::add_task: the task already belongs to a task group");
  adopt(t);
}

void TaskGroup::member_done(TaskState* t) noexcept {
  if (t->daemon) {
    unlink(t);
    return;
  }
  --running_;
  finished_.emplace_back(t);
  finish_waiters_.wake_one();
}

Task<TaskRef> TaskGroup::next_finished(bool remove) {
  for (;;) {
    if (!finished_.empty()) {
      TaskRef t = std::move(finished_.front());
      finished_.pop_front();
      t->joined = true;
      if (remove) unlink(t.get());
      co_return t;
    }
    if (running_ == 0) co_return TaskRef{};
    co_await finish_waiters_.wait(TaskStatus::TaskJoin);
  }
}

Task<std::optional<AnyTaskHandle>> TaskGroup::next_done() {
  TaskRef t = co_await next_finished(true);
  if (!t) co_return std::nullopt;
  co_return AnyTaskHandle(std::move(t));
}

Task<> TaskGroup::cancel_running(bool daemons, bool remove) {
  Shield shield;
  std::vector<TaskRef> victims;
  for (TaskState* t = head_; t; t = t->group_next)
    if (!t->terminated && t->daemon == daemons) victims.emplace_back(t);
  for (auto& t : victims) {
    if (!t->cancelled) {
      t->cancelled = true;
      detail::Traps::cancel(t.get(), std::make_exception_ptr(TaskCancelled()));
    }
  }
  for (auto& t : victims) {
    co_await AnyTaskHandle(t).wait();
    t->joined = true;
    if (remove) unlink(t.get());
  }
}

Task<> TaskGroup::cancel_remaining() { co_await cancel_running(/*daemons=*/false, /*remove=*/true); }

Task<> TaskGroup::join() {
  std::exception_ptr error;
  if (wait_ != GroupWait::None) {
    try {
      for (;;) {
        TaskRef t = co_await next_finished(false);
        if (!t) break;
        bool failed = t->promise()->error != nullptr;
        if (wait_ == GroupWait::All) {
          if (!completed_ || failed) completed_ = t;
          if (failed) break;
        } else if (wait_ == GroupWait::Any) {
          completed_ = t;
          break;
        } else if (failed || !t->result_ops->is_none(t->promise())) {
          completed_ = t;
          break;
        }
      }
    } catch (...) {
      error = std::current_exception();  // the owner was cancelled or timed out while joining
    }
  }
  // curio's finally: cancel what still runs, then the daemons, waiting for each.
  co_await cancel_running(/*daemons=*/false, /*remove=*/false);
  co_await cancel_running(/*daemons=*/true, /*remove=*/true);
  for (TaskState* t = head_; t; t = t->group_next) t->joined = true;
  joined_ = true;
  if (error) std::rethrow_exception(error);
}

std::optional<AnyTaskHandle> TaskGroup::completed() const {
  if (!completed_) return std::nullopt;
  return AnyTaskHandle(completed_);
}

std::exception_ptr TaskGroup::exception() const {
  require_joined("exception");
  return completed_ ? completed_->promise()->error : nullptr;
}

std::vector<TaskState*> TaskGroup::sorted_members() const {
  std::vector<TaskState*> out;
  for (TaskState* t = head_; t; t = t->group_next)
    if (!t->daemon) out.push_back(t);
  std::sort(out.begin(), out.end(), [](TaskState* a, TaskState* b) { return a->id < b->id; });
  return out;
}

std::vector<std::exception_ptr> TaskGroup::exceptions() const {
  require_joined("exceptions");
  std::vector<std::exception_ptr> out;
  for (TaskState* t : sorted_members()) out.push_back(t->promise()->error);
  return out;
}

std::vector<AnyTaskHandle> TaskGroup::tasks() const {
  std::vector<AnyTaskHandle> out;
  for (TaskState* t : sorted_members()) out.emplace_back(TaskRef(t));
  return out;
}

}  // namespace curio
