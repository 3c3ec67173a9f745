// curio/sync/lock.hpp: Lock and RLock (curio.sync). Waiters are served FIFO and release hands
// the lock directly to the first waiter (no barging); a cancelled or timed-out acquire leaves
// the queue at once and is never granted the lock. `auto held = co_await lock.scoped();`
// holds it for a block (see held.hpp).
#pragma once

#include <cstdint>

#include "curio/core/errors.hpp"
#include "curio/core/traps.hpp"
#include "curio/core/wait_queue.hpp"
#include "curio/sync/held.hpp"

namespace curio {

class Lock {
 public:
  // Acquires the lock, waiting (cancellably) if it is held. Uncontended: no kernel trip.
  auto acquire() noexcept {
    struct Awaiter : detail::Traps::WaitListAwaiter {
      Lock* lock;
      Awaiter(detail::WaitList* l, TaskStatus s, Lock* k) noexcept : WaitListAwaiter(l, s), lock(k) {}
      bool await_ready() const {
        if (lock->locked_ || !lock->waiters_.empty()) return false;
        lock->locked_ = true;
        lock->owner_ = detail::Traps::current()->id;
        return true;
      }
    };
    return waiters_.wait_as<Awaiter>(TaskStatus::LockAcquire, this);
  }
  // acquire(), returning a Held<Lock> that releases the lock when it goes out of scope.
  auto scoped() noexcept { return detail::HoldAwaiter<Lock, decltype(acquire())>{this, acquire()}; }

  bool try_acquire() {
    if (locked_ || !waiters_.empty()) return false;
    locked_ = true;
    owner_ = detail::Traps::current()->id;
    return true;
  }

  // Releases the lock, handing it to the first waiter if there is one. Like curio, any task
  // may release; releasing a lock that is not held is a RuntimeError.
  void release() {
    if (!locked_) throw RuntimeError("curio: Lock::release of a lock that is not held");
    if (std::uint64_t next = waiters_.front_task_id()) {
      owner_ = next;  // ownership passes now; the woken task's acquire just returns
      waiters_.wake_one();
    } else {
      locked_ = false;
      owner_ = 0;
    }
  }

  bool locked() const noexcept { return locked_; }
  // The id of the task that acquired it (0 if free). Condition uses it to check its callers.
  std::uint64_t owner_id() const noexcept { return owner_; }
  std::size_t waiting() const noexcept { return waiters_.size(); }

 private:
  bool locked_ = false;
  std::uint64_t owner_ = 0;
  WaitQueue waiters_;
};

// A lock its owner may acquire again; it is free once released as many times as acquired.
class RLock {
 public:
  auto acquire() noexcept {
    struct Awaiter : detail::Traps::WaitListAwaiter {
      RLock* lock;
      Awaiter(detail::WaitList* l, TaskStatus s, RLock* k) noexcept : WaitListAwaiter(l, s), lock(k) {}
      bool await_ready() const {
        std::uint64_t me = detail::Traps::current()->id;
        if (lock->owner_ == me) {
          ++lock->count_;
          return true;
        }
        if (lock->owner_ != 0 || !lock->waiters_.empty()) return false;
        lock->owner_ = me;
        lock->count_ = 1;
        return true;
      }
    };
    return waiters_.wait_as<Awaiter>(TaskStatus::LockAcquire, this);
  }
  auto scoped() noexcept { return detail::HoldAwaiter<RLock, decltype(acquire())>{this, acquire()}; }

  // RuntimeError if the calling task does not own the lock.
  void release() {
    if (owner_ == 0) throw RuntimeError("curio: RLock::release of a lock that is not held");
    if (owner_ != detail::Traps::current()->id)
      throw RuntimeError("curio: RLock::release by a task that does not own the lock");
    if (--count_ > 0) return;
    if (std::uint64_t next = waiters_.front_task_id()) {
      owner_ = next;
      count_ = 1;
      waiters_.wake_one();
    } else {
      owner_ = 0;
    }
  }

  bool locked() const noexcept { return owner_ != 0; }
  std::uint64_t owner_id() const noexcept { return owner_; }
  unsigned count() const noexcept { return count_; }

 private:
  std::uint64_t owner_ = 0;
  unsigned count_ = 0;
  WaitQueue waiters_;
};

}  // namespace curio
