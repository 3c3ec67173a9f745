// curio/core/kernel.hpp: the Kernel and curio::run.
// A kernel runs tasks on one thread: a ready queue, a timer heap, an I/O poller (epoll or
// io_uring, chosen when the kernel is made) and an eventfd inbox for wakeups from other threads.
// Everything else talks to it through the trap set in curio/core/traps.hpp (class detail::Traps
// is the only friend, with TaskGroup, which reads the list of live tasks).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "curio/core/detail/result_ops.hpp"
#include "curio/core/detail/task_state.hpp"
#include "curio/core/detail/timer_heap.hpp"
#include "curio/core/errors.hpp"
#include "curio/core/task.hpp"

namespace curio {

class Kernel;
class Activation;

// The I/O backend under a kernel. Auto reads the environment variable CURIO_BACKEND
// (epoll, io_uring or auto); auto picks io_uring when the ring can be set up and has the
// features used (Linux 5.13+, not forbidden by a container's seccomp policy), else epoll.
enum class IoBackend : std::uint8_t { Auto, Epoll, IoUring };
std::string_view to_string(IoBackend backend) noexcept;  // "auto", "epoll", "io_uring"

// How a kernel is set up: Kernel(options) or run(main, options).
struct KernelOptions {
  // An explicit IoUring that cannot be set up raises SystemError naming why (no fallback).
  IoBackend backend = IoBackend::Auto;
  // Called on task creation, each run slice and termination (curio/core/activation.hpp).
  std::vector<std::shared_ptr<Activation>> activations = {};
  // Starts the process's monitor console (curio/monitor/monitor.hpp) and lists this kernel's
  // tasks in it. The environment variable CURIO_MONITOR (1, PORT or HOST:PORT) turns it on too.
  bool monitor = false;
  std::string monitor_host = "127.0.0.1";  // loopback only, unless you ask otherwise
  std::uint16_t monitor_port = 48802;      // curio's port; 0 picks a free one
};

// A snapshot of a kernel's bookkeeping (the monitor's `stats`).
struct KernelStats {
  std::size_t tasks = 0;   // live tasks
  std::size_t ready = 0;   // in the ready queue
  std::size_t timers = 0;  // armed sleeps and timeouts
  std::size_t fds = 0;     // registered file descriptors
  // io_uring with sockets on completions: the 4 KiB receive buffers provided to the OS kernel
  // (it grows under bursts of arrivals and shrinks after a quiet second; docs/io.md). 0 otherwise.
  std::size_t recv_buffers = 0;
  // io_uring: the polls that found completions past the full completion ring (kept by the OS
  // kernel until read; docs/reliability.md, "The io_uring finding"). 0 on epoll.
  std::size_t ring_overflows = 0;
};

namespace detail {
struct Traps;
struct FdRegistration;
struct PollEvent;
struct OpEvent;
struct IoRequest;
enum class IoOpKind : std::uint8_t;
class Poller;
class RemoteInbox;
inline thread_local Kernel* tls_current_kernel = nullptr;
}  // namespace detail

class Kernel {
 public:
  Kernel() : Kernel(KernelOptions{}) {}
  explicit Kernel(KernelOptions options);
  // Shuts the kernel down if the user did not (remaining tasks are cancelled).
  ~Kernel();
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;

  // Runs main as a new task until it ends; returns its value or rethrows its exception
  // unwrapped. Other tasks stay alive and resume on the next run(). Calling run() from inside
  // a running kernel on the same thread is an error (RuntimeError).
  template <class T>
  T run(Task<T> main);

  // Cancels every remaining task (daemons included), newest first, waiting for each to end.
  // Afterwards run() raises RuntimeError.
  void shutdown();
  bool is_shut_down() const noexcept { return shut_down_; }

  // The kernel running on this thread, or nullptr.
  static Kernel* current() noexcept { return detail::tls_current_kernel; }

  // Number of live (not yet terminated) tasks.
  std::size_t task_count() const noexcept { return live_tasks_; }
  KernelStats stats() const noexcept;

  // Installs an activation (calls its activate(*this) now). Not while the kernel runs.
  void add_activation(std::shared_ptr<Activation> a);

  // --- embedding (a GUI or game loop drives the kernel; curio's kernel.run() with no coroutine) ---
  // One non-blocking step: polls I/O without waiting, takes wakeups from other threads, expires
  // the timers that are due, then runs the tasks that were ready (each once). Returns how many
  // task slices ran. Start tasks with spawn(kernel, task) (curio/core/spawn.hpp).
  std::size_t run_once();
  // A descriptor for poll/epoll/select that is readable whenever run_once() has something to do
  // (ready tasks, I/O, a due timer, a wakeup from another thread). Owned by the kernel.
  int pollable_fd();

  // The backend actually in use (Epoll or IoUring, never Auto).
  IoBackend backend() const noexcept { return backend_; }

 private:
  friend struct detail::Traps;
  friend class TaskGroup;  // a group with no member list finds its running members in all_head_
  using TaskState = detail::TaskState;

  TaskState* start_main(std::coroutine_handle<> root, detail::PromiseBase* promise, const detail::ResultOps* ops);
  void arm_wakeup();
  // Activation hooks: out of line, called only when one is installed.
  void notify_created(TaskState* t) noexcept;
  void notify_running(TaskState* t) noexcept;
  void notify_suspended(TaskState* t) noexcept;
  void notify_terminated(TaskState* t) noexcept;
  void run_until_done(TaskState* t);
  void cycle();
  void run_ready_snapshot();
  template <bool Observed>
  void run_ready_steps();
  void poll_io(int timeout_ms);
  void dispatch_io(const detail::PollEvent& ev) noexcept;
  void expire_timers(std::int64_t now);
  void drain_inbox();
  void task_terminated(TaskState* t);
  void check_usable() const;
  void adopt_thread();

  // --- trap implementations ---
  TaskState* spawn(std::coroutine_handle<> root, const SpawnOptions& options, const detail::ResultOps* ops);
  void push_ready(TaskState* t) noexcept {
    t->status = TaskStatus::Ready;
    t->ready_next = nullptr;
    if (ready_tail_)
      ready_tail_->ready_next = t;
    else
      ready_head_ = t;
    ready_tail_ = t;
    ++ready_count_;
  }
  void block(TaskState* t, std::coroutine_handle<> h, TaskStatus s, void (*undo)(void*), void* ctx) noexcept {
    t->resume_at = h;
    t->status = s;
    t->undo = undo;  // never null: it also says the task is waiting
    t->undo_ctx = ctx;
  }
  // Wakes a waiting task; error (if any) is thrown by its pending co_await. The side record it
  // goes in is made beforehand by cancel_task and expire_timers, which may still throw; the
  // other errors (a closed descriptor, a destroyed queue) allocate their exception object anyway.
  void reschedule(TaskState* t, std::exception_ptr error = {}) noexcept {
    t->undo = nullptr;
    if (error) [[unlikely]]
      t->side().trap_error = std::move(error);
    push_ready(t);
  }
  void cancel_task(TaskState* t, std::exception_ptr exc);
  void interrupt(TaskState* t, std::exception_ptr exc) noexcept;
  bool op_supported(detail::IoOpKind kind) const noexcept;
  void op_submit(detail::IoRequest& op);
  void op_cancel(detail::IoRequest& op) noexcept;
  void op_flush() noexcept;
  std::size_t ops_awaited() const noexcept;  // single-shot ops in flight (see Traps::ops_awaited)
  std::int64_t set_timeout(TaskState* t, std::int64_t deadline);
  void unset_timeout(TaskState* t, std::int64_t prior);
  void arm_sleep(TaskState* t, std::int64_t deadline) { timers_.arm(&t->sleep_timer, deadline); }
  void disarm_sleep(TaskState* t) noexcept { timers_.disarm(&t->sleep_timer); }
  void io_register(detail::FdRegistration& reg);
  void io_release(detail::FdRegistration& reg) noexcept;
  void io_want_write(detail::FdRegistration& reg) noexcept;  // a task now waits to write reg

  // Ready queue: an intrusive FIFO.
  TaskState* ready_head_ = nullptr;
  TaskState* ready_tail_ = nullptr;
  std::size_t ready_count_ = 0;

  TaskState* current_ = nullptr;
  TaskState* all_head_ = nullptr;  // live tasks, oldest first
  TaskState* all_tail_ = nullptr;
  std::size_t live_tasks_ = 0;

  detail::TimerHeap timers_;
  std::unique_ptr<detail::Poller> poller_;
  std::vector<detail::PollEvent> poll_events_;  // reused by every poll
  std::vector<detail::OpEvent> op_events_;
  IoBackend backend_ = IoBackend::Epoll;
  detail::FdRegistration* registrations_ = nullptr;
  std::size_t io_registrations_ = 0;
  std::int64_t last_poll_ns_ = 0;
  const void* thread_tag_ = nullptr;  // identifies the thread that last ran this kernel
  std::size_t remote_waits_ = 0;      // tasks in a RemoteSignal wait (the kernel spins briefly for them)
  std::int64_t last_remote_wait_ns_ = 0;
  std::int64_t last_inbox_call_ns_ = 0;  // when the kernel last ran a call another kernel posted
  std::shared_ptr<detail::RemoteInbox> inbox_;
  bool shut_down_ = false;
  bool running_ = false;
  bool observed_ = false;  // activations_ is not empty (the only cost of activations when none)
  std::vector<std::shared_ptr<Activation>> activations_;
  int wakeup_timer_fd_ = -1;  // pollable_fd(): a timerfd in the poller for due timers and ready tasks
  std::unique_ptr<detail::FdRegistration> wakeup_reg_;
};

template <class T>
T Kernel::run(Task<T> main) {
  auto handle = main.release();
  auto* promise = &handle.promise();
  detail::TaskRef t(start_main(handle, promise, &detail::result_ops_for<T>), /*add=*/false);
  t->result_read = true;  // the main task's outcome always reaches the caller
  t->joined = true;
  return promise->take();
}

// Runs main in a fresh kernel, shuts the kernel down, and returns main's value (or rethrows).
// run(main, {.monitor = true}) also opens the monitor console.
template <class T>
T run(Task<T> main, KernelOptions options = {}) {
  Kernel kernel(std::move(options));
  if constexpr (std::is_void_v<T>) {
    kernel.run(std::move(main));
  } else {
    return kernel.run(std::move(main));
  }
}

}  // namespace curio
