// src/core/kernel.cpp: the kernel loop (curio's kernel.py). Each cycle: poll I/O (blocking only
// when nothing is ready), take wakeups from other threads, expire timers, then run exactly the
// tasks that were ready when the cycle began, so a sleep(0) loop cannot starve I/O or timers.
// The I/O poller is a backend behind src/core/poller.hpp (epoll or io_uring).
#include "curio/core/kernel.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "curio/core/activation.hpp"
#include "curio/core/log.hpp"
#include "curio/core/traps.hpp"
#include "curio/core/where.hpp"
#include "monitor_hook.hpp"
#include "poller.hpp"
#include "remote_inbox.hpp"
#include "task_extras.hpp"

namespace curio {

using detail::TaskState;

namespace {
std::atomic<std::uint64_t> next_task_id{0};

// While busy, poll I/O without blocking at the start of a cycle once the last poll is older than
// this. Bounded in time, not in cycles: a few slow cycles must not hide an end-of-file that
// arrived before a cancellation (curio polls every cycle), and a tight sleep(0) loop must not pay
// a system call per task switch.
constexpr std::int64_t kPollIntervalNs = 10'000;

// With nothing ready but a task that just started waiting for another thread (run_in_thread,
// UniversalQueue...), watch the inbox up to this long before sleeping in epoll: short jobs answer
// within microseconds, and waking a sleeping thread costs tens of them on a VM. Only a wait that
// began within this window triggers it, so a long job costs one spin, not one per idle cycle.
// A kernel that has just run a call from another kernel (spawn_on, call_on) watches its inbox as
// long for the next one, as a worker thread watches for its next job: a caller that calls in a
// loop reaches a kernel that is awake.
constexpr std::int64_t kRemoteSpinNs = 50'000;

// Installs a kernel as the thread's current one for the duration of a run or a shutdown.
class CurrentKernel {
 public:
  explicit CurrentKernel(Kernel* k) { detail::tls_current_kernel = k; }
  ~CurrentKernel() { detail::tls_current_kernel = nullptr; }
};

// The backend KernelOptions asked for, with Auto resolved through CURIO_BACKEND.
IoBackend requested_backend(IoBackend option) {
  if (option != IoBackend::Auto) return option;
  const char* env = std::getenv("CURIO_BACKEND");
  if (!env || !*env) return IoBackend::Auto;
  std::string_view v(env);
  if (v == "auto") return IoBackend::Auto;
  if (v == "epoll") return IoBackend::Epoll;
  if (v == "io_uring") return IoBackend::IoUring;
  throw RuntimeError("curio: CURIO_BACKEND must be epoll, io_uring or auto (got '" + std::string(v) + "')");
}

std::unique_ptr<detail::Poller> make_poller(IoBackend requested, int inbox_fd) {
  switch (requested) {
    case IoBackend::Epoll:
      return detail::make_epoll_poller(inbox_fd);
    case IoBackend::IoUring:
      try {
        return detail::make_uring_poller(inbox_fd);
      } catch (const SystemError& e) {
        throw SystemError(e.code().value(),
                          std::string("curio: the io_uring backend was requested but cannot be used: ") + e.what());
      }
    case IoBackend::Auto:
      break;
  }
  try {
    return detail::make_uring_poller(inbox_fd);
  } catch (const SystemError&) {
    return detail::make_epoll_poller(inbox_fd);  // io_uring forbidden or too old: fall back
  }
}
}  // namespace

std::string_view to_string(IoBackend backend) noexcept {
  switch (backend) {
    case IoBackend::Epoll:
      return "epoll";
    case IoBackend::IoUring:
      return "io_uring";
    case IoBackend::Auto:
      break;
  }
  return "auto";
}

Kernel::Kernel(KernelOptions options) : inbox_(std::make_shared<detail::RemoteInbox>()) {
  poller_ = make_poller(requested_backend(options.backend), inbox_->event_fd());
  backend_ = poller_->backend();
  poll_events_.reserve(256);
  op_events_.reserve(256);
  try {
    for (auto& a : options.activations) add_activation(std::move(a));
    if (options.monitor || detail::monitor_requested_by_env(options.monitor_host, options.monitor_port))
      add_activation(detail::make_monitor_probe(*this, options.monitor_host, options.monitor_port));
  } catch (...) {
    activations_.clear();
    throw;
  }
}

void Kernel::add_activation(std::shared_ptr<Activation> a) {
  if (!a) throw RuntimeError("curio::Kernel::add_activation: null activation");
  if (running_) throw RuntimeError("curio::Kernel::add_activation: the kernel is running");
  a->activate(*this);
  activations_.push_back(std::move(a));
  observed_ = true;
}

KernelStats Kernel::stats() const noexcept {
  return {
      live_tasks_, ready_count_, timers_.size(), io_registrations_, poller_->recv_buffers(), poller_->ring_overflows()};
}

namespace {
void report_hook_error(const char* hook) noexcept {
  static std::atomic<bool> reported{false};  // once per process: no log flood from a hot hook
  if (!reported.exchange(true))
    std::fprintf(stderr, "curio: an activation's %s() raised: %s (further errors are not reported)\n", hook,
                 describe_exception(std::current_exception()).c_str());
}
}  // namespace

#define CURIO_NOTIFY(hook)       \
  for (auto& a : activations_) { \
    try {                        \
      a->hook(TaskView(t));      \
    } catch (...) {              \
      report_hook_error(#hook);  \
    }                            \
  }
void Kernel::notify_created(TaskState* t) noexcept { CURIO_NOTIFY(created) }
void Kernel::notify_running(TaskState* t) noexcept { CURIO_NOTIFY(running) }
void Kernel::notify_suspended(TaskState* t) noexcept { CURIO_NOTIFY(suspended) }
void Kernel::notify_terminated(TaskState* t) noexcept {CURIO_NOTIFY(terminated)}
#undef CURIO_NOTIFY

Kernel::~Kernel() {
  // A kernel that never got a task (e.g. created inside a running task, where run() raised
  // RuntimeError) has nothing to shut down: no noise about a shutdown it did not need.
  if (!shut_down_ && !all_head_ && !registrations_ && poller_->ops_in_flight() == 0) {
    inbox_->close();
    shut_down_ = true;
  }
  try {
    shutdown();
  } catch (const std::exception& e) {
    log_message(LogLevel::Error, "kernel-shutdown",
                [&] { return std::string("curio: kernel shutdown failed in destructor: ") + e.what(); });
  }
  if (wakeup_timer_fd_ >= 0) ::close(wakeup_timer_fd_);
  activations_.clear();  // a monitor probe leaves the console here
}

void Kernel::check_usable() const {
  if (detail::tls_current_kernel)
    throw RuntimeError("curio: run() called inside a running kernel (nested run is not allowed)");
  if (running_) throw RuntimeError("curio: this kernel is already running on another thread");
  if (shut_down_) throw RuntimeError("curio: the kernel has been shut down");
}

// A kernel may run on one thread, then on another: the poller may need to know (io_uring).
void Kernel::adopt_thread() {
  static thread_local const char tag = 0;
  if (thread_tag_ == &tag) return;
  if (thread_tag_) poller_->moved_to_this_thread();
  thread_tag_ = &tag;
}

TaskState* Kernel::start_main(std::coroutine_handle<> root, detail::PromiseBase* promise,
                              const detail::ResultOps* ops) {
  try {
    check_usable();
    adopt_thread();
  } catch (...) {
    root.destroy();
    throw;
  }
  CurrentKernel scope(this);
  running_ = true;
  inbox_->end_sleep();  // run_once() leaves it set so that wakeups make pollable_fd() readable
  TaskState* t;
  try {
    (void)promise;  // run() reads the result through it; the task record finds it from root
    t = spawn(root, {}, ops);
  } catch (...) {
    running_ = false;
    throw;
  }
  t->result_read = true;  // the main task's outcome reaches run()'s caller: no crash report
  t->add_ref();
  try {
    run_until_done(t);
  } catch (...) {
    running_ = false;
    t->release();
    throw;
  }
  running_ = false;
  return t;
}

void Kernel::run_until_done(TaskState* t) {
  while (!t->terminated) cycle();
}

void Kernel::cycle() {
  // (The last poll's time is a clock reading no later than now: an inbox call that was old then
  // is old now, and this check, made by every cycle about to sleep, reads no clock.)
  if (ready_count_ == 0 && !inbox_->pending() &&
      ((remote_waits_ > 0 && detail::now_ns() - last_remote_wait_ns_ < kRemoteSpinNs) ||
       (last_poll_ns_ - last_inbox_call_ns_ < kRemoteSpinNs &&
        detail::now_ns() - last_inbox_call_ns_ < kRemoteSpinNs))) {
    std::int64_t until = detail::now_ns() + kRemoteSpinNs;
    while (!inbox_->pending() && detail::now_ns() < until) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }
  if (ready_count_ == 0 && !inbox_->pending()) {
    int timeout_ms = -1;
    if (!timers_.empty()) {
      std::int64_t wait = timers_.earliest() - detail::now_ns();
      timeout_ms = wait <= 0 ? 0 : static_cast<int>((wait + 999'999) / 1'000'000);
    }
    poll_io(timeout_ms);
  } else if ((io_registrations_ > 0 || poller_->ops_in_flight() > 0) &&
             detail::now_ns() - last_poll_ns_ >= kPollIntervalNs) {
    poll_io(0);
  }
  if (inbox_->pending()) drain_inbox();
  if (!timers_.empty()) expire_timers(detail::now_ns());
  run_ready_snapshot();
}

void Kernel::run_ready_snapshot() {
  // Activations cannot be installed while the kernel runs, so observed_ holds for the whole
  // snapshot: testing it once here, not twice per step (a reload after every resume), keeps the
  // loop of a kernel without activations the code of a build without them (the per-step test
  // measured +4-5% on spawn+join and an Event switch, docs/performance.md).
  if (observed_) [[unlikely]]
    run_ready_steps<true>();
  else
    run_ready_steps<false>();
}

template <bool Observed>
void Kernel::run_ready_steps() {
  for (std::size_t n = ready_count_; n > 0; --n) {
    TaskState* t = ready_head_;
    ready_head_ = t->ready_next;
    if (!ready_head_) ready_tail_ = nullptr;
    --ready_count_;
    current_ = t;
    t->status = TaskStatus::Running;
    ++t->cycles;
    if constexpr (Observed) notify_running(t);
    t->resume_at.resume();
    current_ = nullptr;
    if constexpr (Observed) {
      if (t->root.done()) t->status = TaskStatus::Terminated;
      notify_suspended(t);
    }
    if (t->root.done()) task_terminated(t);
  }
}

std::size_t Kernel::run_once() {
  check_usable();
  CurrentKernel scope(this);
  running_ = true;
  inbox_->end_sleep();
  std::size_t ran = 0;
  try {
    if (wakeup_timer_fd_ >= 0) {
      std::uint64_t expirations;
      [[maybe_unused]] ssize_t r = ::read(wakeup_timer_fd_, &expirations, sizeof expirations);
    }
    poll_io(0);
    if (inbox_->pending()) drain_inbox();
    if (!timers_.empty()) expire_timers(detail::now_ns());
    ran = ready_count_;
    run_ready_snapshot();
    arm_wakeup();
  } catch (...) {
    running_ = false;
    throw;
  }
  running_ = false;
  return ran;
}

int Kernel::pollable_fd() {
  if (shut_down_) throw RuntimeError("curio::Kernel::pollable_fd: the kernel has been shut down");
  if (wakeup_timer_fd_ < 0) {
    int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) throw_system_error("timerfd_create");
    auto reg = std::make_unique<detail::FdRegistration>();
    reg->fd = fd;
    try {
      io_register(*reg);  // never waited on: its events only make the poller's descriptor readable
    } catch (...) {
      ::close(fd);
      throw;
    }
    wakeup_timer_fd_ = fd;
    wakeup_reg_ = std::move(reg);
    if (!running_) arm_wakeup();
  }
  return poller_->pollable_descriptor();
}

// Between run_once() calls: the timerfd fires when the kernel next has work (at once if tasks
// are ready, else at the earliest timer), and the inbox writes its eventfd on every wakeup.
void Kernel::arm_wakeup() {
  if (wakeup_timer_fd_ < 0) return;
  std::int64_t at = 0;
  if (ready_count_ > 0 || !inbox_->begin_sleep())
    at = 1;  // the earliest absolute time: already due
  else if (!timers_.empty())
    at = timers_.earliest() <= 0 ? 1 : timers_.earliest();
  itimerspec spec{};
  spec.it_value.tv_sec = at / 1'000'000'000;
  spec.it_value.tv_nsec = at % 1'000'000'000;
  if (::timerfd_settime(wakeup_timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr) < 0) throw_system_error("timerfd_settime");
  poller_->flush();  // io_uring: the poll requests queued this cycle must be in the ring to fire
}

void Kernel::poll_io(int timeout_ms) {
  bool sleeping = timeout_ms != 0;
  if (sleeping && !inbox_->begin_sleep()) {
    inbox_->end_sleep();
    timeout_ms = 0;
    sleeping = false;
  }
  poll_events_.clear();
  op_events_.clear();
  try {
    poller_->wait(timeout_ms, poll_events_, op_events_);
  } catch (...) {
    if (sleeping) inbox_->end_sleep();
    throw;
  }
  if (sleeping) inbox_->end_sleep();
  last_poll_ns_ = detail::now_ns();
  // Dispatch only reschedules tasks (no user code runs here), so no registration in this
  // batch can be released before its event is read.
  for (const detail::PollEvent& ev : poll_events_) dispatch_io(ev);
  // Each op's callback records its result and reschedules; a lent buffer goes back at once.
  for (const detail::OpEvent& ev : op_events_) {
    ev.op->on_complete(*ev.op, ev.c);
    if (ev.buffer >= 0) poller_->recycle(ev.buffer);
  }
  detail::give_back_after_burst(poll_events_);
  detail::give_back_after_burst(op_events_);
}

bool Kernel::op_supported(detail::IoOpKind kind) const noexcept { return poller_->supports(kind); }
void Kernel::op_submit(detail::IoRequest& op) { poller_->submit(op); }
void Kernel::op_cancel(detail::IoRequest& op) noexcept { poller_->cancel(op); }
std::size_t Kernel::ops_awaited() const noexcept { return poller_->ops_awaited(); }
void Kernel::op_flush() noexcept {
  try {
    poller_->flush();
  } catch (...) {
    // The next wait submits it (and raises what failed)
  }
}

// Delivers a cancellation or timeout to a task blocked in a trap (it may be cancelled).
void Kernel::interrupt(TaskState* t, std::exception_ptr exc) noexcept {
  if (t->undo == &detail::Traps::OpAwaiter::undo) {
    // An operation in flight owns its buffer until its completion: the task stays suspended,
    // the op is cancelled, and its completion decides what the task sees (OpAwaiter).
    detail::Traps::OpAwaiter::interrupt(t->undo_ctx, std::move(exc));
    return;
  }
  if (t->undo) t->undo(t->undo_ctx);
  reschedule(t, std::move(exc));
}

void Kernel::dispatch_io(const detail::PollEvent& ev) noexcept {
  detail::FdRegistration* reg = ev.reg;
  if (!reg) {
    inbox_->clear_eventfd();
    return;
  }
  if (ev.hangup) reg->hangup = true;
  if (ev.readable) {
    reg->readable = true;
    if (TaskState* t = reg->reader) {
      // Only IoAwaiter fills the reader slot, and it is the task's undo context while it waits.
      auto* a = static_cast<detail::Traps::IoAwaiter*>(t->undo_ctx);
      auto* attempt = a->has_attempt ? static_cast<detail::Traps::IoAttemptAwaiter*>(a) : nullptr;
      if (!attempt || attempt->attempt(*attempt)) {
        reg->reader = nullptr;
        reschedule(t);
      }
    }
  }
  if (ev.writable) {
    reg->writable = true;
    if (TaskState* t = std::exchange(reg->writer, nullptr)) reschedule(t);
  }
}

void Kernel::drain_inbox() {
  for (auto& signal : inbox_->take()) {
    if (TaskState* t = detail::Traps::take_remote_waiter(*signal)) reschedule(t);
  }
  bool ran_call = false;
  for (auto& call : inbox_->take_calls()) {  // posted by Traps::post_call
    call->run();
    ran_call = true;
  }
  if (ran_call) last_inbox_call_ns_ = detail::now_ns();
}

void Kernel::expire_timers(std::int64_t now) {
  while (!timers_.empty() && timers_.earliest() <= now) {
    detail::TimerNode* node = timers_.earliest_node();
    TaskState* t = TaskState::of_timer(node);
    if (node == &t->sleep_timer) {
      timers_.disarm(node);
      reschedule(t);
      continue;
    }
    // A timeout: deliver TaskTimeout now if the task is blocked and may be cancelled,
    // otherwise leave it pending for its next blocking point. (Both allocate first: the timer
    // stays armed if that fails, and fires again.)
    auto exc = std::make_exception_ptr(TaskTimeout(detail::to_time_point(now)));
    detail::TaskExtrasBase& side = t->side();
    timers_.disarm(node);
    if (t->waiting() && t->cancellation_allowed()) {
      interrupt(t, std::move(exc));
    } else if (!side.cancel_pending) {
      side.cancel_pending = std::move(exc);
      side.pending_is_timeout = true;
    }
  }
}

TaskState* Kernel::spawn(std::coroutine_handle<> root, const SpawnOptions& options, const detail::ResultOps* ops) {
  if (shut_down_) {
    root.destroy();
    throw RuntimeError("curio::spawn: the kernel has been shut down");
  }
  if (running_ && detail::tls_current_kernel != this) {
    root.destroy();
    throw RuntimeError("curio::spawn(kernel, ...): the kernel is running on another thread");
  }
  std::uint64_t id = next_task_id.fetch_add(1, std::memory_order_relaxed) + 1;
  auto* t = new TaskState(this, root, id, current_ ? current_->id : 0, options.daemon);
  t->result_ops = ops;
  t->lazy_name = options.lazy_name;
  t->quiet_connection_errors = options.quiet_connection_errors;
  const std::string_view name = options.name;
  if (!name.empty() || (current_ ? current_->extras != nullptr : detail::thread_locals() != nullptr)) [[unlikely]] {
    try {
      if (!name.empty()) t->set_name(name);
      detail::inherit_locals(current_, t);
    } catch (...) {
      delete t;  // destroys the frame too
      throw;
    }
  }
  t->resume_at = root;
  t->all_prev = all_tail_;
  if (all_tail_)
    all_tail_->all_next = t;
  else
    all_head_ = t;
  all_tail_ = t;
  ++live_tasks_;
  push_ready(t);
  if (observed_) [[unlikely]]
    notify_created(t);
  return t;
}

namespace {
// SpawnOptions::quiet_connection_errors: the peer went away (a handler's own ConnectionError, or
// a child task's, raised as TaskError by its join or group). Only reached when a task failed.
bool ended_by_peer(const std::exception_ptr& e) noexcept {
  if (is_connection_error(e)) return true;
  try {
    std::rethrow_exception(e);
  } catch (const TaskError& te) {
    return is_connection_error(te.cause());
  } catch (...) {
  }
  return false;
}
}  // namespace

void Kernel::task_terminated(TaskState* t) {
  t->terminated = true;
  t->status = TaskStatus::Terminated;
  t->undo = nullptr;
  timers_.disarm(&t->timeout_timer);
  timers_.disarm(&t->sleep_timer);
  if (t->extras) t->extras->cancel_pending = nullptr;
  const std::exception_ptr& error = t->promise()->error;
  if (error && !is_cancellation(error) && !t->result_read &&
      !(t->quiet_connection_errors && ended_by_peer(error))) {  // curio: "crashes in other tasks"
    log_message(LogLevel::Error, "task-crash", [&] {
      return "curio: Task Crash: task " + std::to_string(t->id) + " '" + std::string(t->name()) +
             "': " + describe_exception(error) + [&] {
               std::string trace = detail::crash_trace_text(t);  // the task's await chain, if captured
               if (!trace.empty() && trace.back() == '\n') trace.pop_back();
               return trace.empty() ? trace : "\n" + trace;
             }();
    });
  }
  if (observed_) [[unlikely]]
    notify_terminated(t);
  detail::Traps::wake_all(t->joiners);
  if (t->group) detail::notify_group_member_done(t->group, t);
  // Unlink from the live list and drop the kernel's reference.
  (t->all_prev ? t->all_prev->all_next : all_head_) = t->all_next;
  (t->all_next ? t->all_next->all_prev : all_tail_) = t->all_prev;
  t->all_prev = t->all_next = nullptr;
  --live_tasks_;
  t->release();
}

void Kernel::cancel_task(TaskState* t, std::exception_ptr exc) {
  if (t->terminated) return;
  detail::TaskExtrasBase& side = t->side();  // where the cancellation goes (may throw: before anything)
  timers_.disarm(&t->timeout_timer);         // curio: cancel drops the target's timeout
  if (t->waiting() && t->cancellation_allowed()) {
    interrupt(t, std::move(exc));
  } else if (!side.cancel_pending || side.pending_is_timeout) {
    // A real cancellation outranks a pending timeout; otherwise the first one stays.
    side.cancel_pending = std::move(exc);
    side.pending_is_timeout = false;
  }
}

// The task's active deadline is its timeout node's place in the timer heap (none if disarmed).
std::int64_t Kernel::set_timeout(TaskState* t, std::int64_t deadline) {
  std::int64_t prior = timers_.deadline_of(&t->timeout_timer);
  if (deadline < prior) timers_.arm(&t->timeout_timer, deadline);
  return prior;
}

void Kernel::unset_timeout(TaskState* t, std::int64_t prior) {
  if (timers_.deadline_of(&t->timeout_timer) != prior) {
    // A restored deadline that already passed fires on the next cycle.
    if (prior == detail::kNoDeadline)
      timers_.disarm(&t->timeout_timer);
    else
      timers_.arm(&t->timeout_timer, prior);
  }
  if (t->pending_is_timeout()) {
    t->extras->cancel_pending = nullptr;
    t->extras->pending_is_timeout = false;
  }
}

void Kernel::io_register(detail::FdRegistration& reg) {
  poller_->add(reg);
  reg.kernel = this;
  reg.registered = true;
  reg.prev = nullptr;
  reg.next = registrations_;
  if (registrations_) registrations_->prev = &reg;
  registrations_ = &reg;
  ++io_registrations_;
}

void Kernel::io_want_write(detail::FdRegistration& reg) noexcept { poller_->want_write(reg); }

void Kernel::io_release(detail::FdRegistration& reg) noexcept {
  if (!reg.registered) return;
  poller_->remove(reg);
  reg.registered = false;
  reg.kernel = nullptr;
  (reg.prev ? reg.prev->next : registrations_) = reg.next;
  if (reg.next) reg.next->prev = reg.prev;
  reg.prev = reg.next = nullptr;
  --io_registrations_;
  // A task still waiting on this fd must not sleep forever, nor be woken later by an fd
  // number that the OS has reused: wake it now with an error.
  for (TaskState** slot : {&reg.reader, &reg.writer}) {
    if (TaskState* t = std::exchange(*slot, nullptr)) {
      reschedule(
          t, std::make_exception_ptr(SystemError(EBADF, "the file descriptor was closed while a task waited on it")));
    }
  }
}

void Kernel::shutdown() {
  if (shut_down_) return;
  if (detail::tls_current_kernel == this) throw RuntimeError("curio: shutdown() called from inside the kernel");
  if (detail::tls_current_kernel) throw RuntimeError("curio: shutdown() called inside another running kernel");
  adopt_thread();
  {
    CurrentKernel scope(this);
    running_ = true;
    // Newest first, waiting for each, as curio does; tasks spawned meanwhile are cancelled too.
    while (all_tail_) {
      detail::TaskRef t(all_tail_);
      t->cancelled = true;
      cancel_task(t.get(), std::make_exception_ptr(TaskCancelled("kernel shutdown")));
      run_until_done(t.get());
    }
    // Ops still in flight belong to no task (a socket's multishot recv, or one being closed):
    // cancel them and take their completions, so none outlives the ring.
    for (int i = 0; i < 100 && poller_->ops_in_flight() > 0; ++i) {
      poller_->cancel_all_ops();
      poll_io(10);
    }
    running_ = false;
  }
  while (registrations_) io_release(*registrations_);
  inbox_->close();
  shut_down_ = true;
}

namespace detail {

TaskState* Traps::take_remote_waiter(RemoteSignal& signal) noexcept {
  std::lock_guard lock(signal.mu_);
  signal.inbox_.reset();
  TaskState* t = std::exchange(signal.waiter_, nullptr);
  if (t) --t->kernel->remote_waits_;
  return t;
}

bool Traps::RemoteAwaiter::await_suspend(std::coroutine_handle<> h) {
  task = current();
  if (take_pending_cancel(task)) return false;
  std::lock_guard lock(signal->mu_);
  if (signal->fired_) return false;
  if (signal->waiter_) {
    task->set_trap_error(std::make_exception_ptr(RuntimeError("curio: a RemoteSignal can have only one waiting task")));
    return false;
  }
  signal->inbox_ = task->kernel->inbox_;
  signal->waiter_ = task;
  ++task->kernel->remote_waits_;
  task->kernel->last_remote_wait_ns_ = now_ns();
  block(task, h, TaskStatus::FutureWait, &undo, this);
  return true;
}

void Traps::RemoteAwaiter::undo(void* p) noexcept {
  auto* a = static_cast<RemoteAwaiter*>(p);
  std::lock_guard lock(a->signal->mu_);
  a->signal->inbox_.reset();
  if (a->signal->waiter_) --a->signal->waiter_->kernel->remote_waits_;
  a->signal->waiter_ = nullptr;
}

bool Traps::post_call(RemoteInbox& inbox, std::unique_ptr<InboxCall> call) {
  if (auto refused = inbox.post_call(std::move(call))) {
    refused->drop();
    return false;
  }
  return true;
}

void RemoteSignal::set() {
  std::shared_ptr<RemoteInbox> inbox;
  {
    std::lock_guard lock(mu_);
    if (fired_) return;
    fired_ = true;
    inbox = std::move(inbox_);
  }
  if (inbox) inbox->post(shared_from_this());
}

}  // namespace detail
}  // namespace curio
