// src/core/where.cpp: async stack traces. A suspended task's innermost frame is resume_at; each
// Task frame's promise links to the frame awaiting it (continuation) and carries its file,
// function and the line of its pending co_await (captured by await_transform), so the chain is
// read without any bookkeeping at run time. What the task waits for comes from the trap it is
// blocked in (its undo function says which, the undo context says on what).
#include "curio/core/where.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "curio/core/spawn.hpp"
#include "curio/core/traps.hpp"
#include "task_extras.hpp"

namespace curio {

namespace detail {

namespace {

// All Task promises derive from PromiseBase first and are at most 16-byte aligned, so a
// Task frame's promise sits at the same place whatever T is.
PromiseBase* promise_of(std::coroutine_handle<> h) noexcept {
  return &std::coroutine_handle<PromiseBase>::from_address(h.address()).promise();
}

#if CURIO_AWAIT_LOCATIONS
// The adapters of awaitable.hpp (call_owned, as_task) are not the user's frames.
bool is_adapter(const PromiseBase* p) noexcept {
  const char* f = p->site_file;
  if (!f) return false;
  std::size_t n = std::strlen(f);
  static constexpr char kSuffix[] = "curio/core/awaitable.hpp";
  return n >= sizeof kSuffix - 1 && std::strcmp(f + n - (sizeof kSuffix - 1), kSuffix) == 0;
}
#endif

// The trace captured when an exception first escaped a frame on this thread (its task, and the
// exception it belongs to): the report of a task that crashes unjoined prints it. One per
// thread, not per task: nothing runs between a root frame's end and its task's report.
struct EscapeTrace {
  TaskState* task = nullptr;
  std::exception_ptr error;
  std::vector<Frame> frames;
};
EscapeTrace& escape_trace() noexcept {
  static thread_local EscapeTrace trace;
  return trace;
}

}  // namespace

void collect_frames(PromiseBase* innermost, std::vector<Frame>& out) {
  out.clear();
#if CURIO_AWAIT_LOCATIONS
  constexpr std::size_t kMaxFrames = 256;  // a cycle would be a bug; never loop forever
  std::size_t n = 0;
  for (PromiseBase* p = innermost; p && n < kMaxFrames; ++n) {
    if (!is_adapter(p)) {
      const char* fn = p->site_function();
      out.push_back(Frame{fn ? std::string_view(fn) : std::string_view("?"),
                          p->site_file ? std::string_view(p->site_file) : std::string_view("?"), p->site_line});
    }
    p = p->continuation ? promise_of(p->continuation) : nullptr;
  }
  std::reverse(out.begin(), out.end());
#else
  (void)innermost;
#endif
}

void note_escaping_exception(PromiseBase* frame) noexcept {
  TaskState* t = Traps::current_or_null();
  if (!t) return;
  EscapeTrace& trace = escape_trace();
  if (trace.task == t && trace.error == frame->error) return;  // an inner frame recorded it
  try {
    trace.task = t;
    trace.error = frame->error;
    collect_frames(frame, trace.frames);
  } catch (...) {  // out of memory: no trace, no harm
    trace.task = nullptr;
    trace.error = nullptr;
  }
}

std::string crash_trace_text(TaskState* t) {
  EscapeTrace& trace = escape_trace();
  if (trace.task != t || trace.error != t->promise()->error || trace.frames.empty()) return {};
  std::string out = "  where it escaped (root first; the line is the frame's last co_await):\n";
  for (const Frame& f : trace.frames) {
    out += "    ";
    out += f.function;
    out += "  ";
    out += f.file;
    out += ':';
    out += std::to_string(f.line);
    out += '\n';
  }
  trace.task = nullptr;
  trace.error = nullptr;
  return out;
}

void frames_of(TaskState* t, std::vector<Frame>& out) {
  out.clear();
  if (t->terminated || t->root.done() || Traps::running_task(*t->kernel) == t)
    return;  // running: frames are on the stack
  if (t->resume_at == t->root || !t->resume_at)
    collect_frames(t->promise(), out);  // not started yet, or the root itself is in the trap
  else
    collect_frames(promise_of(t->resume_at), out);
}

void wait_of(TaskState* t, WaitInfo& w) {
  w = WaitInfo{};
  w.state = t->status;
  if (!t->waiting()) return;
  if (t->undo == &Traps::SleepAwaiter::undo) {
    std::int64_t d = Traps::sleep_deadline(t);
    if (d != kNoDeadline) w.until = to_time_point(d);
  } else if (t->undo == &Traps::IoAwaiter::undo) {
    auto* a = static_cast<Traps::IoAwaiter*>(t->undo_ctx);
    w.fd = a->reg->fd;
    w.object = a->reg;
  } else if (t->undo == &Traps::WaitListAwaiter::undo) {
    auto* a = static_cast<Traps::WaitListAwaiter*>(t->undo_ctx);
    w.object = a->list;
  } else if (t->undo == &Traps::JoinAwaiter::undo) {
    auto* a = static_cast<Traps::JoinAwaiter*>(t->undo_ctx);
    w.object = &a->target->joiners;
    w.task_id = a->target->id;
  } else if (t->undo == &Traps::OpAwaiter::undo) {
    auto* a = static_cast<Traps::OpAwaiter*>(t->undo_ctx);
    w.fd = a->op->fd;
    w.object = a->op;
  } else if (t->undo == &Traps::fd_wait_undo) {
    w.fd = static_cast<Traps::FdWaitBase*>(t->undo_ctx)->wait_fd;
    w.object = t->undo_ctx;
  } else if (t->undo == &Traps::RemoteAwaiter::undo) {
    w.object = static_cast<Traps::RemoteAwaiter*>(t->undo_ctx)->signal.get();
  }
}

TaskTrace trace_of(TaskState* t) {
  TaskTrace tr;
  tr.id = t->id;
  tr.parent_id = t->parent_id;
  tr.name = std::string(t->name());
  tr.state = t->status;
  tr.cycles = t->cycles;
  tr.daemon = t->daemon;
  tr.wait.state = t->status;
  if (t->terminated) return tr;
  std::int64_t timeout = Traps::timeout_deadline(t);
  if (timeout != kNoDeadline) tr.timeout = to_time_point(timeout);
  frames_of(t, tr.frames);
  wait_of(t, tr.wait);
  return tr;
}

}  // namespace detail

namespace {
std::string relative(Clock::time_point tp) {
  double s = std::chrono::duration<double>(tp - Clock::now()).count();
  char buf[48];
  std::snprintf(buf, sizeof buf, "%+.3fs", s);
  return buf;
}
std::string address(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}
}  // namespace

std::string WaitInfo::describe() const {
  switch (state) {
    case TaskStatus::TimeSleep:
      return until ? "sleep until " + relative(*until) : std::string("sleep");
    case TaskStatus::ReadWait:
      return "fd " + std::to_string(fd) + " readable";
    case TaskStatus::WriteWait:
      return "fd " + std::to_string(fd) + " writable";
    case TaskStatus::FutureWait:
      return "another thread (thread job, universal queue...) " + address(object);
    case TaskStatus::TaskJoin:
      return task_id ? "join task " + std::to_string(task_id) : "task group " + address(object);
    case TaskStatus::EventWait:
      return "Event " + address(object);
    case TaskStatus::LockAcquire:
      return "Lock " + address(object);
    case TaskStatus::SemaAcquire:
      return "Semaphore " + address(object);
    case TaskStatus::CondWait:
      return "Condition " + address(object);
    case TaskStatus::QueueGet:
      return "Queue.get " + address(object);
    case TaskStatus::QueuePut:
      return "Queue.put " + address(object);
    case TaskStatus::QueueJoin:
      return "Queue.join " + address(object);
    case TaskStatus::Wait:
      return "WaitQueue " + address(object);
    case TaskStatus::Ready:
      return "ready to run";
    case TaskStatus::Initial:
      return "not started";
    case TaskStatus::Running:
      return "running";
    case TaskStatus::Terminated:
      return "terminated";
  }
  return "?";
}

std::string TaskTrace::to_string() const {
  std::string out = "Task " + std::to_string(id) + " '" + name + "' " + curio::to_string(state);
  if (running_for_seconds) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " for %.3fs (not at a co_await: no frames to show)", *running_for_seconds);
    out += buf;
  } else if (state != TaskStatus::Running && state != TaskStatus::Terminated) {
    out += ": " + wait.describe();
  }
  if (timeout) out += " (timeout " + relative(*timeout) + ")";
  out += '\n';
  for (const Frame& f : frames) {
    out += "  ";
    out += f.function;
    out += "  ";
    out += f.file;
    out += ':';
    out += f.line ? std::to_string(f.line) : std::string("(not started)");
    out += '\n';
  }
  return out;
}

TaskTrace where(const AnyTaskHandle& task) {
  if (!task) throw RuntimeError("curio::where: empty task handle");
  detail::TaskState* t = task.state_ptr();
  Kernel* k = Kernel::current();
  if (k && k != t->kernel)
    throw RuntimeError("curio::where: the task belongs to another kernel (use the monitor to look across kernels)");
  return detail::trace_of(t);
}

}  // namespace curio
