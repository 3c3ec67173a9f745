// Test support for io_uring suites: whether this machine lets a process set up a ring (a
// container may forbid it), a macro that skips a test where it cannot, curio::run on a kernel
// with the io_uring backend, and whether this run's sockets use completions.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string_view>
#include <utility>

#include "curio/curio.hpp"

namespace curio_test {

inline bool io_uring_works() {
  try {
    curio::Kernel k(curio::KernelOptions{.backend = curio::IoBackend::IoUring});
    return true;
  } catch (const curio::SystemError&) {
    return false;
  }
}

template <class T>
T run_uring(curio::Task<T> main) {
  return curio::run(std::move(main), curio::KernelOptions{.backend = curio::IoBackend::IoUring});
}

// Whether this run's stream sockets use io_uring completions (the default on io_uring;
// CURIO_URING_SOCKETS=0 asks for readiness through the ring): inside a kernel, whether it runs
// io_uring; outside one, unless CURIO_BACKEND=epoll.
inline bool completion_sockets() {
  const char* v = std::getenv("CURIO_URING_SOCKETS");
  if (v && std::string_view(v) == "0") return false;
  if (curio::Kernel* k = curio::Kernel::current()) return k->backend() == curio::IoBackend::IoUring;
  const char* backend = std::getenv("CURIO_BACKEND");
  return !(backend && std::string_view(backend) == "epoll") && io_uring_works();
}

}  // namespace curio_test

#define REQUIRE_URING() \
  if (!curio_test::io_uring_works()) GTEST_SKIP() << "io_uring cannot be set up here"
