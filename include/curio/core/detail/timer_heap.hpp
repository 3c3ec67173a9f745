// curio/core/detail/timer_heap.hpp: the kernel's timer structure.
// An intrusive 4-ary min-heap of deadlines: each TimerNode knows its slot, so arming and
// disarming a timer that never fires (the common case for timeouts) is O(log n) with no
// allocation and no lazy garbage; the deadline is kept inline in the array for cache locality.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace curio::detail {

// Only its slot: a task finds itself, and which of its two timers this is, from the node's
// address (TaskState::of_timer), 4 bytes per timer instead of 16.
struct TimerNode {
  static constexpr std::uint32_t kNotArmed = std::numeric_limits<std::uint32_t>::max();
  std::uint32_t slot = kNotArmed;
  bool armed() const noexcept { return slot != kNotArmed; }
};

class TimerHeap {
 public:
  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  std::int64_t earliest() const noexcept { return heap_.front().deadline; }
  TimerNode* earliest_node() const noexcept { return heap_.front().node; }

  // The node's deadline, or INT64_MAX if it is not armed.
  std::int64_t deadline_of(const TimerNode* node) const noexcept {
    return node->armed() ? heap_[node->slot].deadline : std::numeric_limits<std::int64_t>::max();
  }

  // Arms node at deadline, or moves it there if it is already armed.
  void arm(TimerNode* node, std::int64_t deadline) {
    if (node->armed()) {
      std::uint32_t i = node->slot;
      std::int64_t old = heap_[i].deadline;
      heap_[i].deadline = deadline;
      if (deadline < old)
        sift_up(i);
      else
        sift_down(i);
      return;
    }
    heap_.push_back({deadline, node});
    node->slot = static_cast<std::uint32_t>(heap_.size() - 1);
    sift_up(node->slot);
  }

  void disarm(TimerNode* node) noexcept {
    if (!node->armed()) return;
    std::uint32_t i = node->slot;
    node->slot = TimerNode::kNotArmed;
    std::uint32_t last = static_cast<std::uint32_t>(heap_.size() - 1);
    if (i != last) {
      heap_[i] = heap_[last];
      heap_[i].node->slot = i;
      heap_.pop_back();
      if (i > 0 && heap_[i].deadline < heap_[parent(i)].deadline)
        sift_up(i);
      else
        sift_down(i);
    } else {
      heap_.pop_back();
    }
  }

  void shrink_if_sparse() {
    if (heap_.capacity() > 1024 && heap_.size() < heap_.capacity() / 8) heap_.shrink_to_fit();
  }

 private:
  struct Entry {
    std::int64_t deadline;
    TimerNode* node;
  };
  static constexpr std::uint32_t kArity = 4;
  static std::uint32_t parent(std::uint32_t i) noexcept { return (i - 1) / kArity; }

  void place(std::uint32_t i, const Entry& e) noexcept {
    heap_[i] = e;
    e.node->slot = i;
  }
  void sift_up(std::uint32_t i) noexcept {
    Entry e = heap_[i];
    while (i > 0) {
      std::uint32_t p = parent(i);
      if (heap_[p].deadline <= e.deadline) break;
      place(i, heap_[p]);
      i = p;
    }
    place(i, e);
  }
  void sift_down(std::uint32_t i) noexcept {
    Entry e = heap_[i];
    const std::uint32_t n = static_cast<std::uint32_t>(heap_.size());
    for (;;) {
      std::uint32_t first = i * kArity + 1;
      if (first >= n) break;
      std::uint32_t best = first;
      std::uint32_t end = first + kArity < n ? first + kArity : n;
      for (std::uint32_t c = first + 1; c < end; ++c)
        if (heap_[c].deadline < heap_[best].deadline) best = c;
      if (heap_[best].deadline >= e.deadline) break;
      place(i, heap_[best]);
      i = best;
    }
    place(i, e);
  }

  std::vector<Entry> heap_;
};

}  // namespace curio::detail
