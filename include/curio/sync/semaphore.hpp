// curio/sync/semaphore.hpp: Semaphore and BoundedSemaphore (curio.sync). FIFO, with direct
// hand-off on release; a cancelled acquire is never granted. `co_await sem.scoped()` holds one
// unit for a block.
#pragma once

#include <cstddef>
#include <string>

#include "curio/core/errors.hpp"
#include "curio/core/traps.hpp"
#include "curio/core/wait_queue.hpp"
#include "curio/sync/held.hpp"

namespace curio {

class Semaphore {
 public:
  explicit Semaphore(std::size_t value = 1) noexcept : value_(value) {}

  auto acquire() noexcept {
    struct Awaiter : detail::Traps::WaitListAwaiter {
      Semaphore* sem;
      Awaiter(detail::WaitList* l, TaskStatus s, Semaphore* m) noexcept : WaitListAwaiter(l, s), sem(m) {}
      bool await_ready() const noexcept {
        if (sem->value_ == 0 || !sem->waiters_.empty()) return false;
        --sem->value_;
        return true;
      }
    };
    return waiters_.wait_as<Awaiter>(TaskStatus::SemaAcquire, this);
  }
  auto scoped() noexcept { return detail::HoldAwaiter<Semaphore, decltype(acquire())>{this, acquire()}; }

  bool try_acquire() noexcept {
    if (value_ == 0 || !waiters_.empty()) return false;
    --value_;
    return true;
  }
  // Gives a unit to the first waiter, or back to the count. Over-release is allowed (curio).
  void release() {
    if (!waiters_.wake_one()) ++value_;
  }

  std::size_t value() const noexcept { return value_; }
  bool locked() const noexcept { return value_ == 0; }
  std::size_t waiting() const noexcept { return waiters_.size(); }

 protected:
  std::size_t value_;
  WaitQueue waiters_;
};

// A semaphore whose value may never exceed its initial value: over-release is an error.
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(std::size_t value = 1) noexcept : Semaphore(value), bound_(value) {}
  auto scoped() noexcept { return detail::HoldAwaiter<BoundedSemaphore, decltype(acquire())>{this, acquire()}; }
  void release() {
    if (waiters_.empty() && value_ >= bound_)
      throw RuntimeError("curio: BoundedSemaphore released more times than acquired (bound " + std::to_string(bound_) +
                         ")");
    Semaphore::release();
  }
  std::size_t bound() const noexcept { return bound_; }

 private:
  std::size_t bound_;
};

}  // namespace curio
