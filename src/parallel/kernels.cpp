// src/parallel/kernels.cpp: run_parallel. Each thread makes its own Kernel, waits at a start
// barrier until every kernel exists (so spawn_on(k) always finds kernel k's inbox), runs its
// main, then keeps serving its inbox until every main has ended.
#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <cstdio>
#include <optional>
#include <string>

#include "curio/core/kernel.hpp"
#include "curio/signal/signals.hpp"
#include "parallel_run.hpp"

namespace curio {

namespace detail {

namespace {
thread_local ParallelRun* tls_run = nullptr;
thread_local std::size_t tls_index = 0;

std::vector<int> affinity_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

// Posted to every kernel by stop(): cancels its main (or keeps it from starting).
struct StopCall final : InboxCall {
  std::function<void()> fn;
  explicit StopCall(std::function<void()> f) : fn(std::move(f)) {}
  void run() noexcept override { fn(); }
  void drop() noexcept override {}  // that kernel has ended already
};

Task<> watch_signals(SignalEvent* signals, ParallelRun* run) {
  co_await signals->wait();
  run->stop();
}
}  // namespace

ParallelRun* ParallelRun::current() noexcept { return tls_run; }
std::size_t ParallelRun::current_index() noexcept { return tls_index; }

ParallelRun::ParallelRun(std::size_t n, Main main, ParallelOptions options)
    : main_(std::move(main)), options_(options), slots_(n) {
  if (n == 0) throw RuntimeError("curio::run_parallel: the number of kernels must be at least 1");
  if (!main_) throw RuntimeError("curio::run_parallel: main is empty");
  for (Slot& s : slots_) s.release = std::make_shared<RemoteSignal>();
  if (options_.pin) {
    cpus_ = affinity_cpus();
    if (cpus_.empty()) throw RuntimeError("curio::run_parallel: pin: the affinity mask lists no CPU");
  }
}

ParallelRun::~ParallelRun() { join(); }

void ParallelRun::start() {
  std::size_t n = slots_.size();
  running_mains_ = n;
  threads_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    try {
      threads_.emplace_back([this, i] { thread_main(i); });
    } catch (...) {
      // The threads already started wait at the barrier for all n: let them through (to end
      // at once) and count the missing ones as ended.
      std::exception_ptr e = std::current_exception();
      bool last = false;
      {
        std::lock_guard lock(mu_);
        start_failed_ = true;
        if (!error_) error_ = e;
        started_ += n - i;
        ended_threads_ += n - i;
        last = ended_threads_ == n;
      }
      started_cv_.notify_all();
      if (last) finished_->set();
      join();
      std::rethrow_exception(e);
    }
  }
}

void ParallelRun::join() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

std::exception_ptr ParallelRun::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

void ParallelRun::stop() {
  // A kernel that has not published its inbox yet sees stopping_ when its main would start.
  std::vector<std::shared_ptr<RemoteInbox>> inboxes;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (Slot& s : slots_) inboxes.push_back(s.inbox);
  }
  for (std::size_t k = 0; k < slots_.size(); ++k) {
    if (!inboxes[k]) continue;
    Traps::post_call(*inboxes[k], std::make_unique<StopCall>([this, k] {
      Slot& s = slots_[k];
      s.stop_requested = true;
      TaskState* t = s.body.get();
      if (s.in_main && t && !t->terminated) {
        t->cancelled = true;
        Traps::cancel(t, std::make_exception_ptr(TaskCancelled("run_parallel: stopped")));
      }
    }));
  }
}

void ParallelRun::thread_main(std::size_t i) {
  tls_run = this;
  tls_index = i;
  std::optional<Kernel> kernel;
  std::exception_ptr failure;
  try {
    if (options_.pin) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpus_[i % cpus_.size()], &set);
      if (int r = ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set); r != 0)
        throw_system_error("pthread_setaffinity_np", r);
    }
    kernel.emplace();
  } catch (...) {
    failure = std::current_exception();
  }
  bool run_main;
  {
    std::unique_lock lock(mu_);
    if (kernel) slots_[i].inbox = Traps::inbox_of(*kernel);
    if (failure) {
      start_failed_ = true;
      if (!error_) error_ = failure;
    }
    ++started_;
    if (started_ == slots_.size()) started_cv_.notify_all();
    started_cv_.wait(lock, [&] { return started_ >= slots_.size(); });
    run_main = !start_failed_;
  }
  if (run_main) {
    try {
      kernel->run(body(i));
    } catch (...) {
      record_failure(i, std::current_exception());
    }
  }
  try {
    kernel.reset();  // shutdown: the kernel's remaining tasks are cancelled, its inbox closed
  } catch (...) {
    record_failure(i, std::current_exception());
  }
  slots_[i].body = TaskRef();
  tls_run = nullptr;
  bool last;
  {
    std::lock_guard lock(mu_);
    last = ++ended_threads_ == slots_.size();
  }
  if (last) finished_->set();
}

Task<> ParallelRun::body(std::size_t i) {
  Slot& s = slots_[i];
  s.body = TaskRef(Traps::current());
  if (i == 0 && extra_on_kernel0)
    spawn(extra_on_kernel0(), SpawnOptions{.daemon = true, .name = "run_parallel signals"});
  std::exception_ptr failure;
  {
    std::lock_guard lock(mu_);
    if (stopping_) s.stop_requested = true;
  }
  if (!s.stop_requested) {
    s.in_main = true;
    try {
      co_await main_(i);
    } catch (...) {
      failure = std::current_exception();
    }
    s.in_main = false;
  }
  if (failure) record_failure(i, failure);
  main_ended();
  // Serve spawn_on/call_on until every main has ended. A stop that raced with the end of main
  // may still be pending here: it only ends this wait early, so wait again.
  while (!s.release->is_set()) {
    try {
      co_await remote_wait(s.release);
    } catch (...) {
    }
  }
  s.body = TaskRef();
}

void ParallelRun::record_failure(std::size_t i, std::exception_ptr e) {
  bool first = false;
  std::exception_ptr earlier;
  {
    std::lock_guard lock(mu_);
    if (is_cancellation(e) && stopping_) return;  // what a stop does to a main: not a failure
    if (!error_) {
      error_ = e;
      first = true;
    }
    earlier = error_;
  }
  if (first) {
    stop();
    return;
  }
  // A different later failure is reported (curio's "crashes in other tasks"); the same error
  // on every kernel (say, a port in use) is raised once and not repeated.
  std::string what = describe_exception(e);
  if (!is_cancellation(e) && what != describe_exception(earlier))
    std::fprintf(stderr, "curio: run_parallel: kernel %zu also failed: %s\n", i, what.c_str());
}

void ParallelRun::main_ended() {
  bool last;
  {
    std::lock_guard lock(mu_);
    last = --running_mains_ == 0;
  }
  if (last)
    for (Slot& s : slots_) s.release->set();
}

std::shared_ptr<RemoteInbox> parallel_inbox(std::size_t k, const char* what) {
  ParallelRun* run = tls_run;
  if (!run)
    throw RuntimeError(std::string("curio::") + what +
                       ": this kernel is not part of a run_parallel (no other kernels)");
  if (k >= run->size())
    throw RuntimeError(std::string("curio::") + what + ": no kernel " + std::to_string(k) + " (this run has " +
                       std::to_string(run->size()) + ")");
  return run->inbox(k);
}

void throw_kernel_gone(std::size_t k, const char* what) {
  throw RuntimeError(std::string("curio::") + what + ": kernel " + std::to_string(k) + " has shut down");
}

}  // namespace detail

std::size_t usable_cpu_count() {
  std::size_t n = detail::affinity_cpus().size();
  if (n == 0) n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

std::size_t kernel_index() {
  if (!detail::tls_run) throw RuntimeError("curio::kernel_index: not inside run_parallel");
  return detail::tls_index;
}

std::size_t kernel_count() {
  if (!detail::tls_run) throw RuntimeError("curio::kernel_count: not inside run_parallel");
  return detail::tls_run->size();
}

void run_parallel(std::size_t n, std::function<Task<>(std::size_t)> main, ParallelOptions options) {
  if (Kernel::current())
    throw RuntimeError("curio::run_parallel: called inside a running kernel (it blocks its thread until the end)");
  if (n == 0) n = usable_cpu_count();
  // Made before the kernel threads start, so that they inherit SIGINT/SIGTERM blocked.
  std::optional<SignalEvent> signals;
  if (options.stop_on_signals) signals.emplace(std::initializer_list<int>{SIGINT, SIGTERM});
  auto run = std::make_shared<detail::ParallelRun>(n, std::move(main), options);
  if (signals) {
    SignalEvent* ev = &*signals;
    detail::ParallelRun* r = run.get();
    run->extra_on_kernel0 = [ev, r] { return detail::watch_signals(ev, r); };
  }
  run->start();
  run->join();
  if (auto e = run->error()) std::rethrow_exception(e);
}

}  // namespace curio
