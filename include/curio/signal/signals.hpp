// curio/signal/signals.hpp: Unix signals as things tasks (and threads) can wait for.
// SignalQueue queues the numbers of the signals it watches as they arrive; SignalEvent is set
// when one arrives. Both are installed by their constructor and removed by their destructor,
// which restores the signal's previous handling.
//
// How: one dispatcher thread reads a signalfd and hands each signal to every SignalQueue and
// SignalEvent watching it (so several may watch the same signal). A signalfd only sees a signal
// that no thread takes the ordinary way, so the constructor blocks the watched signals in the
// calling thread, and curio's own threads (the dispatcher, run_in_thread workers) block all
// signals. Threads the program starts itself inherit the mask of the thread that starts them:
// create the SignalQueue/SignalEvent (or call block_signals) before starting threads.
// Only process-directed signals are seen (kill(pid), Ctrl-C, a terminal hang-up); a signal aimed
// at one thread (raise(), pthread_kill) stays pending on that thread. Destroy a watcher on the
// thread that created it: only there can its signal mask be restored.
#pragma once

#include <pthread.h>

#include <initializer_list>
#include <optional>
#include <vector>

#include "curio/core/task.hpp"
#include "curio/thread/universal_event.hpp"
#include "curio/thread/universal_queue.hpp"

namespace curio {

// Blocks signos in the calling thread (pthread_sigmask), e.g. at the top of main before any
// thread starts, so that no thread takes them the ordinary way.
void block_signals(std::initializer_list<int> signos);

namespace detail {
struct SignalWatch {
  std::vector<int> signos;
  pthread_t thread{};  // the installing thread, whose signal mask it changed
  UniversalQueue<int>* queue = nullptr;
  UniversalEvent* event = nullptr;
};
void install_watch(SignalWatch* w);
void remove_watch(SignalWatch* w) noexcept;
}  // namespace detail

class SignalQueue {
 public:
  explicit SignalQueue(std::initializer_list<int> signos) : SignalQueue(std::vector<int>(signos)) {}
  explicit SignalQueue(std::vector<int> signos);
  ~SignalQueue();
  SignalQueue(const SignalQueue&) = delete;
  SignalQueue& operator=(const SignalQueue&) = delete;

  // The next signal's number (in arrival order), waiting cancellably for one.
  Task<int> get() { return queue_.get(); }
  // In a plain thread.
  int get_sync() { return queue_.get_sync(); }
  std::optional<int> try_get() { return queue_.try_get(); }
  std::size_t qsize() const { return queue_.qsize(); }

 private:
  UniversalQueue<int> queue_;
  detail::SignalWatch watch_;
};

class SignalEvent {
 public:
  explicit SignalEvent(std::initializer_list<int> signos) : SignalEvent(std::vector<int>(signos)) {}
  explicit SignalEvent(std::vector<int> signos);
  ~SignalEvent();
  SignalEvent(const SignalEvent&) = delete;
  SignalEvent& operator=(const SignalEvent&) = delete;

  Task<> wait() { return event_.wait(); }
  void wait_sync() { event_.wait_sync(); }
  bool is_set() const { return event_.is_set(); }
  void clear() { event_.clear(); }

 private:
  UniversalEvent event_;
  detail::SignalWatch watch_;
};

}  // namespace curio
