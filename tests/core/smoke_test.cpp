#include <gtest/gtest.h>

#include "curio/curio.hpp"

using namespace std::chrono_literals;
using curio::Task;

namespace {
Task<int> add(int a, int b) {
  co_await curio::sleep(0s);
  co_return a + b;
}
}  // namespace

TEST(Smoke, RunReturnsMainValue) {
  EXPECT_EQ(curio::run(add(2, 3)), 5);
}
