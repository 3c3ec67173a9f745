// curio/sync/condition.hpp: Condition (curio.sync): wait/notify under a Lock.
// Using it without holding the lock is a RuntimeError; wait() re-acquires the lock before it
// returns or throws, even when it is cancelled or timed out.
#pragma once

#include <cstddef>

#include "curio/core/task.hpp"
#include "curio/core/wait_queue.hpp"
#include "curio/sync/lock.hpp"

namespace curio {

class Condition {
 public:
  Condition() noexcept : lock_(&own_lock_) {}
  explicit Condition(Lock& lock) noexcept : lock_(&lock) {}
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  auto acquire() noexcept { return lock_->acquire(); }
  auto scoped() noexcept { return lock_->scoped(); }
  void release() { lock_->release(); }
  bool locked() const noexcept { return lock_->locked(); }
  Lock& lock() noexcept { return *lock_; }

  // Releases the lock, waits for a notify, re-acquires the lock.
  Task<> wait();
  // Waits until predicate() is true (checked with the lock held).
  template <class Predicate>
  Task<> wait_for(Predicate predicate) {
    while (!predicate()) co_await wait();
  }
  // Wakes up to n waiters (in the order they started waiting).
  void notify(std::size_t n = 1);
  void notify_all();
  std::size_t waiting() const noexcept { return waiters_.size(); }

 private:
  void require_held(const char* what) const;

  Lock own_lock_;
  Lock* lock_;
  WaitQueue waiters_;
};

}  // namespace curio
