// timeout_after / ignore_after: expiry, classification of nested timeouts (curio's rules),
// interaction with disable_cancellation, and no stale timers after a timeout that did not fire.
#include <gtest/gtest.h>

#include "test_support.hpp"

using namespace curio_test;
using curio::Task;

TEST(Timeout, ExpiredTimeoutAfterRaisesTaskTimeout) {
  auto main = []() -> Task<bool> {
    try {
      co_await curio::timeout_after(10ms, sleep_for(10s));
    } catch (const curio::TaskTimeout&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Timeout, FiresAtTheDeadline) {
  // Tolerance: at least 30 ms, below 300 ms.
  auto main = []() -> Task<double> {
    auto t0 = curio::clock();
    try {
      co_await curio::timeout_after(30ms, sleep_for(10s));
    } catch (const curio::TaskTimeout&) {
    }
    co_return seconds_since(t0);
  };
  double took = curio::run(main());
  EXPECT_GE(took, 0.029);
  EXPECT_LT(took, 0.3);
}

TEST(Timeout, OperationFinishingInTimeReturnsItsValue) {
  auto main = []() -> Task<int> { co_return co_await curio::timeout_after(1s, after(1ms, 7)); };
  EXPECT_EQ(curio::run(main()), 7);
}

TEST(Timeout, TimeoutThatDidNotFireLeavesNoTimerBehind) {
  auto main = []() -> Task<> {
    for (int i = 0; i < 100; ++i) co_await curio::timeout_after(5ms, sleep_for(0ms));
    co_await curio::sleep(20ms);  // past every deadline above: nothing may fire
  };
  curio::run(main());
}

TEST(Timeout, SecondsAsDoubleWork) {
  auto main = []() -> Task<bool> {
    try {
      co_await curio::timeout_after(0.01, sleep_for(10s));
    } catch (const curio::TaskTimeout&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Timeout, ZeroTimeoutRaisesAtTheFirstBlockingOperation) {
  auto main = []() -> Task<int> {
    int reached = 0;
    try {
      co_await curio::timeout_after(0ms, [&]() -> Task<> {
        reached = 1;  // code before the first blocking point runs
        co_await curio::sleep(1s);
        reached = 2;
      }());
    } catch (const curio::TaskTimeout&) {
    }
    co_return reached;
  };
  EXPECT_EQ(curio::run(main()), 1);
}

TEST(Timeout, IgnoreAfterReturnsEmptyOnExpiry) {
  auto main = []() -> Task<bool> {
    std::optional<int> r = co_await curio::ignore_after(10ms, after(10s, 1));
    co_return !r.has_value();
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Timeout, IgnoreAfterReturnsTheValueInTime) {
  auto main = []() -> Task<std::optional<int>> { co_return co_await curio::ignore_after(1s, after(1ms, 4)); };
  EXPECT_EQ(curio::run(main()), 4);
}

TEST(Timeout, IgnoreAfterOfAVoidOperationTellsWhetherItFinished) {
  auto main = []() -> Task<std::pair<bool, bool>> {
    bool fast = co_await curio::ignore_after(1s, sleep_for(1ms));
    bool slow = co_await curio::ignore_after(5ms, sleep_for(10s));
    co_return std::pair{fast, slow};
  };
  EXPECT_EQ(curio::run(main()), std::pair(true, false));
}

TEST(Timeout, OuterExpiryIsTimeoutCancellationErrorInsideAndTaskTimeoutOutside) {
  auto main = []() -> Task<std::vector<std::string>> {
    std::vector<std::string> log;
    try {
      co_await curio::timeout_after(10ms, [&]() -> Task<> {
        try {
          co_await curio::timeout_after(5s, sleep_for(10s));
        } catch (const curio::TimeoutCancellationError&) {
          log.push_back("inner: TimeoutCancellationError");
          throw;
        } catch (const curio::TaskTimeout&) {
          log.push_back("inner: TaskTimeout (wrong)");
          throw;
        }
      }());
    } catch (const curio::TaskTimeout&) {
      log.push_back("outer: TaskTimeout");
    }
    co_return log;
  };
  EXPECT_EQ(curio::run(main()), (std::vector<std::string>{"inner: TimeoutCancellationError", "outer: TaskTimeout"}));
}

TEST(Timeout, InnerExpiryCaughtInsideLetsTheOuterBlockContinue) {
  auto main = []() -> Task<int> {
    co_return co_await curio::timeout_after(5s, [&]() -> Task<int> {
      try {
        co_await curio::timeout_after(5ms, sleep_for(10s));
      } catch (const curio::TaskTimeout&) {
        co_return 1;
      }
      co_return 0;
    }());
  };
  EXPECT_EQ(curio::run(main()), 1);
}

TEST(Timeout, InnerTimeoutEscapingItsBlockIsUncaughtTimeoutError) {
  auto main = []() -> Task<bool> {
    try {
      co_await curio::timeout_after(5s, [&]() -> Task<> { co_await curio::timeout_after(5ms, sleep_for(10s)); }());
    } catch (const curio::UncaughtTimeoutError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Timeout, OuterTimeoutPassesThroughAnInnerIgnoreAfter) {
  auto main = []() -> Task<std::string> {
    try {
      co_await curio::timeout_after(10ms, [&]() -> Task<> {
        bool finished = co_await curio::ignore_after(5s, sleep_for(10s));
        (void)finished;
        ADD_FAILURE() << "ignore_after swallowed the outer timeout";
      }());
    } catch (const curio::TaskTimeout&) {
      co_return "outer TaskTimeout";
    }
    co_return "nothing";
  };
  EXPECT_EQ(curio::run(main()), "outer TaskTimeout");
}

TEST(Timeout, InnerIgnoreAfterExpiresQuietlyInsideAnOuterTimeout) {
  auto main = []() -> Task<int> {
    co_return co_await curio::timeout_after(5s, [&]() -> Task<int> {
      auto r = co_await curio::ignore_after(5ms, after(10s, 1));
      co_return r ? 1 : 2;
    }());
  };
  EXPECT_EQ(curio::run(main()), 2);
}

TEST(Timeout, OuterIgnoreAfterSwallowsWhenTheOuterDeadlineExpires) {
  auto main = []() -> Task<bool> {
    bool finished =
        co_await curio::ignore_after(10ms, [&]() -> Task<> { co_await curio::timeout_after(5s, sleep_for(10s)); }());
    co_return finished;
  };
  EXPECT_FALSE(curio::run(main()));
}

TEST(Timeout, ThreeLevelsDeliverToTheRightBlock) {
  // The middle deadline expires first: the innermost sees TimeoutCancellationError, the
  // middle block raises TaskTimeout, the outer block (not expired) lets it through.
  auto main = []() -> Task<std::vector<std::string>> {
    std::vector<std::string> log;
    try {
      co_await curio::timeout_after(5s, [&]() -> Task<> {
        try {
          co_await curio::timeout_after(10ms, [&]() -> Task<> {
            try {
              co_await curio::timeout_after(4s, sleep_for(10s));
            } catch (const curio::TimeoutCancellationError&) {
              log.push_back("inner TCE");
              throw;
            }
          }());
        } catch (const curio::TaskTimeout&) {
          log.push_back("middle TaskTimeout");
        }
      }());
      log.push_back("outer finished");
    } catch (...) {
      log.push_back("outer raised");
    }
    co_return log;
  };
  EXPECT_EQ(curio::run(main()), (std::vector<std::string>{"inner TCE", "middle TaskTimeout", "outer finished"}));
}

TEST(Timeout, InsideDisableCancellationItIsDeliveredAfterTheRegion) {
  // Tolerance: the timeout (10 ms) waits for the shielded 40 ms sleep; done in [40, 400) ms.
  auto main = []() -> Task<std::pair<int, double>> {
    int stage = 0;
    auto t0 = curio::clock();
    try {
      co_await curio::timeout_after(10ms, [&]() -> Task<> {
        co_await curio::disable_cancellation([&]() -> Task<> {
          co_await curio::sleep(40ms);
          stage = 1;
        }());
        co_await curio::sleep(10s);
        stage = 2;
      }());
    } catch (const curio::TaskTimeout&) {
    }
    co_return std::pair{stage, seconds_since(t0)};
  };
  auto [stage, took] = curio::run(main());
  EXPECT_EQ(stage, 1);
  EXPECT_GE(took, 0.039);
  EXPECT_LT(took, 0.4);
}

TEST(Timeout, PendingTimeoutIsClearedWhenTheBlockEndsNormally) {
  // The deadline passes while cancellation is disabled and the block then ends without another
  // blocking point: the stale TaskTimeout must not hit a later, unrelated sleep.
  auto main = []() -> Task<bool> {
    co_await curio::timeout_after(5ms, []() -> Task<> { co_await curio::disable_cancellation(sleep_for(20ms)); }());
    co_await curio::sleep(1ms);
    co_return true;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Timeout, CancelOutranksAPendingTimeout) {
  auto main = []() -> Task<bool> {
    auto h = curio::spawn([]() -> Task<> {
      bool timed_out = false;
      try {
        co_await curio::timeout_after(5ms, [&]() -> Task<> {
          co_await curio::disable_cancellation(sleep_for(30ms));
          co_await curio::sleep(10s);
        }());
      } catch (const curio::TaskTimeout&) {
        timed_out = true;
      }
      // If the timeout had won over the cancel, the task would wrongly carry on here.
      if (timed_out) co_await curio::sleep(10s);
    });
    co_await curio::sleep(15ms);  // the timeout is pending inside the shielded region
    co_await h.cancel();
    co_return curio::is_cancellation(h.exception());
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Timeout, TimeoutAtUsesAnAbsoluteDeadline) {
  auto main = []() -> Task<bool> {
    try {
      co_await curio::timeout_at(curio::clock() + 10ms, sleep_for(10s));
    } catch (const curio::TaskTimeout&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(curio::run(main()));
}
