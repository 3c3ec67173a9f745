// curio/core/traps.hpp: the kernel's trap set, the only way code above the kernel suspends a
// task or asks the kernel for something (curio's traps.py). Blocking traps: sleep, wait-list
// wait, fd wait, remote-signal wait. Non-blocking traps: current task, spawn, cancel, wake,
// set/unset timeout, fd register/release. Every blocking trap first delivers a pending
// cancellation, and records how to undo its registration so a cancelled wait leaves no trace.
// The op trap (io_op) runs one I/O operation to completion on a completion backend (io_uring).
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <ctime>
#include <exception>
#include <memory>
#include <mutex>
#include <string>

#include "curio/core/detail/io_op.hpp"
#include "curio/core/detail/task_state.hpp"
#include "curio/core/errors.hpp"
#include "curio/core/kernel.hpp"

namespace curio::detail {

// Monotonic time in nanoseconds (the clock behind curio::clock()).
inline std::int64_t now_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
inline Clock::time_point to_time_point(std::int64_t ns) noexcept {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}
inline std::int64_t to_ns(Clock::time_point tp) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count();
}

enum class IoDirection : std::uint8_t { Read, Write };

// One file descriptor's registration with the kernel's poller (edge-triggered, added once).
// readable/writable remember an edge that arrived while nobody waited.
struct FdRegistration {
  int fd = -1;
  Kernel* kernel = nullptr;
  FdRegistration* prev = nullptr;  // the kernel's list of registrations (released at shutdown)
  FdRegistration* next = nullptr;
  TaskState* reader = nullptr;
  TaskState* writer = nullptr;
  bool readable = true;
  bool writable = true;
  // The poller saw a hang-up, an error or TCP urgent data: a short read no longer proves the
  // receive buffer was drained (EOF, the error or the data past the urgent mark are still there).
  bool hangup = false;
  bool registered = false;
  std::uintptr_t poller_data = 0;  // the backend's handle for this registration
};

// Shared between a task waiting on the kernel and any thread that completes the wait once.
// (curio's _future_wait: the other side of run_in_thread, UniversalQueue and friends.)
class RemoteInbox;
class RemoteSignal : public std::enable_shared_from_this<RemoteSignal> {
 public:
  // Any thread. Wakes the waiting task (now or when it starts to wait); later calls do nothing.
  void set();
  bool is_set() const {
    std::lock_guard lock(mu_);
    return fired_;
  }

 private:
  friend struct Traps;
  mutable std::mutex mu_;
  bool fired_ = false;
  std::shared_ptr<RemoteInbox> inbox_;  // where set() posts; null when nobody waits
  TaskState* waiter_ = nullptr;         // touched only on the waiting kernel's thread
};

// A call posted to a kernel's inbox (post_call): run() on that kernel's thread, between task
// steps and outside any task; or drop() instead if the kernel shuts down first. Exactly one of
// them is called, once. Both must not throw.
struct InboxCall {
  virtual ~InboxCall() = default;
  virtual void run() noexcept = 0;
  virtual void drop() noexcept = 0;
};

struct TimeoutScope {
  std::int64_t deadline;
  TimeoutScope* outer;
};

struct Traps {
  // The running task; AsyncOnlyError outside a kernel.
  static TaskState* current() {
    Kernel* k = Kernel::current();
    if (!k || !k->current_) throw AsyncOnlyError("curio: this operation must run inside a curio task");
    return k->current_;
  }
  static TaskState* current_or_null() noexcept {
    Kernel* k = Kernel::current();
    return k ? k->current_ : nullptr;
  }

  // Entry check of every blocking trap: moves a deliverable cancellation into trap_error.
  // (Both live in the side record: a task without one has neither, one test.)
  static bool take_pending_cancel(TaskState* t) noexcept {
    if (TaskExtrasBase* x = t->extras.get(); x && x->cancel_pending && t->no_cancel_depth == 0) [[unlikely]] {
      x->trap_error = std::exchange(x->cancel_pending, nullptr);
      return true;
    }
    return false;
  }
  static void block(TaskState* t, std::coroutine_handle<> h, TaskStatus s, void (*undo)(void*), void* ctx) noexcept {
    t->kernel->block(t, h, s, undo, ctx);
  }
  static void reschedule(TaskState* t, std::exception_ptr error = {}) noexcept {
    t->kernel->reschedule(t, std::move(error));
  }
  static void push_ready(TaskState* t, std::coroutine_handle<> h) noexcept {
    t->resume_at = h;
    t->kernel->push_ready(t);
  }
  static void rethrow_trap_error(TaskState* t) {
    if (TaskExtrasBase* x = t->extras.get(); x && x->trap_error) [[unlikely]]
      std::rethrow_exception(std::exchange(x->trap_error, nullptr));
  }

  static TaskState* spawn(std::coroutine_handle<> root, const SpawnOptions& options, const ResultOps* ops) {
    Kernel* k = Kernel::current();
    if (!k) {
      root.destroy();  // spawn owns the frame from here on, even when it fails
      throw AsyncOnlyError("curio::spawn: no kernel is running on this thread");
    }
    return k->spawn(root, options, ops);
  }
  // Into a given kernel from the thread that drives it while it is not running (embedding).
  static TaskState* spawn_in(Kernel& k, std::coroutine_handle<> root, const SpawnOptions& options,
                             const ResultOps* ops) {
    if (Kernel::current() && Kernel::current() != &k) {
      root.destroy();
      throw RuntimeError("curio::spawn(kernel, ...): called from a task of another kernel");
    }
    TaskState* t = k.spawn(root, options, ops);
    if (!k.running_) k.arm_wakeup();  // an embedding loop polling pollable_fd() must see it
    return t;
  }
  // A task's armed sleep or timeout deadline in ns (kNoDeadline if none): for curio::where.
  static std::int64_t sleep_deadline(TaskState* t) noexcept { return t->kernel->timers_.deadline_of(&t->sleep_timer); }
  static std::int64_t timeout_deadline(TaskState* t) noexcept {
    return t->kernel->timers_.deadline_of(&t->timeout_timer);
  }
  static TaskState* running_task(Kernel& k) noexcept { return k.current_; }
  // Cancels t with exc (never raises in the caller). No-op bookkeeping is the caller's job.
  static void cancel(TaskState* t, std::exception_ptr exc) { t->kernel->cancel_task(t, std::move(exc)); }

  static std::int64_t set_timeout(TaskState* t, std::int64_t deadline) { return t->kernel->set_timeout(t, deadline); }
  static void unset_timeout(TaskState* t, std::int64_t prior) { t->kernel->unset_timeout(t, prior); }

  static void io_register(FdRegistration& reg) {
    Kernel* k = Kernel::current();
    if (!k) throw AsyncOnlyError("curio: sockets must be created inside a running kernel");
    k->io_register(reg);
  }
  static void io_release(FdRegistration& reg) noexcept {
    if (reg.kernel) reg.kernel->io_release(reg);
  }

  // Wakes the first task of a wait list; returns it, or nullptr if the list was empty.
  // (List: a WaitList, or a task's JoinerList.)
  template <class List>
  static TaskState* wake_one(List& list) noexcept {
    WaitNode* n = list.pop_front();
    if (!n) return nullptr;
    reschedule(n->task);
    return n->task;
  }
  // Wakes the first task with an error raised by its wait; false if the list was empty.
  static bool wake_one_with(WaitList& list, std::exception_ptr error) noexcept {
    WaitNode* n = list.pop_front();
    if (!n) return false;
    reschedule(n->task, std::move(error));
    return true;
  }
  template <class List>
  static std::size_t wake_all(List& list) noexcept {
    std::size_t n = 0;
    while (wake_one(list)) ++n;
    return n;
  }

  // A wait raised a cancellation (or timeout) although what it waited for had already happened
  // (another thread completed it at the same moment): the operation stands, so the wait returns
  // normally and the cancellation is delivered again at the task's next blocking point (a
  // timeout is dropped if its block ends first, as for any pending timeout).
  static void defer_cancellation(TaskState* t, std::exception_ptr e) noexcept {
    if (t->has_pending_cancel()) return;
    bool timeout = false;
    try {
      std::rethrow_exception(e);
    } catch (const TaskTimeout&) {
      timeout = true;
    } catch (...) {
    }
    TaskExtrasBase& x = t->side();  // made when the cancellation was sent
    x.cancel_pending = std::move(e);
    x.pending_is_timeout = timeout;
  }

  // The inbox of kernel k, to post calls to it from any thread (it outlives the kernel).
  static std::shared_ptr<RemoteInbox> inbox_of(Kernel& k) noexcept { return k.inbox_; }
  // Any thread: queues call for the inbox's kernel (one wake-up per batch). If the kernel has
  // shut down, call->drop() runs here and this returns false.
  static bool post_call(RemoteInbox& inbox, std::unique_ptr<InboxCall> call);

  // Kernel side of a RemoteSignal: the task to wake, if it still waits (and detaches it).
  static TaskState* take_remote_waiter(RemoteSignal& signal) noexcept;

  // --- blocking traps as awaiters ---
  struct AwaiterBase {
    TaskState* task = nullptr;  // stays null if await_ready() said no suspension was needed
    bool await_ready() const noexcept { return false; }
    void await_resume() {
      if (task) rethrow_trap_error(task);
    }
  };

  // Sleep until deadline (ns); deadline <= 0 just yields to the other ready tasks.
  struct SleepAwaiter : AwaiterBase {
    std::int64_t deadline;
    bool await_suspend(std::coroutine_handle<> h) {
      task = current();
      if (take_pending_cancel(task)) return false;
      if (deadline <= 0) {
        push_ready(task, h);
        return true;
      }
      task->kernel->arm_sleep(task, deadline);
      block(task, h, TaskStatus::TimeSleep, &undo, task);
      return true;
    }
    static void undo(void* p) noexcept {
      auto* t = static_cast<TaskState*>(p);
      t->kernel->disarm_sleep(t);
    }
  };

  // Wait in a FIFO wait list until woken by wake_one/wake_all (curio's sched wait).
  struct WaitListAwaiter : AwaiterBase {
    WaitList* list;
    TaskStatus state;
    WaitNode node;
    WaitListAwaiter(WaitList* l, TaskStatus s, void* payload = nullptr) noexcept : list(l), state(s) {
      node.payload = payload;
    }
    bool await_suspend(std::coroutine_handle<> h) {
      task = current();
      if (take_pending_cancel(task)) return false;
      // Thread-per-core: a wait list holds the tasks of one kernel (costs one compare).
      if (WaitNode* f = list->front(); f && f->task->kernel != task->kernel) {
        foreign_wait(task, state);
        return false;
      }
      node.task = task;
      list->push_back(&node);
      block(task, h, state, &undo, this);
      return true;
    }
    // Out of line and cold: the check costs the waits one compare, not the message's code.
    [[gnu::cold, gnu::noinline]] static void foreign_wait(TaskState* t, TaskStatus s) {
      t->set_trap_error(std::make_exception_ptr(RuntimeError(
          std::string("curio: ") + to_string(s) +
          " on an object whose waiting tasks belong to another kernel (a sync primitive is used only by the "
          "kernel that made it)")));
    }
    static void undo(void* p) noexcept {
      auto* a = static_cast<WaitListAwaiter*>(p);
      a->list->remove(&a->node);
    }
  };

  // Wait until task target ends, in its joiners list (curio's join wait). The caller checked
  // that target belongs to the running kernel.
  struct JoinAwaiter : AwaiterBase {
    TaskState* target;
    WaitNode node;
    explicit JoinAwaiter(TaskState* t) noexcept : target(t) {}
    bool await_ready() const noexcept { return target->terminated; }
    bool await_suspend(std::coroutine_handle<> h) {
      task = current();
      if (take_pending_cancel(task)) return false;
      node.task = task;
      target->joiners.push_back(&node);
      block(task, h, TaskStatus::TaskJoin, &undo, this);
      return true;
    }
    static void undo(void* p) noexcept {
      auto* a = static_cast<JoinAwaiter*>(p);
      a->target->joiners.remove(&a->node);
    }
  };

  // Wait until fd reg may be ready in direction dir. With after_would_block (the caller just got
  // EAGAIN) it always waits for the next edge; otherwise it returns at once if an edge arrived
  // since the last EAGAIN. A second waiter in the same direction gets Read/WriteResourceBusy.
  struct IoAwaiter : AwaiterBase {
    FdRegistration* reg;
    IoDirection dir;
    bool after_would_block;
    bool has_attempt = false;  // this is an IoAttemptAwaiter (in the padding: no size cost)
    bool await_suspend(std::coroutine_handle<> h) {
      task = current();
      if (take_pending_cancel(task)) return false;
      bool& ready = dir == IoDirection::Read ? reg->readable : reg->writable;
      TaskState*& slot = dir == IoDirection::Read ? reg->reader : reg->writer;
      if (reg->fd < 0 || !reg->registered) {
        task->set_trap_error(std::make_exception_ptr(SystemError(EBADF, "wait on a closed file descriptor")));
        return false;
      }
      if (slot) {
        task->set_trap_error(
            dir == IoDirection::Read
                ? std::make_exception_ptr(ReadResourceBusy("another task is already reading this file descriptor"))
                : std::make_exception_ptr(WriteResourceBusy("another task is already writing this file descriptor")));
        return false;
      }
      if (after_would_block) {
        ready = false;
      } else if (ready) {
        push_ready(task, h);  // still a scheduling point, like every trap
        return true;
      }
      slot = task;
      if (dir == IoDirection::Write) reg->kernel->io_want_write(*reg);  // io_uring polls it only now
      block(task, h, dir == IoDirection::Read ? TaskStatus::ReadWait : TaskStatus::WriteWait, &undo, this);
      return true;
    }
    static void undo(void* p) noexcept {
      auto* a = static_cast<IoAwaiter*>(p);
      (a->dir == IoDirection::Read ? a->reg->reader : a->reg->writer) = nullptr;
    }
  };

  // A read wait that also performs its read (Socket::recv's awaiter): when the poller reports
  // the edge, the kernel calls attempt from its I/O dispatch before it wakes the task; attempt
  // returns false if the read would still block (a stale edge), and the task keeps waiting for
  // the next one. So the awaiter retries without a coroutine frame of its own, and a stale edge
  // costs no task switch. attempt must not throw: it keeps what it read in its awaiter, or the
  // errno of a failed read in error, for await_resume to raise.
  struct IoAttemptAwaiter : IoAwaiter {
    std::int32_t error = 0;  // in IoAwaiter's tail padding
    bool (*attempt)(IoAttemptAwaiter&) noexcept = nullptr;
  };

  // Whether the running kernel's backend runs ops of this kind (false on epoll, or outside a
  // kernel): the layer above uses readiness waits otherwise.
  static bool op_supported(IoOpKind kind) noexcept {
    Kernel* k = Kernel::current();
    return k && k->op_supported(kind);
  }
  // Submits an op whose completions go to its own callback (a multishot op owned by a socket,
  // not awaited by one task). The record must stay alive until its last completion.
  static void op_submit(IoRequest& op) { Traps::current_kernel_or_throw().op_submit(op); }
  static void op_submit(Kernel& k, IoRequest& op) { k.op_submit(op); }
  static void op_cancel(Kernel& k, IoRequest& op) noexcept { k.op_cancel(op); }
  // Single-shot ops in flight on the running kernel (0 outside one). Each keeps its awaiting
  // task suspended, with its frame, until its completion is reaped.
  static std::size_t ops_awaited() noexcept {
    Kernel* k = Kernel::current();
    return k ? k->ops_awaited() : 0;
  }
  // Hands queued submissions (e.g. a cancel) to the OS kernel now rather than at the next wait.
  static void op_flush(Kernel& k) noexcept { k.op_flush(); }
  static Kernel& current_kernel_or_throw() {
    Kernel* k = Kernel::current();
    if (!k) throw AsyncOnlyError("curio: I/O operations must run inside a running kernel");
    return *k;
  }

  // Runs one op to completion and returns its result (>= 0, or -errno: the caller names the
  // error). The task suspends until the op's completion. A cancellation or timeout that arrives
  // while the op is in flight cancels it in the OS kernel, and the task stays suspended until
  // the op's last completion, so the buffers it names (usually in the awaiting frame) stay
  // valid: -ECANCELED (or any failure) raises the cancellation; a result that won the race is
  // returned and the cancellation is raised again at the next blocking point (as when a
  // readiness wait and a cancellation meet). The op record must outlive the co_await.
  struct OpAwaiter : AwaiterBase {
    IoOp* op;
    TaskStatus state;
    int result = 0;
    std::exception_ptr interrupted;  // the cancellation that arrived while in flight
    bool interrupted_by_timeout = false;
    bool await_suspend(std::coroutine_handle<> h) {
      task = current();
      if (take_pending_cancel(task)) return false;
      op->on_complete = &complete;
      op->owner = this;
      try {
        task->kernel->op_submit(*op);
      } catch (...) {
        task->set_trap_error(std::current_exception());
        return false;
      }
      block(task, h, state, &undo, this);
      return true;
    }
    int await_resume() {
      if (task) rethrow_trap_error(task);
      return result;
    }
    // A marker the kernel recognises (it calls interrupt instead); never called.
    static void undo(void*) noexcept {}
    static void interrupt(void* p, std::exception_ptr e) noexcept {
      auto* a = static_cast<OpAwaiter*>(p);
      bool timeout = is_timeout(e);
      if (!a->interrupted || (a->interrupted_by_timeout && !timeout)) {  // a cancel outranks a timeout
        a->interrupted = std::move(e);
        a->interrupted_by_timeout = timeout;
      }
      a->task->kernel->op_cancel(*a->op);
    }
    static void complete(IoRequest& op, const IoCompletion& c) noexcept {
      auto* a = static_cast<OpAwaiter*>(op.owner);
      if (c.more) return;  // a single-shot awaiter runs single-shot ops
      a->result = c.res;
      if (!a->interrupted) {
        reschedule(a->task);
      } else if (c.res < 0) {
        reschedule(a->task, std::move(a->interrupted));
      } else {
        reschedule(a->task);
        defer_cancellation(a->task, std::move(a->interrupted));
      }
    }
    [[gnu::cold]] static bool is_timeout(const std::exception_ptr& e) noexcept {
      try {
        std::rethrow_exception(e);
      } catch (const TaskTimeout&) {
        return true;
      } catch (...) {
      }
      return false;
    }
  };

  // A descriptor wait implemented above the kernel (io_uring sockets, src/io/ring_io.hpp): its
  // awaiter derives from this and blocks with fd_wait_undo, so introspection (curio::where)
  // can name the descriptor.
  struct FdWaitBase {
    int wait_fd = -1;
    void (*undo_fn)(FdWaitBase*) noexcept = nullptr;
  };
  static void fd_wait_undo(void* p) noexcept {
    auto* b = static_cast<FdWaitBase*>(p);
    b->undo_fn(b);
  }

  // Wait until another thread calls signal->set().
  struct RemoteAwaiter : AwaiterBase {
    std::shared_ptr<RemoteSignal> signal;
    bool await_suspend(std::coroutine_handle<> h);
    static void undo(void* p) noexcept;
  };
};

inline Traps::SleepAwaiter sleep_until_ns(std::int64_t deadline) noexcept {
  Traps::SleepAwaiter a;
  a.deadline = deadline;
  return a;
}
inline Traps::IoAwaiter io_wait(FdRegistration& reg, IoDirection dir, bool after_would_block = true) noexcept {
  Traps::IoAwaiter a;
  a.reg = &reg;
  a.dir = dir;
  a.after_would_block = after_would_block;
  return a;
}
// The op trap: co_await io_op(op) runs op (its kind must be op_supported) and returns its result.
inline Traps::OpAwaiter io_op(IoOp& op) noexcept {
  Traps::OpAwaiter a;
  a.op = &op;
  switch (op.kind) {
    case IoOpKind::Recv:
    case IoOpKind::Accept:
    case IoOpKind::RecvFrom:
    case IoOpKind::Read:
      a.state = TaskStatus::ReadWait;
      break;
    default:
      a.state = TaskStatus::WriteWait;
      break;
  }
  return a;
}
inline bool io_op_supported(IoOpKind kind) noexcept { return Traps::op_supported(kind); }

inline Traps::RemoteAwaiter remote_wait(std::shared_ptr<RemoteSignal> signal) noexcept {
  Traps::RemoteAwaiter a;
  a.signal = std::move(signal);
  return a;
}

}  // namespace curio::detail
