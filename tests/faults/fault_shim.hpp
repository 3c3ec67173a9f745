// Fault injection for the library's own system calls, test binary only: this binary defines
// epoll_ctl and accept4 itself, so the statically linked library's calls land here first; each
// forwards to libc's (dlsym RTLD_NEXT) unless a failure is armed. Worker-thread creation (clone)
// is failed through curio::detail::fail_thread_start instead: the sanitizers' own
// pthread_create interceptors must not be bypassed.
#pragma once

#include <atomic>

namespace fault {

struct Armed {
  std::atomic<int> remaining{0};  // calls left to fail
  std::atomic<int> err{0};
  std::atomic<int> failed{0};  // calls failed so far
  void arm(int times, int errnum) {
    err = errnum;
    failed = 0;
    remaining = times;
  }
  bool take() {
    int r = remaining.load();
    while (r > 0 && !remaining.compare_exchange_weak(r, r - 1)) {
    }
    if (r <= 0) return false;
    ++failed;
    return true;
  }
};

inline Armed epoll_ctl_add;  // EPOLL_CTL_ADD only
inline Armed accept4;

}  // namespace fault
