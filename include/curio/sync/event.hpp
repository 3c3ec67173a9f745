// curio/sync/event.hpp: Event, a flag tasks can wait for (curio.sync.Event).
// set() wakes every waiter; wait() on a set event returns at once. Not thread-safe: for
// threads use UniversalEvent.
#pragma once

#include "curio/core/traps.hpp"
#include "curio/core/wait_queue.hpp"

namespace curio {

class Event {
 public:
  bool is_set() const noexcept { return set_; }
  void set() noexcept {
    set_ = true;
    waiters_.wake_all();
  }
  void clear() noexcept { set_ = false; }

  // Waits until the event is set (cancellable; returns at once if it already is).
  auto wait() noexcept {
    struct Awaiter : detail::Traps::WaitListAwaiter {
      Event* event;
      Awaiter(detail::WaitList* l, TaskStatus s, Event* e) noexcept : WaitListAwaiter(l, s), event(e) {}
      bool await_ready() const noexcept { return event->set_; }
    };
    return waiters_.wait_as<Awaiter>(TaskStatus::EventWait, this);
  }

  std::size_t waiting() const noexcept { return waiters_.size(); }

 private:
  bool set_ = false;
  WaitQueue waiters_;
};

}  // namespace curio
