// src/core/kernel.cpp: the kernel loop (curio's kernel.py). Each cycle: poll I/O (blocking only
// when nothing is ready), take wakeups from other threads, expire timers, then run exactly the
// tasks that were ready when the cycle began, so a sleep(0) loop cannot starve I/O or timers.
#include "curio/core/kernel.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>

#include "curio/core/traps.hpp"
#include "remote_inbox.hpp"

namespace curio {

using detail::TaskState;

namespace {
std::atomic<std::uint64_t> next_task_id{0};

// While busy, poll I/O without blocking once every this many cycles (an epoll_wait per
// cycle would cost more than the task switches it separates).
constexpr unsigned kCyclesBetweenPolls = 16;

// With nothing ready but a task that just started waiting for another thread (run_in_thread,
// UniversalQueue...), watch the inbox up to this long before sleeping in epoll: short jobs answer
// within microseconds, and waking a sleeping thread costs tens of them on a VM. Only a wait that
// began within this window triggers it, so a long job costs one spin, not one per idle cycle.
constexpr std::int64_t kRemoteSpinNs = 50'000;

// Installs a kernel as the thread's current one for the duration of a run or a shutdown.
class CurrentKernel {
 public:
  explicit CurrentKernel(Kernel* k) { detail::tls_current_kernel = k; }
  ~CurrentKernel() { detail::tls_current_kernel = nullptr; }
};
}  // namespace

Kernel::Kernel() : inbox_(std::make_shared<detail::RemoteInbox>()) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw_system_error("epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // nullptr marks the inbox eventfd
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, inbox_->event_fd(), &ev) < 0) {
    int err = errno;
    ::close(epoll_fd_);
    throw_system_error("epoll_ctl(ADD eventfd)", err);
  }
}

Kernel::~Kernel() {
  try {
    shutdown();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "curio: kernel shutdown failed in destructor: %s\n", e.what());
  }
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

void Kernel::check_usable() const {
  if (detail::tls_current_kernel)
    throw RuntimeError("curio: run() called inside a running kernel (nested run is not allowed)");
  if (running_) throw RuntimeError("curio: this kernel is already running on another thread");
  if (shut_down_) throw RuntimeError("curio: the kernel has been shut down");
}

TaskState* Kernel::start_main(std::coroutine_handle<> root, detail::PromiseBase* promise,
                              const detail::ResultOps* ops) {
  try {
    check_usable();
  } catch (...) {
    root.destroy();
    throw;
  }
  CurrentKernel scope(this);
  running_ = true;
  TaskState* t = spawn(root, promise, false);
  t->result_ops = ops;
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
  if (ready_count_ == 0 && remote_waits_ > 0 && !inbox_->pending() &&
      detail::now_ns() - last_remote_wait_ns_ < kRemoteSpinNs) {
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
    cycles_since_poll_ = 0;
  } else if (io_registrations_ > 0 && ++cycles_since_poll_ >= kCyclesBetweenPolls) {
    poll_io(0);
    cycles_since_poll_ = 0;
  }
  if (inbox_->pending()) drain_inbox();
  if (!timers_.empty()) expire_timers(detail::now_ns());
  run_ready_snapshot();
}

void Kernel::run_ready_snapshot() {
  for (std::size_t n = ready_count_; n > 0; --n) {
    TaskState* t = ready_head_;
    ready_head_ = t->ready_next;
    if (!ready_head_) ready_tail_ = nullptr;
    --ready_count_;
    current_ = t;
    t->status = TaskStatus::Running;
    ++t->cycles;
    t->resume_at.resume();
    current_ = nullptr;
    if (t->root.done()) task_terminated(t);
  }
}

void Kernel::poll_io(int timeout_ms) {
  bool sleeping = timeout_ms != 0;
  if (sleeping && !inbox_->begin_sleep()) {
    inbox_->end_sleep();
    timeout_ms = 0;
    sleeping = false;
  }
  std::array<epoll_event, 256> events;
  int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
  if (sleeping) inbox_->end_sleep();
  if (n < 0) {
    if (errno == EINTR) return;
    throw_system_error("epoll_wait");
  }
  // Dispatch only reschedules tasks (no user code runs here), so no registration in this
  // batch can be released before its event is read.
  for (int i = 0; i < n; ++i) {
    auto* reg = static_cast<detail::FdRegistration*>(events[i].data.ptr);
    if (!reg) {
      inbox_->clear_eventfd();
      continue;
    }
    std::uint32_t ev = events[i].events;
    if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)) reg->hangup = true;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      reg->readable = true;
      if (TaskState* t = std::exchange(reg->reader, nullptr)) reschedule(t);
    }
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
      reg->writable = true;
      if (TaskState* t = std::exchange(reg->writer, nullptr)) reschedule(t);
    }
  }
}

void Kernel::drain_inbox() {
  for (auto& signal : inbox_->take()) {
    if (TaskState* t = detail::Traps::take_remote_waiter(*signal)) reschedule(t);
  }
  for (auto& call : inbox_->take_calls()) call->run();  // posted by Traps::post_call
}

void Kernel::expire_timers(std::int64_t now) {
  while (!timers_.empty() && timers_.earliest() <= now) {
    detail::TimerNode* node = timers_.earliest_node();
    TaskState* t = node->task;
    timers_.disarm(node);
    if (node == &t->sleep_timer) {
      reschedule(t);
      continue;
    }
    // A timeout: deliver TaskTimeout now if the task is blocked and may be cancelled,
    // otherwise leave it pending for its next blocking point.
    auto exc = std::make_exception_ptr(TaskTimeout(detail::to_time_point(now)));
    if (t->waiting && t->cancellation_allowed()) {
      if (t->undo) t->undo(t->undo_ctx);
      reschedule(t, std::move(exc));
    } else if (!t->cancel_pending) {
      t->cancel_pending = std::move(exc);
      t->pending_is_timeout = true;
    }
  }
}

TaskState* Kernel::spawn(std::coroutine_handle<> root, detail::PromiseBase* promise, bool daemon) {
  if (shut_down_) {
    root.destroy();
    throw RuntimeError("curio::spawn: the kernel has been shut down");
  }
  std::uint64_t id = next_task_id.fetch_add(1, std::memory_order_relaxed) + 1;
  auto* t = new TaskState(this, root, promise, id, current_ ? current_->id : 0, daemon);
  t->resume_at = root;
  t->in_kernel = true;
  t->all_prev = all_tail_;
  if (all_tail_)
    all_tail_->all_next = t;
  else
    all_head_ = t;
  all_tail_ = t;
  ++live_tasks_;
  push_ready(t);
  return t;
}

void Kernel::task_terminated(TaskState* t) {
  t->terminated = true;
  t->status = TaskStatus::Terminated;
  t->waiting = false;
  timers_.disarm(&t->timeout_timer);
  timers_.disarm(&t->sleep_timer);
  t->cancel_pending = nullptr;
  const std::exception_ptr& error = t->promise->error;
  if (error && !is_cancellation(error) && !t->result_read) {  // curio: "crashes in other tasks"
    std::fprintf(stderr, "curio: Task Crash: task %llu '%.*s': %s\n", static_cast<unsigned long long>(t->id),
                 static_cast<int>(t->name().size()), t->name().data(), describe_exception(error).c_str());
  }
  detail::Traps::wake_all(t->joiners);
  if (t->group) detail::notify_group_member_done(t->group, t);
  // Unlink from the live list and drop the kernel's reference.
  (t->all_prev ? t->all_prev->all_next : all_head_) = t->all_next;
  (t->all_next ? t->all_next->all_prev : all_tail_) = t->all_prev;
  t->all_prev = t->all_next = nullptr;
  t->in_kernel = false;
  --live_tasks_;
  t->release();
}

void Kernel::cancel_task(TaskState* t, std::exception_ptr exc) {
  if (t->terminated) return;
  timers_.disarm(&t->timeout_timer);  // curio: cancel drops the target's timeout
  if (t->waiting && t->cancellation_allowed()) {
    if (t->undo) t->undo(t->undo_ctx);
    reschedule(t, std::move(exc));
  } else if (!t->cancel_pending || t->pending_is_timeout) {
    // A real cancellation outranks a pending timeout; otherwise the first one stays.
    t->cancel_pending = std::move(exc);
    t->pending_is_timeout = false;
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
  if (t->pending_is_timeout) {
    t->cancel_pending = nullptr;
    t->pending_is_timeout = false;
  }
}

void Kernel::io_register(detail::FdRegistration& reg) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
  ev.data.ptr = &reg;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, reg.fd, &ev) < 0) throw_system_error("epoll_ctl(ADD)");
  reg.kernel = this;
  reg.registered = true;
  reg.prev = nullptr;
  reg.next = registrations_;
  if (registrations_) registrations_->prev = &reg;
  registrations_ = &reg;
  ++io_registrations_;
}

void Kernel::io_release(detail::FdRegistration& reg) noexcept {
  if (!reg.registered) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, reg.fd, nullptr);
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
    task->trap_error = std::make_exception_ptr(RuntimeError("curio: a RemoteSignal can have only one waiting task"));
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
