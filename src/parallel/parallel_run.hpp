// src/parallel/parallel_run.hpp: the engine behind run_parallel and tcp_server's kernels option
// (private). n threads, each with its own Kernel; they share only this object, whose fields are
// either written before the start barrier and read-only afterwards, or guarded by mu_.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "curio/core/traps.hpp"
#include "curio/parallel/kernels.hpp"

namespace curio::detail {

class ParallelRun : public std::enable_shared_from_this<ParallelRun> {
 public:
  using Main = std::function<Task<>(std::size_t)>;
  ParallelRun(std::size_t n, Main main, ParallelOptions options);
  ~ParallelRun();

  // Starts the threads; finished() is set once every thread has ended.
  void start();
  // Any thread: cancels every main still running (the graceful stop of a signal or an error).
  void stop();
  // Joins the threads (call after finished() was set, or from a plain thread to block).
  void join();
  // The first failure, if any.
  std::exception_ptr error() const;
  const std::shared_ptr<RemoteSignal>& finished() const noexcept { return finished_; }

  std::size_t size() const noexcept { return slots_.size(); }
  std::shared_ptr<RemoteInbox> inbox(std::size_t k) const { return slots_[k].inbox; }

  // The run of the calling kernel thread, and its index there.
  static ParallelRun* current() noexcept;
  static std::size_t current_index() noexcept;

  // Kernel 0 runs this daemon as well (run_parallel's signal watcher).
  std::function<Task<>()> extra_on_kernel0;

 private:
  struct Slot {
    std::shared_ptr<RemoteInbox> inbox;     // written before the barrier
    std::shared_ptr<RemoteSignal> release;  // set when every main has ended
    TaskRef body;                           // kernel thread only
    bool in_main = false;                   // kernel thread only
    bool stop_requested = false;            // kernel thread only
  };
  void thread_main(std::size_t i);
  Task<> body(std::size_t i);
  void record_failure(std::size_t i, std::exception_ptr e);
  void main_ended();

  Main main_;
  ParallelOptions options_;
  std::vector<Slot> slots_;
  std::vector<std::thread> threads_;
  std::vector<int> cpus_;
  std::shared_ptr<RemoteSignal> finished_ = std::make_shared<RemoteSignal>();

  mutable std::mutex mu_;
  std::condition_variable started_cv_;
  std::size_t started_ = 0;    // threads past kernel construction
  bool start_failed_ = false;  // a kernel could not be made: nobody runs main
  std::size_t running_mains_ = 0;
  std::size_t ended_threads_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace curio::detail
