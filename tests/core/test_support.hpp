// Helpers shared by the core tests.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "curio/curio.hpp"

namespace curio_test {

using namespace std::chrono_literals;

inline double seconds_since(curio::Clock::time_point t0) {
  return std::chrono::duration<double>(curio::clock() - t0).count();
}

// A task that sleeps then returns v.
template <class T>
curio::Task<T> after(std::chrono::milliseconds d, T v) {
  co_await curio::sleep(d);
  co_return v;
}

inline curio::Task<> sleep_for(std::chrono::milliseconds d) { co_await curio::sleep(d); }

struct Boom : std::runtime_error {
  Boom() : std::runtime_error("boom") {}
};

inline curio::Task<int> fail_after(std::chrono::milliseconds d) {
  co_await curio::sleep(d);
  throw Boom();
}

}  // namespace curio_test
