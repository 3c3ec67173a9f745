// src/core/remote_inbox.hpp: where other threads drop wakeups for a kernel (private).
// A mutex-guarded vector plus an eventfd that is written only while the kernel sleeps in
// epoll, so a busy kernel pays one relaxed atomic load per cycle and no syscall.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "curio/core/traps.hpp"

namespace curio::detail {

class RemoteInbox {
 public:
  RemoteInbox() : event_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (event_fd_ < 0) throw_system_error("eventfd");
  }
  ~RemoteInbox() { ::close(event_fd_); }
  int event_fd() const noexcept { return event_fd_; }

  // Any thread.
  void post(std::shared_ptr<RemoteSignal> signal) {
    std::lock_guard lock(mu_);
    if (closed_) return;  // the kernel is gone: nobody is left to wake
    items_.push_back(std::move(signal));
    wake_locked();
  }
  // Any thread: a call to run on the kernel's thread. Returns it back if the kernel is gone.
  std::unique_ptr<InboxCall> post_call(std::unique_ptr<InboxCall> call) {
    std::lock_guard lock(mu_);
    if (closed_) return call;
    calls_.push_back(std::move(call));
    wake_locked();
    return nullptr;
  }

  bool pending() const noexcept { return pending_.load(std::memory_order_relaxed); }

  // Kernel thread: bracket a blocking poll. Returns false if work arrived meanwhile.
  bool begin_sleep() noexcept {
    sleeping_.store(true, std::memory_order_seq_cst);
    return !pending_.load(std::memory_order_seq_cst);
  }
  void end_sleep() noexcept { sleeping_.store(false, std::memory_order_relaxed); }
  void clear_eventfd() noexcept {
    std::uint64_t v;
    [[maybe_unused]] ssize_t r = ::read(event_fd_, &v, sizeof v);
  }

  std::vector<std::unique_ptr<InboxCall>> take_calls() {
    std::lock_guard lock(mu_);
    std::vector<std::unique_ptr<InboxCall>> out;
    out.swap(calls_);
    return out;
  }

  std::vector<std::shared_ptr<RemoteSignal>> take() {
    std::lock_guard lock(mu_);
    pending_.store(false, std::memory_order_relaxed);
    std::vector<std::shared_ptr<RemoteSignal>> out;
    out.swap(items_);
    return out;
  }
  void close() {
    std::vector<std::unique_ptr<InboxCall>> calls;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      items_.clear();
      calls.swap(calls_);
    }
    for (auto& c : calls) c->drop();  // outside the lock: a drop may post to another inbox
  }

 private:
  // Only the first post of a batch writes the eventfd: later ones find pending_ already set,
  // and the kernel takes the whole batch in one drain.
  void wake_locked() {
    bool was_pending = pending_.exchange(true, std::memory_order_seq_cst);
    if (!was_pending && sleeping_.load(std::memory_order_seq_cst)) {
      std::uint64_t one = 1;
      [[maybe_unused]] ssize_t r = ::write(event_fd_, &one, sizeof one);
    }
  }

  std::mutex mu_;
  std::vector<std::shared_ptr<RemoteSignal>> items_;
  std::vector<std::unique_ptr<InboxCall>> calls_;
  std::atomic<bool> pending_{false};
  std::atomic<bool> sleeping_{false};
  bool closed_ = false;
  int event_fd_;
};

}  // namespace curio::detail
