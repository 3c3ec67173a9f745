// curio/thread/detail/universal_waiter.hpp: one party waiting on a universal primitive, either
// a task (woken through a RemoteSignal, the kernel's future-wait trap) or a plain thread
// (woken through a condition variable). The primitive's mutex guards `done` and the payload.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include "curio/core/errors.hpp"
#include "curio/core/kernel.hpp"
#include "curio/core/task.hpp"
#include "curio/core/traps.hpp"

namespace curio::detail {

struct UniversalWaiter {
  std::shared_ptr<RemoteSignal> signal;  // a task waits
  std::condition_variable cv;            // a thread waits
  bool done = false;
  std::exception_ptr error;  // raised by the wait (e.g. the queue was closed)

  // Caller holds the primitive's mutex.
  void wake(std::exception_ptr e = nullptr) {
    done = true;
    error = std::move(e);
    if (signal)
      signal->set();
    else
      cv.notify_one();
  }
};

// A FIFO of waiters (they live on the waiting coroutine's frame or thread's stack).
class WaiterList {
 public:
  void push(UniversalWaiter* w) { list_.push_back(w); }
  UniversalWaiter* pop() {
    if (list_.empty()) return nullptr;
    UniversalWaiter* w = list_.front();
    list_.pop_front();
    return w;
  }
  UniversalWaiter* front() const { return list_.empty() ? nullptr : list_.front(); }
  void remove(UniversalWaiter* w) {
    auto it = std::find(list_.begin(), list_.end(), w);
    if (it != list_.end()) list_.erase(it);
  }
  bool empty() const noexcept { return list_.empty(); }
  std::size_t size() const noexcept { return list_.size(); }
  void wake_all(const std::exception_ptr& e = nullptr) {
    while (UniversalWaiter* w = pop()) w->wake(e);
  }

 private:
  std::deque<UniversalWaiter*> list_;
};

// The blocking side for a plain thread: refuses to block a thread that runs a kernel.
inline void wait_in_thread(std::unique_lock<std::mutex>& lock, UniversalWaiter& w, const char* what) {
  if (Kernel::current())
    throw AsyncOnlyError(std::string("curio: ") + what + " would block the kernel's thread; co_await the async form");
  w.cv.wait(lock, [&] { return w.done; });
}

// The task side of a wait that the caller registered in list (under mu, with w.signal set):
// waits for the wake; a cancellation or timeout that comes first takes w out of the list.
inline Task<> await_wake(std::mutex& mu, WaiterList& list, UniversalWaiter& w) {
  try {
    co_await remote_wait(w.signal);
  } catch (...) {
    std::lock_guard lock(mu);
    if (!w.done) list.remove(&w);
    throw;
  }
}

inline void require_task_context(const char* what) {
  if (!Kernel::current()) throw AsyncOnlyError(std::string("curio: ") + what + " must be awaited inside a curio task");
}

}  // namespace curio::detail
