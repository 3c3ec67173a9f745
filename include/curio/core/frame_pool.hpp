// curio/core/frame_pool.hpp: a per-thread free-list allocator for coroutine frames and task
// records, so that spawning and awaiting coroutines costs no malloc in steady state.
// Blocks are carved out of 64 KiB slabs (no malloc header per block: 16 bytes saved on every
// frame and task record) and are never returned to malloc: a freed block goes back to the free
// list of the thread that frees it, and a thread that exits hands its free blocks to the next
// thread that needs some. So a block freed on another thread is still valid memory, and the
// pool keeps its high-water mark (like malloc's arenas, which seldom shrink either).
#pragma once

#include <cstddef>
#include <new>

namespace curio::detail {

class FramePool {
 public:
  static constexpr std::size_t kGranule = 16;   // size classes are multiples of this (TaskState fits exactly)
  static constexpr std::size_t kClasses = 128;  // pooled up to 2 KiB
  static constexpr std::size_t kSlabBytes = 64 * 1024;

  static void* allocate(std::size_t n) {
#ifdef CURIO_DISABLE_FRAME_POOL  // sanitizer builds: let ASan see every frame's lifetime
    return ::operator new(n);
#endif
    std::size_t c = size_class(n);
    if (c < kClasses) {
      Block*& head = local().heads[c];
      if (head) {
        Block* b = head;
        head = b->next;
        return b;
      }
      return refill(c);
    }
    return ::operator new(n);
  }

  static void deallocate(void* p, std::size_t n) noexcept {
#ifdef CURIO_DISABLE_FRAME_POOL
    ::operator delete(p);
    return;
#endif
    std::size_t c = size_class(n);
    if (c < kClasses) {
      Block*& head = local().heads[c];
      Block* b = static_cast<Block*>(p);
      b->next = head;
      head = b;
      return;
    }
    ::operator delete(p);
  }

  struct Block {
    Block* next;
  };
  // One thread's free lists and the rest of its current slab.
  struct Lists {
    Block* heads[kClasses] = {};
    char* slab_next = nullptr;
    std::size_t slab_left = 0;
    ~Lists();  // hands the free blocks to the process-wide orphan lists (src/core/frame_pool.cpp)
  };

 private:
  // An empty free list: a block from the orphans of exited threads, else from the slab.
  static void* refill(std::size_t c);
  static std::size_t size_class(std::size_t n) noexcept { return (n + kGranule - 1) / kGranule - 1; }
  static Lists& local() noexcept {
    static thread_local Lists lists;
    return lists;
  }
};

}  // namespace curio::detail
