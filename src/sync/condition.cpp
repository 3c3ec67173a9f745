// src/sync/condition.cpp: Condition::wait and notify.
#include "curio/sync/condition.hpp"

#include <string>

#include "curio/core/cancellation.hpp"

namespace curio {

void Condition::require_held(const char* what) const {
  if (!lock_->locked() || lock_->owner_id() != detail::Traps::current()->id)
    throw RuntimeError(std::string("curio: Condition::") + what + " without holding its lock");
}

Task<> Condition::wait() {
  require_held("wait");
  lock_->release();
  std::exception_ptr error;
  try {
    co_await waiters_.wait(TaskStatus::CondWait);
  } catch (...) {
    error = std::current_exception();  // cancelled or timed out: still re-acquire first
  }
  // Shielded: a second cancellation must not leave the caller without its lock.
  co_await disable_cancellation(lock_->acquire());
  if (error) std::rethrow_exception(error);
}

void Condition::notify(std::size_t n) {
  require_held("notify");
  waiters_.wake(n);
}

void Condition::notify_all() {
  require_held("notify_all");
  waiters_.wake_all();
}

}  // namespace curio
