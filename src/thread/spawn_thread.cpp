// src/thread/spawn_thread.cpp: the thread-local link from an async thread to its kernel-side task.
#include "curio/thread/spawn_thread.hpp"

namespace curio::detail {

AsyncThread*& current_async_thread() noexcept {
  thread_local AsyncThread* self = nullptr;
  return self;
}

}  // namespace curio::detail
