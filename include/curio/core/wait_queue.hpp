// curio/core/wait_queue.hpp: WaitQueue, the public face of the kernel's wait-list trap
// (curio's SchedFIFO and SchedBarrier). Tasks wait in FIFO order; wake_one/wake/wake_all
// reschedule them. A cancelled or timed-out waiter is removed at once and leaves no trace.
// Event, Lock, Queue, join and TaskGroup are all built on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "curio/core/traps.hpp"

namespace curio {

class WaitQueue {
 public:
  WaitQueue() = default;
  // Waiters still queued when the queue dies are woken with a RuntimeError, not left hanging
  // on freed memory.
  ~WaitQueue() {
    while (detail::WaitNode* n = list_.pop_front())
      detail::Traps::reschedule(
          n->task, std::make_exception_ptr(RuntimeError("curio: a WaitQueue was destroyed while a task waited on it")));
  }
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;

  // Suspends the current task at the back of the queue until woken. `state` is what
  // introspection shows while it waits. Raises a pending cancellation instead of waiting.
  auto wait(TaskStatus state = TaskStatus::Wait) noexcept { return detail::Traps::WaitListAwaiter(&list_, state); }

  // A primitive's own awaiter, derived from the wait-list awaiter and constructible from
  // (detail::WaitList*, TaskStatus, args...), built in place: returned as a prvalue it is never
  // copied (an aggregate holding a copy of wait()'s awaiter is, which costs on the fast path).
  template <class Derived, class... A>
  Derived wait_as(TaskStatus state, A&&... args) {
    return Derived(&list_, state, std::forward<A>(args)...);
  }

  // The same, carrying a hand-off slot: whoever wakes this waiter with wake_first<P>() gets
  // the pointer back and can put something in it (an item, ownership) before it runs.
  template <class P>
  auto wait_with(P* slot, TaskStatus state = TaskStatus::Wait) noexcept {
    return detail::Traps::WaitListAwaiter(&list_, state, slot);
  }
  // Wakes the first waiter and returns its slot (nullptr if there was no waiter).
  template <class P>
  P* wake_first() noexcept {
    detail::WaitNode* n = list_.front();
    if (!n) return nullptr;
    void* slot = n->payload;
    detail::Traps::wake_one(list_);
    return static_cast<P*>(slot);
  }
  // The first waiter's slot without waking it (nullptr if none).
  template <class P>
  P* front_slot() const noexcept {
    return list_.empty() ? nullptr : static_cast<P*>(list_.front()->payload);
  }
  // Wakes every waiter with an error raised by its wait (e.g. "queue closed").
  std::size_t wake_all_with(const std::exception_ptr& error) noexcept {
    std::size_t n = 0;
    while (detail::Traps::wake_one_with(list_, error)) ++n;
    return n;
  }

  // Wakes the first waiter; false if there was none. The woken task's wait returns normally
  // even if it is cancelled before it runs again (the cancellation stays pending), so a
  // primitive may hand it ownership of something at this point.
  bool wake_one() noexcept { return detail::Traps::wake_one(list_) != nullptr; }
  std::size_t wake(std::size_t n) noexcept {
    std::size_t woken = 0;
    while (woken < n && wake_one()) ++woken;
    return woken;
  }
  std::size_t wake_all() noexcept { return detail::Traps::wake_all(list_); }

  std::size_t size() const noexcept { return list_.size(); }
  bool empty() const noexcept { return list_.empty(); }
  // The id of the task that wake_one() would wake (0 if none), e.g. to record a new owner.
  std::uint64_t front_task_id() const noexcept { return list_.empty() ? 0 : list_.front()->task->id; }

 private:
  detail::WaitList list_;
};

}  // namespace curio
