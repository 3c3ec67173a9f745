// curio/core/detail/task_state.hpp: the kernel's record of one task (curio's Task object).
// Users hold it through TaskHandle<T>; the kernel, task groups and wait queues point at it.
// It is reference counted without atomics: a task record is only touched on its kernel's thread.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>

#include "curio/core/detail/timer_heap.hpp"
#include "curio/core/frame_pool.hpp"
#include "curio/core/task.hpp"

namespace curio {

class Kernel;
class TaskGroup;

// What a task is doing, as curio names it (shown by introspection and crash reports).
enum class TaskStatus : std::uint8_t {
  Initial,
  Ready,
  Running,
  Terminated,
  ReadWait,
  WriteWait,
  FutureWait,
  TimeSleep,
  TaskJoin,
  EventWait,
  LockAcquire,
  SemaAcquire,
  CondWait,
  QueueGet,
  QueuePut,
  QueueJoin,
  Wait,  // a generic WaitQueue wait
};
const char* to_string(TaskStatus s) noexcept;

// A task name formatted only when something shows it (a crash report, the monitor, name()):
// a function and 8 bytes it formats from, kept in the task record, so that naming each of a
// million connection tasks costs no allocation. tcp_server names its client tasks this way.
struct LazyTaskName {
  std::string (*format)(std::uint64_t data) = nullptr;
  std::uint64_t data = 0;
};

// How curio::spawn starts a task (curio/core/spawn.hpp).
struct SpawnOptions {
  bool daemon = false;          // not reported if never joined; not part of group results
  std::string_view name = {};   // for reports and introspection; unnamed tasks are "task"
  LazyTaskName lazy_name = {};  // a name formatted on demand (used when name is empty)
  // A ConnectionError (or a TaskError whose cause is one) ending the task is its normal end
  // (a peer went away), not a crash: no "Task Crash" report. run_server's client tasks.
  bool quiet_connection_errors = false;
};

namespace detail {

struct PromiseBase;
struct TimeoutScope;

// What the kernel and task groups need to know about a task's result type T, type-erased.
struct ResultOps {
  const std::type_info* type;              // typeid(T): a mismatched typed read is a clear error
  bool (*is_none)(PromiseBase*) noexcept;  // curio's "None" (void, empty optional, null pointer)
};

inline constexpr std::int64_t kNoDeadline = INT64_MAX;

// One entry of an intrusive FIFO of suspended tasks. It lives in the awaiter, i.e. in the
// suspended coroutine's frame, so waiting never allocates and undoing a wait is O(1).
struct WaitNode {
  WaitNode* prev = nullptr;
  WaitNode* next = nullptr;
  TaskState* task = nullptr;
  void* payload = nullptr;  // the waiter's hand-off slot (e.g. where a queue puts an item)
  bool linked = false;
};

class WaitList {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  WaitNode* front() const noexcept { return head_; }
  void push_back(WaitNode* n) noexcept {
    n->prev = tail_;
    n->next = nullptr;
    if (tail_)
      tail_->next = n;
    else
      head_ = n;
    tail_ = n;
    n->linked = true;
    ++size_;
  }
  void remove(WaitNode* n) noexcept {
    if (!n->linked) return;
    (n->prev ? n->prev->next : head_) = n->next;
    (n->next ? n->next->prev : tail_) = n->prev;
    n->prev = n->next = nullptr;
    n->linked = false;
    --size_;
  }
  WaitNode* pop_front() noexcept {
    WaitNode* n = head_;
    if (n) remove(n);
    return n;
  }

 private:
  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
  std::size_t size_ = 0;
};

// The tasks waiting for one task to end: a FIFO in one pointer (a ring, head->prev is the
// tail), so that a task record pays 8 bytes for it rather than a WaitList's 24. Joined on every
// spawn-and-join, so it stays in the record (not in the side record).
class JoinerList {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  void push_back(WaitNode* n) noexcept {
    if (!head_) {
      n->prev = n->next = n;
      head_ = n;
    } else {
      n->prev = head_->prev;
      n->next = head_;
      head_->prev->next = n;
      head_->prev = n;
    }
    n->linked = true;
  }
  void remove(WaitNode* n) noexcept {
    if (!n->linked) return;
    if (n->next == n) {
      head_ = nullptr;
    } else {
      n->prev->next = n->next;
      n->next->prev = n->prev;
      if (head_ == n) head_ = n->next;
    }
    n->prev = n->next = nullptr;
    n->linked = false;
  }
  WaitNode* pop_front() noexcept {
    WaitNode* n = head_;
    if (n) remove(n);
    return n;
  }

 private:
  WaitNode* head_ = nullptr;
};

// The side record: what only some tasks need, allocated on first use (from the frame pool) and
// freed with the task, so that a plain task pays one null pointer. This part is what the
// kernel's inline code reads (a pending error or cancellation); the rest (a
// name, task-local values, a monitor record, a crash trace) is TaskExtras in
// src/core/task_extras.hpp, which derives from it.
struct TaskExtrasBase {
  std::exception_ptr trap_error;      // raised by the pending co_await when resumed
  std::exception_ptr cancel_pending;  // a cancellation waiting for the next blocking point
  bool pending_is_timeout = false;    // cancel_pending holds a TaskTimeout (cleared on block exit)
};
struct TaskExtras;
struct TaskExtrasDeleter {
  void operator()(TaskExtrasBase* e) const noexcept;
};

// A task's two timers. The timer heap's nodes hold only their slot: of_timer finds the task, and
// which timer fired, from the node's address (a standard-layout struct, so offsetof is defined).
// The pair is 8-byte aligned, so the timeout timer is the one 4 bytes past a multiple of 8.
struct alignas(8) TaskTimers {
  TimerNode sleep_timer;
  TimerNode timeout_timer;  // armed at the active (nearest) deadline
};
static_assert(sizeof(TaskTimers) == 8 && offsetof(TaskTimers, sleep_timer) == 0 &&
              offsetof(TaskTimers, timeout_timer) == 4);

// A member's links in its TaskGroup's list of members (see TaskState::group).
struct GroupLinks {
  TaskState* prev;
  TaskState* next;
};

// 160 bytes (the 160-byte frame-pool class; tests/core/task_cost_test.cpp): what every switch,
// spawn and join touches stays here; errors and cancellations live in the side record.
class TaskState : public TaskTimers {
 public:
  TaskState(Kernel* k, std::coroutine_handle<> root, std::uint64_t id, std::uint64_t parent_id, bool daemon) noexcept;
  ~TaskState();
  TaskState(const TaskState&) = delete;
  TaskState& operator=(const TaskState&) = delete;

  static void* operator new(std::size_t n) { return FramePool::allocate(n); }
  static void operator delete(void* p, std::size_t n) noexcept { FramePool::deallocate(p, n); }

  void add_ref() noexcept { ++refs; }
  void release() noexcept {
    if (--refs == 0) delete this;
  }

  // The name: SpawnOptions::name, else the lazy name (formatted and kept on first use), else "task".
  std::string_view name() const noexcept;
  void set_name(std::string_view n);
  TaskExtras& extras_or_make();
  // The side record, made if needed (it may throw std::bad_alloc; callers that cannot throw
  // deliver an error, whose exception object was just allocated as well).
  TaskExtrasBase& side();
  bool cancellation_allowed() const noexcept { return no_cancel_depth == 0; }
  bool waiting() const noexcept { return undo != nullptr; }  // suspended in a trap (every trap has an undo)

  // The pending cancellation, if any (no side record: none).
  bool has_pending_cancel() const noexcept { return extras && extras->cancel_pending; }
  bool pending_is_timeout() const noexcept { return extras && extras->pending_is_timeout; }
  void set_trap_error(std::exception_ptr e) { side().trap_error = std::move(e); }

  static TaskState* of_timer(TimerNode* n) noexcept {
    bool timeout = reinterpret_cast<std::uintptr_t>(n) % alignof(TaskTimers) == offsetof(TaskTimers, timeout_timer);
    std::size_t offset = timeout ? offsetof(TaskTimers, timeout_timer) : offsetof(TaskTimers, sleep_timer);
    return static_cast<TaskState*>(reinterpret_cast<TaskTimers*>(reinterpret_cast<char*>(n) - offset));
  }

  // --- identity ---
  std::uint64_t id;
  std::uint64_t parent_id;
  Kernel* kernel;
  std::coroutine_handle<> root;  // the spawned coroutine's frame, owned here
  // Its promise (result and exception live there). Every Task promise derives from
  // PromiseBase first and is at most 16-byte aligned (asserted by spawn), so it sits at the same
  // place in every frame: no pointer kept.
  PromiseBase* promise() const noexcept {
    return &std::coroutine_handle<PromiseBase>::from_address(root.address()).promise();
  }
  std::unique_ptr<TaskExtrasBase, TaskExtrasDeleter> extras;  // null for most tasks

  // --- scheduling ---
  std::coroutine_handle<> resume_at;  // the innermost suspended frame of this task
  TaskState* ready_next = nullptr;    // kernel ready queue link
  TaskState* all_prev = nullptr;      // kernel list of live tasks
  TaskState* all_next = nullptr;
  void (*undo)(void*) = nullptr;  // removes the current wait registration (curio's cancel_func); null when not waiting
  void* undo_ctx = nullptr;
  TimeoutScope* deadlines = nullptr;  // innermost timeout_after/ignore_after block

  // --- joining ---
  const ResultOps* result_ops = nullptr;  // set by every spawn
  JoinerList joiners;
  // Scheduling slices (curio's Task.cycles: TaskHandle::cycles(), the monitor's ps, where).
  // Stays here: incremented on every switch, where a side record would cost a test and a load.
  std::uint64_t cycles = 0;
  // The task group it belongs to, if any. Every tcp_server client is a member of the server's
  // group, so the pointer stays here (in the side record it would make one per connection); that
  // group keeps no list of its members (it finds its running clients in the kernel's list of live
  // tasks when it cancels them), so a client pays these 8 bytes only. Other groups list theirs.
  TaskGroup* group = nullptr;
  // The lazy name (see SpawnOptions) or, while group_linked, the task's links in its group's list
  // of members: only run_server's clients have lazy names and their group keeps no list, so the
  // two share 16 bytes. A task that joins a listed group has its lazy name formatted first (it
  // becomes a given name), so it is never lost (TaskGroup::link).
  union {
    LazyTaskName lazy_name{};  // valid while !group_linked (then also holds {} for most tasks)
    GroupLinks group_links;    // valid while group_linked
  };

  std::uint32_t refs = 1;
  std::uint16_t no_cancel_depth = 0;  // nesting of disable_cancellation
  TaskStatus status = TaskStatus::Initial;
  // Set once or twice in a task's life: one byte of bits (the record's last 8 bytes).
  bool daemon : 1;
  bool cancelled : 1 = false;  // cancel() was called on it while it was alive
  bool terminated : 1 = false;
  bool joined : 1 = false;  // its outcome was collected (join, group, cancel after end)
  bool result_read : 1 = false;
  bool quiet_connection_errors : 1 = false;  // see SpawnOptions
  bool group_linked : 1 = false;             // in its group's member list: group_links, not lazy_name
};

// Called by the kernel when a member of a task group terminates (defined with TaskGroup).
void notify_group_member_done(TaskGroup* group, TaskState* t) noexcept;

// An intrusive owning pointer to a TaskState.
class TaskRef {
 public:
  TaskRef() noexcept = default;
  explicit TaskRef(TaskState* s, bool add = true) noexcept : s_(s) {
    if (s_ && add) s_->add_ref();
  }
  TaskRef(const TaskRef& o) noexcept : TaskRef(o.s_) {}
  TaskRef(TaskRef&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  TaskRef& operator=(TaskRef o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~TaskRef() {
    if (s_) s_->release();
  }
  TaskState* get() const noexcept { return s_; }
  TaskState* operator->() const noexcept { return s_; }
  explicit operator bool() const noexcept { return s_ != nullptr; }
  friend bool operator==(const TaskRef& a, const TaskRef& b) noexcept { return a.s_ == b.s_; }

 private:
  TaskState* s_ = nullptr;
};

}  // namespace detail
}  // namespace curio
