// curio/core/frame_pool.hpp: a per-thread free-list allocator for coroutine frames and task
// records, so that spawning and awaiting coroutines costs no malloc in steady state.
// Blocks come from ::operator new, so a block freed on another thread is still valid memory.
#pragma once

#include <cstddef>
#include <new>

namespace curio::detail {

class FramePool {
 public:
  static constexpr std::size_t kGranule = 16;   // size classes are multiples of this (TaskState fits exactly)
  static constexpr std::size_t kClasses = 128;  // pooled up to 2 KiB
  static constexpr std::size_t kMaxCachedPerClass = 4096;

  static void* allocate(std::size_t n) {
#ifdef CURIO_DISABLE_FRAME_POOL  // sanitizer builds: let ASan see every frame's lifetime
    return ::operator new(n);
#endif
    std::size_t c = size_class(n);
    if (c < kClasses) {
      FreeList& list = local().lists[c];
      if (list.head) {
        Block* b = list.head;
        list.head = b->next;
        --list.count;
        return b;
      }
      return ::operator new((c + 1) * kGranule);
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
      FreeList& list = local().lists[c];
      if (list.count < kMaxCachedPerClass) {
        Block* b = static_cast<Block*>(p);
        b->next = list.head;
        list.head = b;
        ++list.count;
        return;
      }
    }
    ::operator delete(p);
  }

 private:
  struct Block {
    Block* next;
  };
  struct FreeList {
    Block* head = nullptr;
    std::size_t count = 0;
  };
  struct Lists {
    FreeList lists[kClasses];
    ~Lists() {
      for (FreeList& l : lists) {
        while (l.head) {
          Block* b = l.head;
          l.head = b->next;
          ::operator delete(b);
        }
      }
    }
  };
  static std::size_t size_class(std::size_t n) noexcept { return (n + kGranule - 1) / kGranule - 1; }
  static Lists& local() noexcept {
    static thread_local Lists lists;
    return lists;
  }
};

}  // namespace curio::detail
