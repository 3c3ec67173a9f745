// src/thread/run_in_thread.cpp: the worker pool behind run_in_thread, and block_in_thread's gates.
#include "curio/thread/run_in_thread.hpp"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "curio/core/log.hpp"
#include "curio/sync/semaphore.hpp"

namespace curio {

namespace detail {
std::atomic<int (*)()> fail_thread_start{nullptr};
}  // namespace detail

namespace {

// Threads are created on demand up to the limit and wait for work when idle. The pool is never
// destroyed (idle workers simply sleep until the process exits), so no job can outlive it.
class WorkerPool {
 public:
  void submit(std::shared_ptr<detail::ThreadJob> job) {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
    queued_.store(jobs_.size(), std::memory_order_relaxed);
    // Idle workers not yet awake still count as idle: wake one only if there are enough of them
    // for every queued job, otherwise start another worker.
    if (idle_ >= jobs_.size()) {
      cv_.notify_one();
    } else if (workers_ < limit_) {
      ++workers_;
      if (int err = start_worker()) {
        --workers_;
        if (workers_ == 0) {
          // Nobody could ever run it: take the job back and fail the task that asked.
          jobs_.pop_back();
          queued_.store(jobs_.size(), std::memory_order_relaxed);
          throw_system_error("run_in_thread: cannot start a worker thread", err);
        }
        // Other workers exist: the job waits in the queue for one of them (no loss).
        log_message(LogLevel::Warning, "thread-start-failed", [err] {
          return std::string("curio: run_in_thread: cannot start another worker thread (") + std::strerror(err) +
                 "); the job waits for a busy one";
        });
      }
    }
  }
  void set_limit(std::size_t n) {
    std::lock_guard lock(mu_);
    limit_ = n == 0 ? 1 : n;
  }
  std::size_t limit() {
    std::lock_guard lock(mu_);
    return limit_;
  }
  std::size_t workers() {
    std::lock_guard lock(mu_);
    return workers_;
  }

 private:
  // Workers take no asynchronous signals: those belong to the program's own threads (and to
  // curio's signal layer). A worker starts with them blocked: it inherits the mask set here.
  // Starts one worker; 0, or the errno of a failed thread creation (clone's EAGAIN/ENOMEM).
  int start_worker() noexcept {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int err = 0;
    if (auto inject = detail::fail_thread_start.load()) err = inject();
    if (err == 0) {
      try {
        std::thread([this] { work(); }).detach();
      } catch (const std::system_error& e) {
        err = e.code().value() ? e.code().value() : EAGAIN;
      }
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return err;
  }
  void work() {
    std::unique_lock lock(mu_);
    for (;;) {
      if (jobs_.empty()) {
        ++idle_;
        // Watch for the next job briefly before sleeping: a task that calls run_in_thread in a
        // loop gets its next job picked up without a futex wake-up.
        lock.unlock();
        auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
        while (queued_.load(std::memory_order_relaxed) == 0 && std::chrono::steady_clock::now() < until) {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
        }
        lock.lock();
        while (jobs_.empty()) cv_.wait(lock);
        --idle_;
      }
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      queued_.store(jobs_.size(), std::memory_order_relaxed);
      int queued = detail::ThreadJob::kQueued;
      if (!job->state.compare_exchange_strong(queued, detail::ThreadJob::kRunning)) continue;  // abandoned
      lock.unlock();
      job->run();
      job->run = nullptr;  // drop captures here, on the worker
      int running = detail::ThreadJob::kRunning;
      bool retired = !job->state.compare_exchange_strong(running, detail::ThreadJob::kFinished);
      job->done->set();
      job.reset();
      lock.lock();
      if (retired) {
        // Its task gave up on it; the slot was handed back when it was cancelled.
        return;
      }
      // More workers than the (possibly lowered) limit: this one leaves.
      if (workers_ > limit_) {
        --workers_;
        return;
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<detail::ThreadJob>> jobs_;
  std::atomic<std::size_t> queued_{0};  // jobs_.size(), readable without the lock by spinners
  std::size_t limit_ = 64;
  std::size_t workers_ = 0;
  std::size_t idle_ = 0;

 public:
  // A running job was abandoned: its worker no longer counts, so a replacement may start.
  void retire_one() {
    std::lock_guard lock(mu_);
    --workers_;
    if (!jobs_.empty() && idle_ < jobs_.size() && workers_ < limit_) {
      ++workers_;
      if (start_worker() != 0) --workers_;  // the queued jobs wait for the remaining workers
    }
  }
};

WorkerPool& pool() {
  static WorkerPool* p = new WorkerPool();  // never destroyed: detached workers may use it at exit
  return *p;
}

}  // namespace

void set_worker_thread_limit(std::size_t n) { pool().set_limit(n); }
std::size_t worker_thread_limit() noexcept { return pool().limit(); }
std::size_t worker_thread_count() noexcept { return pool().workers(); }

namespace detail {

void submit_thread_job(std::shared_ptr<ThreadJob> job) { pool().submit(std::move(job)); }

int cancel_thread_job(ThreadJob& job) noexcept {
  int s = job.state.load();
  // One compare-exchange loop, so the worker cannot start or finish the job between a check and
  // the change: the state it was in when abandoned is exact.
  while ((s == ThreadJob::kQueued || s == ThreadJob::kRunning) &&
         !job.state.compare_exchange_weak(s, ThreadJob::kAbandoned)) {
  }
  if (s == ThreadJob::kRunning) pool().retire_one();  // its worker leaves when the job returns
  return s;
}

class BlockGate {
 public:
  Semaphore sem{1};
};

std::shared_ptr<BlockGate> block_gate_for(const void* identity) {
  // Per kernel thread: the gates are curio Semaphores, which belong to one kernel.
  thread_local std::map<const void*, std::shared_ptr<BlockGate>> gates;
  auto& g = gates[identity];
  if (!g) g = std::make_shared<BlockGate>();
  return g;
}

Task<> enter_gate(BlockGate& gate) { co_await gate.sem.acquire(); }
void leave_gate(BlockGate& gate) noexcept { gate.sem.release(); }

}  // namespace detail
}  // namespace curio
