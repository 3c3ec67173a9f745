// curio/sync/queue.hpp: Queue, PriorityQueue and LifoQueue (curio.queue) for tasks on one kernel.
// get/put block (cancellably) when empty/full; waiters are served FIFO. As in curio, a bounded
// queue bounds the producer: an item put for a waiting getter counts against maxsize until that
// getter has taken it, and a full queue admits a waiting putter only when a getter has taken an
// item. A cancelled get never loses an item and a cancelled put never half-inserts one.
// join() waits until task_done() was called for every item put.
// close() ends a queue: waiting and later puts fail with QueueClosed, gets drain what is left.
#pragma once

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "curio/core/errors.hpp"
#include "curio/core/traps.hpp"
#include "curio/core/wait_queue.hpp"

namespace curio {

// Raised by put on a closed queue, and by get on a closed queue that is empty.
class QueueClosed : public CurioError {
 public:
  using CurioError::CurioError;
};

namespace detail {

// Item orders. Each has push, pop (removes and returns the next item), size.
template <class T>
class FifoStore {
 public:
  void push(T&& v) { items_.push_back(std::move(v)); }
  T pop() {
    T v = std::move(items_.front());
    items_.pop_front();
    return v;
  }
  std::size_t size() const noexcept { return items_.size(); }

 private:
  std::deque<T> items_;
};

template <class T>
class LifoStore {
 public:
  void push(T&& v) { items_.push_back(std::move(v)); }
  T pop() {
    T v = std::move(items_.back());
    items_.pop_back();
    return v;
  }
  std::size_t size() const noexcept { return items_.size(); }

 private:
  std::vector<T> items_;
};

// Smallest first (as Python's heapq). Equal items come out in no particular order.
template <class T, class Less>
class PriorityStore {
 public:
  void push(T&& v) {
    items_.push_back(std::move(v));
    std::push_heap(items_.begin(), items_.end(), Greater{});
  }
  T pop() {
    std::pop_heap(items_.begin(), items_.end(), Greater{});
    T v = std::move(items_.back());
    items_.pop_back();
    return v;
  }
  std::size_t size() const noexcept { return items_.size(); }

 private:
  struct Greater {
    bool operator()(const T& a, const T& b) const { return Less{}(b, a); }
  };
  std::vector<T> items_;
};

}  // namespace detail

template <class T, class Store>
class BasicQueue {
 public:
  // maxsize 0 means unbounded.
  explicit BasicQueue(std::size_t maxsize = 0) : maxsize_(maxsize) {}
  BasicQueue(const BasicQueue&) = delete;
  BasicQueue& operator=(const BasicQueue&) = delete;

  // Items in the queue, counting those already promised to a woken getter that has not run yet
  // (curio keeps such an item in the queue until the getter takes it).
  std::size_t qsize() const noexcept { return store_.size() + handed_; }
  std::size_t maxsize() const noexcept { return maxsize_; }
  bool empty() const noexcept { return qsize() == 0; }
  // No place left: counts queued items, items promised to woken getters, and places granted to
  // woken putters that have not inserted yet.
  bool full() const noexcept { return maxsize_ != 0 && qsize() + granted_ >= maxsize_; }
  bool closed() const noexcept { return closed_; }
  // Items put but not yet marked done.
  std::size_t unfinished() const noexcept { return unfinished_; }

  // T item = co_await q.get();  Waits while the queue is empty and behind earlier getters.
  auto get() noexcept {
    struct Awaiter : detail::Traps::WaitListAwaiter {
      BasicQueue* q;
      std::optional<T> slot;
      Awaiter(detail::WaitList* l, TaskStatus s, BasicQueue* queue) noexcept : WaitListAwaiter(l, s), q(queue) {}
      bool await_ready() {
        if (q->getters_.empty() && q->store_.size() != 0) {
          slot.emplace(q->take());
          return true;
        }
        if (q->closed_) throw QueueClosed("curio: get from a closed and empty queue");
        return false;
      }
      bool await_suspend(std::coroutine_handle<> h) {
        node.payload = &slot;  // here, not earlier: the awaiter no longer moves
        return WaitListAwaiter::await_suspend(h);
      }
      T await_resume() {
        if (!task) return std::move(*slot);  // taken at once in await_ready
        WaitListAwaiter::await_resume();
        // Woken with an item (a cancellation arriving now stays pending): it leaves the queue
        // only now, so the freed place admits a putter now.
        --q->handed_;
        q->admit_putter();
        return std::move(*slot);
      }
    };
    return getters_.template wait_as<Awaiter>(TaskStatus::QueueGet, this);
  }

  // co_await q.put(item);  Waits while the queue is full. If it raises (cancelled, timed out,
  // closed) the item was not put, and it is destroyed with the awaiter. A waiting putter is
  // woken with a granted place and inserts its item when it runs (a cancellation arriving
  // after the grant stays pending: the put completes).
  auto put(T item) noexcept(std::is_nothrow_move_constructible_v<T>) {
    struct Awaiter : detail::Traps::WaitListAwaiter {
      BasicQueue* q;
      std::optional<T> item;
      Awaiter(detail::WaitList* l, TaskStatus s, BasicQueue* queue,
              T&& v) noexcept(std::is_nothrow_move_constructible_v<T>)
          : WaitListAwaiter(l, s), q(queue), item(std::move(v)) {}
      bool await_ready() {
        if (q->closed_) throw QueueClosed("curio: put on a closed queue");
        if (!q->putters_.empty() || q->full()) return false;
        q->insert(std::move(*item));
        return true;
      }
      void await_resume() {
        if (!task) return;  // put at once in await_ready
        WaitListAwaiter::await_resume();
        --q->granted_;
        q->insert(std::move(*item));
      }
    };
    return putters_.template wait_as<Awaiter>(TaskStatus::QueuePut, this, std::move(item));
  }

  // Non-blocking forms. try_get returns nothing if no item is available now; try_put returns
  // false (and leaves item untouched) if the queue is full, closed, or has queued putters.
  std::optional<T> try_get() {
    if (!getters_.empty() || store_.size() == 0) return std::nullopt;
    return take();
  }
  bool try_put(T&& item) {
    if (closed_ || !putters_.empty() || full()) return false;
    insert(std::move(item));
    return true;
  }
  bool try_put(const T& item) {
    if (closed_ || !putters_.empty() || full()) return false;
    insert(T(item));
    return true;
  }

  // Marks one item as processed; a RuntimeError if called more times than items were put.
  void task_done() {
    if (unfinished_ == 0) throw RuntimeError("curio: Queue::task_done called more times than items were put");
    if (--unfinished_ == 0) joiners_.wake_all();
  }
  // Waits until every item put has been marked done.
  auto join() noexcept {
    struct Awaiter : detail::Traps::WaitListAwaiter {
      BasicQueue* q;
      Awaiter(detail::WaitList* l, TaskStatus s, BasicQueue* queue) noexcept : WaitListAwaiter(l, s), q(queue) {}
      bool await_ready() const noexcept { return q->unfinished_ == 0; }
    };
    return joiners_.template wait_as<Awaiter>(TaskStatus::QueueJoin, this);
  }

  // Closes the queue: waiting putters fail with QueueClosed (their items are not added), and so
  // do waiting getters (the queue is empty if any wait). Items already in the queue can still be
  // taken. Idempotent.
  void close() {
    if (closed_) return;
    closed_ = true;
    putters_.wake_all_with(std::make_exception_ptr(QueueClosed("curio: the queue was closed while a put waited")));
    getters_.wake_all_with(std::make_exception_ptr(QueueClosed("curio: the queue was closed while a get waited")));
  }

  std::size_t getters_waiting() const noexcept { return getters_.size(); }
  std::size_t putters_waiting() const noexcept { return putters_.size(); }

 private:
  // A new item: promised to the first waiting getter (the store is empty if one waits; the item
  // counts as queued until that getter runs), else into the store.
  void insert(T&& v) {
    ++unfinished_;
    if (auto* slot = getters_.template wake_first<std::optional<T>>()) {
      slot->emplace(std::move(v));
      ++handed_;
    } else {
      store_.push(std::move(v));
    }
  }
  // The next item; the freed place is granted to the first waiting putter.
  T take() {
    T v = store_.pop();
    admit_putter();
    return v;
  }
  void admit_putter() noexcept {
    if (!full() && putters_.wake_one()) ++granted_;
  }

  Store store_;
  std::size_t maxsize_;
  std::size_t unfinished_ = 0;
  std::size_t handed_ = 0;   // items in woken getters' slots, not yet taken
  std::size_t granted_ = 0;  // places granted to woken putters, not yet filled
  bool closed_ = false;
  WaitQueue getters_;
  WaitQueue putters_;
  WaitQueue joiners_;
};

template <class T>
using Queue = BasicQueue<T, detail::FifoStore<T>>;
template <class T>
using LifoQueue = BasicQueue<T, detail::LifoStore<T>>;
// Returns the smallest item first (Less orders them, as with std::priority_queue's opposite).
template <class T, class Less = std::less<T>>
using PriorityQueue = BasicQueue<T, detail::PriorityStore<T, Less>>;

}  // namespace curio
