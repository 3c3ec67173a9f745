// src/core/frame_pool.cpp: the slow paths of the frame pool (curio/core/frame_pool.hpp): new
// slabs, and the free blocks of exited threads.
#include "curio/core/frame_pool.hpp"

#include <atomic>
#include <mutex>

namespace curio::detail {

namespace {

struct Orphans {
  std::mutex mu;
  FramePool::Block* heads[FramePool::kClasses] = {};
  void* slabs = nullptr;  // every slab ever made, linked through its first word (kept reachable)
};
// Never destroyed: frames may still be freed while static objects are destroyed.
Orphans& orphans() noexcept {
  static Orphans* o = new Orphans;
  return *o;
}
std::atomic<bool> orphans_available{false};

void push(FramePool::Block** heads, std::size_t c, void* p) noexcept {
  auto* b = static_cast<FramePool::Block*>(p);
  b->next = heads[c];
  heads[c] = b;
}

// Turns bytes at p (a multiple of the granule) into free blocks: largest class first.
void give_back(char* p, std::size_t bytes, FramePool::Block** heads) noexcept {
  constexpr std::size_t kMax = FramePool::kClasses * FramePool::kGranule;
  while (bytes >= FramePool::kGranule) {
    std::size_t n = bytes < kMax ? bytes : kMax;
    push(heads, n / FramePool::kGranule - 1, p);
    p += n;
    bytes -= n;
  }
}

}  // namespace

void* FramePool::refill(std::size_t c) {
  Lists& l = local();
  if (orphans_available.load(std::memory_order_relaxed)) {
    Orphans& o = orphans();
    std::lock_guard<std::mutex> lock(o.mu);
    if (Block* b = o.heads[c]) {  // adopt the whole list of this class
      o.heads[c] = nullptr;
      l.heads[c] = b->next;
      return b;
    }
  }
  const std::size_t size = (c + 1) * kGranule;
  if (l.slab_left < size) {
    void* slab = ::operator new(kSlabBytes);
    give_back(l.slab_next, l.slab_left, l.heads);  // the old slab's tail
    {
      Orphans& o = orphans();
      std::lock_guard<std::mutex> lock(o.mu);
      *static_cast<void**>(slab) = o.slabs;
      o.slabs = slab;
    }
    l.slab_next = static_cast<char*>(slab) + kGranule;  // the first granule links the slabs
    l.slab_left = kSlabBytes - kGranule;
  }
  void* p = l.slab_next;
  l.slab_next += size;
  l.slab_left -= size;
  return p;
}

FramePool::Lists::~Lists() {
  give_back(slab_next, slab_left, heads);
  Orphans& o = orphans();
  std::lock_guard<std::mutex> lock(o.mu);
  bool any = false;
  for (std::size_t c = 0; c < kClasses; ++c) {
    while (Block* b = heads[c]) {
      heads[c] = b->next;
      push(o.heads, c, b);
      any = true;
    }
  }
  if (any) orphans_available.store(true, std::memory_order_relaxed);
}

}  // namespace curio::detail
