// curio/thread/universal_queue.hpp: UniversalQueue<T>, a queue shared by tasks (on any number of
// kernels, co_await get()/put()/join()) and plain threads (get_sync()/put_sync()/join_sync()).
// Items pass directly to a waiting getter, but, as in curio, a bounded queue bounds the producer:
// a handed-over item counts against maxsize until its getter has taken it, and a full queue
// grants a waiting putter a place only when an item was taken. No item is lost or duplicated
// when a waiting task is cancelled or times out: if the item was already handed over, it goes
// back to the front; a putter granted a place puts its item.
// With withfd, fileno() is an eventfd whose count is the number of queued items, so other
// event loops can wait for "get will not block".
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <mutex>
#include <optional>

#include "curio/sync/queue.hpp"  // QueueClosed
#include "curio/thread/detail/universal_waiter.hpp"

namespace curio {

template <class T>
class UniversalQueue {
 public:
  explicit UniversalQueue(std::size_t maxsize = 0, bool withfd = false) : maxsize_(maxsize) {
    if (withfd) {
      event_fd_ = ::eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
      if (event_fd_ < 0) throw_system_error("eventfd");
    }
  }
  ~UniversalQueue() {
    if (event_fd_ >= 0) ::close(event_fd_);
  }
  UniversalQueue(const UniversalQueue&) = delete;
  UniversalQueue& operator=(const UniversalQueue&) = delete;

  // --- tasks ---
  Task<T> get() {
    detail::require_task_context("UniversalQueue::get");
    Getter w;
    {
      std::lock_guard lock(mu_);
      if (std::optional<T> v = take_now()) co_return std::move(*v);
      if (closed_) throw QueueClosed("curio: get from a closed and empty UniversalQueue");
      w.signal = std::make_shared<detail::RemoteSignal>();
      getters_.push(&w);
    }
    try {
      co_await detail::remote_wait(w.signal);
    } catch (...) {
      undo_get(w);
      throw;
    }
    co_return finish_get(w);
  }
  Task<> put(T item) {
    detail::require_task_context("UniversalQueue::put");
    Putter w;
    {
      std::lock_guard lock(mu_);
      if (closed_) throw QueueClosed("curio: put on a closed UniversalQueue");
      if (putters_.empty() && !full_locked()) {
        insert(std::move(item));
        co_return;
      }
      w.item.emplace(std::move(item));
      w.signal = std::make_shared<detail::RemoteSignal>();
      putters_.push(&w);
    }
    std::exception_ptr cancelled;
    try {
      co_await detail::remote_wait(w.signal);
    } catch (...) {
      cancelled = std::current_exception();
    }
    std::unique_lock lock(mu_);
    if (cancelled && !w.done) {
      putters_.remove(&w);  // cancelled first: nothing was inserted
      std::rethrow_exception(cancelled);
    }
    if (w.error) std::rethrow_exception(w.error);  // closed while waiting
    fill_granted(w);
    lock.unlock();
    // A taker granted the place as the cancellation came: the put happened, so report success
    // and let the cancellation reach the task at its next blocking point.
    if (cancelled) detail::Traps::defer_cancellation(detail::Traps::current(), cancelled);
  }
  Task<> join() {
    detail::require_task_context("UniversalQueue::join");
    detail::UniversalWaiter w;
    {
      std::lock_guard lock(mu_);
      if (unfinished_ == 0) co_return;
      w.signal = std::make_shared<detail::RemoteSignal>();
      joiners_.push(&w);
    }
    co_await detail::await_wake(mu_, joiners_, w);
  }

  // --- threads (never call these from a task: they would block the kernel) ---
  T get_sync() {
    std::unique_lock lock(mu_);
    if (std::optional<T> v = take_now()) return std::move(*v);
    if (closed_) throw QueueClosed("curio: get from a closed and empty UniversalQueue");
    Getter w;
    getters_.push(&w);
    detail::wait_in_thread(lock, w, "UniversalQueue::get_sync");
    if (w.error) std::rethrow_exception(w.error);
    return finish_taken(w);
  }
  // Waits at most timeout; nothing if no item came.
  template <class Rep, class Period>
  std::optional<T> get_sync_for(std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock lock(mu_);
    if (std::optional<T> v = take_now()) return v;
    if (closed_) throw QueueClosed("curio: get from a closed and empty UniversalQueue");
    if (Kernel::current()) throw AsyncOnlyError("curio: UniversalQueue::get_sync_for would block the kernel's thread");
    Getter w;
    getters_.push(&w);
    if (!w.cv.wait_for(lock, timeout, [&] { return w.done; })) {
      getters_.remove(&w);
      return std::nullopt;
    }
    if (w.error) std::rethrow_exception(w.error);
    return finish_taken(w);
  }
  void put_sync(T item) {
    std::unique_lock lock(mu_);
    if (closed_) throw QueueClosed("curio: put on a closed UniversalQueue");
    if (putters_.empty() && !full_locked()) {
      insert(std::move(item));
      return;
    }
    Putter w;
    w.item.emplace(std::move(item));
    putters_.push(&w);
    detail::wait_in_thread(lock, w, "UniversalQueue::put_sync");
    if (w.error) std::rethrow_exception(w.error);
    fill_granted(w);
  }
  void join_sync() {
    std::unique_lock lock(mu_);
    if (unfinished_ == 0) return;
    detail::UniversalWaiter w;
    joiners_.push(&w);
    detail::wait_in_thread(lock, w, "UniversalQueue::join_sync");
  }

  // --- either side, never blocking ---
  std::optional<T> try_get() {
    std::lock_guard lock(mu_);
    return take_now();
  }
  bool try_put(T&& item) {
    std::lock_guard lock(mu_);
    if (closed_ || !putters_.empty() || full_locked()) return false;
    insert(std::move(item));
    return true;
  }
  // One item processed; RuntimeError if called more often than items were put.
  void task_done() {
    std::lock_guard lock(mu_);
    if (unfinished_ == 0) throw RuntimeError("curio: UniversalQueue::task_done called more times than items were put");
    if (--unfinished_ == 0) joiners_.wake_all();
  }
  // Waiting and later puts fail with QueueClosed; gets drain what is queued, then fail.
  void close() {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    putters_.wake_all(std::make_exception_ptr(QueueClosed("curio: the UniversalQueue was closed while a put waited")));
    getters_.wake_all(std::make_exception_ptr(QueueClosed("curio: the UniversalQueue was closed while a get waited")));
  }

  // Queued items, counting those handed to a getter that has not taken them yet.
  std::size_t qsize() const {
    std::lock_guard lock(mu_);
    return items_.size() + handed_;
  }
  bool empty() const { return qsize() == 0; }
  bool full() const {
    std::lock_guard lock(mu_);
    return full_locked();
  }
  std::size_t maxsize() const noexcept { return maxsize_; }
  // The eventfd (withfd only; -1 otherwise): readable while items are queued.
  int fileno() const noexcept { return event_fd_; }

 private:
  struct Getter : detail::UniversalWaiter {
    std::optional<T> item;
  };
  using Putter = Getter;  // a putter's item waits in the same slot

  // Counts queued items, items handed to getters not yet taken, places granted to putters.
  bool full_locked() const noexcept { return maxsize_ != 0 && items_.size() + handed_ + granted_ >= maxsize_; }

  void push_item(T&& v, bool front = false) {
    if (front)
      items_.push_front(std::move(v));
    else
      items_.push_back(std::move(v));
    if (event_fd_ >= 0) {
      std::uint64_t one = 1;
      [[maybe_unused]] ssize_t r = ::write(event_fd_, &one, sizeof one);
    }
  }
  T pop_item() {
    T v = std::move(items_.front());
    items_.pop_front();
    if (event_fd_ >= 0) {
      std::uint64_t n;
      [[maybe_unused]] ssize_t r = ::read(event_fd_, &n, sizeof n);
    }
    return v;
  }
  // A new item: to the first waiting getter, or into the queue.
  void insert(T&& v) {
    ++unfinished_;
    if (auto* g = static_cast<Getter*>(getters_.pop())) {
      g->item.emplace(std::move(v));
      ++handed_;
      g->wake();
    } else {
      push_item(std::move(v));
    }
  }
  // An item if one can be taken now (none while other getters wait: FIFO among getters).
  std::optional<T> take_now() {
    if (!getters_.empty() || items_.empty()) return std::nullopt;
    std::optional<T> v(pop_item());
    admit_putter();
    return v;
  }
  // A freed place goes to the first waiting putter, which inserts its item when it runs.
  void admit_putter() {
    if (full_locked()) return;
    if (auto* p = static_cast<Putter*>(putters_.pop())) {
      ++granted_;
      p->wake();
    }
  }
  // Under mu_: a woken putter fills the place it was granted.
  void fill_granted(Putter& w) {
    --granted_;
    insert(std::move(*w.item));
    w.item.reset();
  }
  // Under mu_: a woken getter takes its handed-over item; the place it held is freed now.
  T finish_taken(Getter& w) {
    --handed_;
    T v = std::move(*w.item);
    w.item.reset();
    admit_putter();
    return v;
  }
  // A task's get was cancelled or timed out: leave the queue, or, if an item was already
  // handed over, give it back at the front (to the next getter if one waits).
  void undo_get(Getter& w) {
    std::lock_guard lock(mu_);
    if (!w.done) {
      getters_.remove(&w);
      return;
    }
    if (!w.item) return;  // woken by close(): nothing to give back
    if (auto* g = static_cast<Getter*>(getters_.pop())) {
      g->item.emplace(std::move(*w.item));  // still handed over: handed_ is unchanged
      g->wake();
    } else {
      --handed_;
      push_item(std::move(*w.item), /*front=*/true);
    }
    w.item.reset();
  }
  T finish_get(Getter& w) {
    std::lock_guard lock(mu_);  // pairs with the waker's writes to w
    if (w.error) std::rethrow_exception(w.error);
    return finish_taken(w);
  }

  mutable std::mutex mu_;
  std::deque<T> items_;
  std::size_t maxsize_;
  std::size_t unfinished_ = 0;
  std::size_t handed_ = 0;   // items in woken getters' slots, not yet taken
  std::size_t granted_ = 0;  // places granted to woken putters, not yet filled
  bool closed_ = false;
  int event_fd_ = -1;
  detail::WaiterList getters_;
  detail::WaiterList putters_;
  detail::WaiterList joiners_;
};

}  // namespace curio
