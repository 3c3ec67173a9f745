// Test support for io_uring suites: whether this machine lets a process set up a ring (a
// container may forbid it), a macro that skips a test where it cannot, and curio::run on a
// kernel with the io_uring backend.
#pragma once

#include <gtest/gtest.h>

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

}  // namespace curio_test

#define REQUIRE_URING() \
  if (!curio_test::io_uring_works()) GTEST_SKIP() << "io_uring cannot be set up here"
