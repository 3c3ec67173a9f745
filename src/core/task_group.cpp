// src/core/task_group.cpp: TaskGroup (curio's task.py TaskGroup), built on spawn, cancel and
// a WaitQueue that members' termination wakes.
#include "curio/core/task_group.hpp"

#include <algorithm>
#include <memory>
#include <string>

#include "curio/core/kernel.hpp"
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
  for_each_member([&](TaskState* t) {
    if (!t->terminated) {
      ++alive;
      t->cancelled = true;
      detail::Traps::cancel(t, std::make_exception_ptr(TaskCancelled("task group destroyed")));
    }
    t->joined = true;
    unlink(t);
  });
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

template <class F>
void TaskGroup::for_each_member(F f) const {
  if (!listed_) {
    // Not in the list: the running members, among the kernel's live tasks (oldest first; a
    // member that is terminating is already in finished_), and the finished ones not consumed.
    // With none running, the kernel is not looked at (it may be gone: a group destroyed after it).
    std::size_t running = live_;
    for (TaskState *t = running ? kernel_->all_head_ : nullptr, *next; t && running; t = next) {
      next = t->all_next;
      if (t->group == this && !t->terminated) {
        --running;
        f(t);
      }
    }
    for (std::size_t i = 0; i < finished_.size();) {
      TaskState* t = finished_[i].get();
      f(t);
      if (i < finished_.size() && finished_[i].get() == t) ++i;  // else f unlinked it (erased)
    }
  }
  for (TaskState *t = head_, *next; t; t = next) {
    next = t->group_links.next;
    f(t);
  }
}

void TaskGroup::link(TaskState* t) noexcept {
  t->add_ref();
  t->group = this;
  ++members_;
  if (!t->terminated) ++live_;
  if (listed_)
    append(t);
  else if (!kernel_)
    kernel_ = t->kernel;
}

void TaskGroup::append(TaskState* t) noexcept {
  // The links take the place of the lazy name: format it into a given name first (kept in the
  // side record; out of memory, the task is shown unnamed, as name() does).
  if (t->lazy_name.format) [[unlikely]]
    (void)t->name();
  std::construct_at(&t->group_links, detail::GroupLinks{tail_, nullptr});
  t->group_linked = true;
  (tail_ ? tail_->group_links.next : head_) = t;
  tail_ = t;
}

void TaskGroup::unlink(TaskState* t) noexcept {
  if (t->group != this) return;
  if (t->group_linked) {
    detail::GroupLinks links = t->group_links;
    (links.prev ? links.prev->group_links.next : head_) = links.next;
    (links.next ? links.next->group_links.prev : tail_) = links.prev;
    t->group_linked = false;
    std::construct_at(&t->lazy_name);  // the shared bytes hold an empty lazy name again
  }
  t->group = nullptr;
  --members_;
  if (!t->terminated) {
    --live_;
    if (!t->daemon) --running_;
  }
  auto it = std::find_if(finished_.begin(), finished_.end(), [t](const TaskRef& r) { return r.get() == t; });
  if (it != finished_.end()) finished_.erase(it);
  t->release();
}

void TaskGroup::adopt(TaskState* t) {
  // A group with no list looks for its running members among one kernel's live tasks.
  if (!listed_ && kernel_ && t->kernel != kernel_)
    throw RuntimeError("curio: TaskGroup: a group with no member list holds tasks of one kernel");
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
  --live_;
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
      if (remove)
        unlink(t.get());
      else if (!listed_)
        append(t.get());  // still a member: a group with no list keeps these in its list
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
  for_each_member([&](TaskState* t) {
    if (!t->terminated && t->daemon == daemons) victims.emplace_back(t);
  });
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
  for_each_member([](TaskState* t) { t->joined = true; });
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
  for_each_member([&](TaskState* t) {
    if (!t->daemon) out.push_back(t);
  });
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
