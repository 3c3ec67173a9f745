// curio/core/task_group.hpp: TaskGroup, a scope that owns tasks (structured concurrency).
//
//   TaskGroup g;                                  // or TaskGroup g(GroupWait::Any)
//   co_await g.scope([&]() -> Task<> {
//     g.spawn(fetch(1));
//     g.spawn(fetch(2));
//   });                                           // joins here; on an error or cancellation of
//   auto values = g.results<int>();               // the body, cancels and joins the children first
//
// C++ has no asynchronous destructor, so the scope is a coroutine that takes the body: when it
// returns or throws, no child of the group is running any more. A group destroyed with live
// children (used without scope() or join()) cancels them and reports the misuse on stderr.
#pragma once

#include <deque>
#include <optional>
#include <type_traits>
#include <vector>

#include "curio/core/errors.hpp"
#include "curio/core/spawn.hpp"
#include "curio/core/task.hpp"
#include "curio/core/wait_queue.hpp"

namespace curio {

namespace detail {
// TaskGroup(detail::NoMemberList{}): a group that keeps no list of its members, so that
// membership costs a task record its group pointer only (docs/performance.md, issue 13):
// run_server's group of clients, one per connection, enumerated only when the server ends. Such a
// group finds its running members by walking its kernel's list of live tasks (all of them, each
// time it cancels, joins or is destroyed); it lists only the finished members that join()
// consumed and kept. Every member must be a task of one kernel.
struct NoMemberList {};
}  // namespace detail

// When join() ends (curio's wait=all/any/object/None).
enum class GroupWait {
  All,     // every task finished, or the first one that raised (or was cancelled)
  Any,     // the first task to finish
  Object,  // the first non-None result (or first exception)
  None,    // at once: cancel whatever is still running
};

class TaskGroup {
 public:
  explicit TaskGroup(GroupWait wait = GroupWait::All) noexcept : wait_(wait) {}
  explicit TaskGroup(detail::NoMemberList, GroupWait wait = GroupWait::All) noexcept : wait_(wait), listed_(false) {}
  ~TaskGroup();
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  // Runs body (a callable returning Task<>, taking TaskGroup& or nothing), then join().
  // If body throws (including a cancellation or timeout of the owner), the remaining
  // children are cancelled and joined before the exception leaves.
  template <class F>
  Task<> scope(F&& body);

  // Spawns coro as a member. RuntimeError if the group was already joined.
  template <class T>
  TaskHandle<T> spawn(Task<T> coro, SpawnOptions options = {}) {
    check_open("spawn");
    TaskHandle<T> h = curio::spawn(std::move(coro), options);
    adopt(h.state_ptr());
    return h;
  }
  // Spawns a callable returning a Task (the callable lives as long as the task).
  template <TaskFactory F>
  auto spawn(F&& factory, SpawnOptions options = {}) {
    return spawn(detail::call_owned(std::decay_t<F>(std::forward<F>(factory))), options);
  }
  // Spawns fn(args...) as a member (curio's g.spawn(corofunc, *args)); arguments are copied or
  // moved into the task as with curio::spawn(fn, args...).
  template <class F, class A0, class... A>
  requires detail::SpawnCall<F, A0, A...>
  auto spawn(F&& fn, A0&& a0, A&&... args) {
    return spawn(detail::to_task(std::forward<F>(fn), std::forward<A0>(a0), std::forward<A>(args)...));
  }
  // Runs fn(args...) on a new thread as a member (curio's g.spawn(fn, *args) with a thread;
  // spawn_thread). Defined in curio/thread/spawn_thread.hpp: include it (curio.hpp does).
  template <class F, class... A>
  auto spawn_thread(F&& fn, A&&... args);
  // Adds an existing task (it may have finished already). RuntimeError if it already belongs
  // to a group or the group was joined.
  void add_task(const AnyTaskHandle& task);

  // The next finished member (removed from the group, marked joined), or nullopt when no
  // member is left. Loop on it to iterate: while (auto t = co_await g.next_done()) {...}
  Task<std::optional<AnyTaskHandle>> next_done();
  // The value of the next finished member, its exception re-raised unwrapped.
  // RuntimeError if the group is empty.
  template <class T>
  Task<T> next_result();

  // Waits according to the wait mode, then cancels whatever still runs (daemons included)
  // and waits for it. Never raises a child's error; see result()/results().
  Task<> join();
  // Cancels every running non-daemon member and waits for each; they leave the group.
  Task<> cancel_remaining();

  bool joined() const noexcept { return joined_; }
  // The task that decided join() (nullopt if none did).
  std::optional<AnyTaskHandle> completed() const;
  // completed()'s value (its error re-raised); RuntimeError if no task completed successfully.
  template <class T>
  T result() const;
  std::exception_ptr exception() const;
  // Values of the non-daemon members still in the group, by task id; raises the first error.
  template <class T>
  requires(!std::is_void_v<T>) std::vector<T> results()
  const;
  std::vector<std::exception_ptr> exceptions() const;
  // Non-daemon members still in the group, by task id.
  std::vector<AnyTaskHandle> tasks() const;

 private:
  friend void detail::notify_group_member_done(TaskGroup*, detail::TaskState*) noexcept;
  friend void detail::group_discard(TaskGroup*, detail::TaskState*) noexcept;

  void check_open(const char* what) const;
  void require_joined(const char* what) const;
  void adopt(detail::TaskState* t);
  void link(detail::TaskState* t) noexcept;
  void append(detail::TaskState* t) noexcept;  // to the member list
  void unlink(detail::TaskState* t) noexcept;
  void member_done(detail::TaskState* t) noexcept;
  std::vector<detail::TaskState*> sorted_members() const;
  // Calls f(t) for each member, oldest first (running ones first in a group with no list); f
  // may unlink t, and no other member.
  template <class F>
  void for_each_member(F f) const;
  Task<detail::TaskRef> next_finished(bool remove);
  Task<> cancel_running(bool daemons, bool remove);

  GroupWait wait_;
  bool joined_ = false;
  bool listed_ = true;                 // false: detail::NoMemberList
  std::size_t members_ = 0;            // in both kinds of group
  detail::TaskState* head_ = nullptr;  // members, oldest first, linked through their group_links
  detail::TaskState* tail_ = nullptr;
  Kernel* kernel_ = nullptr;              // a group with no list: whose live tasks include its running members
  std::size_t live_ = 0;                  // members still running, daemons included
  std::size_t running_ = 0;               // non-daemon members still running
  std::deque<detail::TaskRef> finished_;  // finished members not yet consumed, in order
  WaitQueue finish_waiters_;
  detail::TaskRef completed_;
};

template <class F>
Task<> TaskGroup::scope(F&& body) {
  std::exception_ptr error;
  try {
    if constexpr (std::is_invocable_v<F&, TaskGroup&>)
      co_await body(*this);
    else
      co_await body();
  } catch (...) {
    error = std::current_exception();
  }
  if (error) {
    co_await cancel_remaining();  // shielded inside; cannot be interrupted
    co_await join();
    std::rethrow_exception(error);
  }
  co_await join();
}

template <class T>
Task<T> TaskGroup::next_result() {
  if (members_ == 0) throw RuntimeError("curio: TaskGroup::next_result on an empty group");
  auto t = co_await next_done();
  if (!t) throw RuntimeError("curio: TaskGroup::next_result on an empty group");
  co_return t->template result_as<T>();
}

template <class T>
T TaskGroup::result() const {
  require_joined("result");
  if (!completed_) throw RuntimeError("curio: no task successfully completed");
  return AnyTaskHandle(completed_).result_as<T>();
}

template <class T>
requires(!std::is_void_v<T>) std::vector<T> TaskGroup::results()
const {
  require_joined("results");
  std::vector<T> out;
  for (detail::TaskState* t : sorted_members()) out.push_back(AnyTaskHandle(detail::TaskRef(t)).result_as<T>());
  return out;
}

}  // namespace curio
