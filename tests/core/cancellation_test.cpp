// Cancellation: delivered only at blocking points, waits undone, shields, pending delivery.
#include <gtest/gtest.h>

#include "test_support.hpp"

using namespace curio_test;
using curio::Task;

namespace {
struct CustomCancel : curio::CancelledError {
  CustomCancel() : curio::CancelledError("custom") {}
};
}  // namespace

TEST(Cancellation, CancelReturnsTrueAndTheTaskEndsCancelled) {
  auto main = []() -> Task<> {
    auto h = curio::spawn(sleep_for(10s));
    co_await curio::sleep(1ms);
    EXPECT_TRUE(co_await h.cancel());
    EXPECT_TRUE(h.terminated());
    EXPECT_TRUE(h.cancelled());
    EXPECT_TRUE(curio::is_cancellation(h.exception()));
  };
  curio::run(main());
}

TEST(Cancellation, CancelOfAFinishedTaskIsANoOp) {
  auto main = []() -> Task<> {
    auto h = curio::spawn(after(1ms, 3));
    co_await h.wait();
    EXPECT_FALSE(co_await h.cancel());
    EXPECT_FALSE(h.cancelled());
    EXPECT_EQ(h.result(), 3);
  };
  curio::run(main());
}

TEST(Cancellation, CancelledSleepLeavesNoTimerBehind) {
  // If the cancelled sleep's timer stayed armed, the kernel would wake the (dead) task at 50 ms.
  auto main = []() -> Task<> {
    auto h = curio::spawn(sleep_for(50ms));
    co_await curio::sleep(1ms);
    co_await h.cancel();
    co_await curio::sleep(80ms);
  };
  curio::run(main());
}

TEST(Cancellation, CancelledWaitLeavesTheWaitQueue) {
  auto main = []() -> Task<> {
    curio::WaitQueue q;
    auto h = curio::spawn([&]() -> Task<> { co_await q.wait(); });
    co_await curio::sleep(1ms);
    EXPECT_EQ(q.size(), 1u);
    co_await h.cancel();
    EXPECT_EQ(q.size(), 0u);
    EXPECT_FALSE(q.wake_one());
  };
  curio::run(main());
}

TEST(Cancellation, IsNotDeliveredToPureComputation) {
  // A task cancelled while it is ready runs until its next blocking point.
  auto main = []() -> Task<int> {
    int progress = 0;
    auto h = curio::spawn([&]() -> Task<> {
      progress = 1;
      co_await curio::sleep(0s);
      progress = 2;  // the cancel arrived while ready: delivered at the next block below
      co_await curio::sleep(0s);
      progress = 3;
    });
    co_await curio::sleep(0s);  // h ran up to its first sleep(0) and is ready again
    co_await h.cancel();
    co_return progress;
  };
  EXPECT_EQ(curio::run(main()), 2);
}

TEST(Cancellation, CancelOfAReadyTaskIsDeliveredAtItsNextBlock) {
  auto main = []() -> Task<bool> {
    auto h = curio::spawn(sleep_for(1s));  // not started yet: Ready
    EXPECT_EQ(h.state(), curio::TaskStatus::Ready);
    co_await h.cancel();
    co_return curio::is_cancellation(h.exception());
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Cancellation, DoubleCancelSendsNothingNew) {
  auto main = []() -> Task<int> {
    int caught = 0;
    auto h = curio::spawn([&]() -> Task<> {
      try {
        co_await curio::sleep(10s);
      } catch (const curio::TaskCancelled&) {
        ++caught;
      }
      co_await curio::sleep(20ms);  // a second cancel must not interrupt this
    });
    co_await curio::sleep(1ms);
    co_await h.cancel(false);
    co_await h.cancel(false);
    co_await h.wait();
    co_return caught;
  };
  EXPECT_EQ(curio::run(main()), 1);
}

TEST(Cancellation, TaskMayCatchItAndReturnAValue) {
  auto main = []() -> Task<> {
    auto h = curio::spawn([]() -> Task<int> {
      try {
        co_await curio::sleep(10s);
      } catch (const curio::TaskCancelled&) {
        co_return 99;
      }
      co_return 0;
    });
    co_await curio::sleep(1ms);
    co_await h.cancel();
    EXPECT_TRUE(h.cancelled());
    EXPECT_EQ(co_await h.join(), 99);
  };
  curio::run(main());
}

TEST(Cancellation, SelfCancelBlockingRaisesAtItsOwnWait) {
  auto main = []() -> Task<bool> {
    try {
      co_await curio::current_task().cancel();
    } catch (const curio::TaskCancelled&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Cancellation, CustomExceptionIsDelivered) {
  auto main = []() -> Task<bool> {
    auto h = curio::spawn(sleep_for(10s));
    co_await curio::sleep(1ms);
    co_await h.cancel(CustomCancel{});
    try {
      std::rethrow_exception(h.exception());
    } catch (const CustomCancel&) {
      co_return true;
    } catch (...) {
    }
    co_return false;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Cancellation, CancellationIsNotAStdException) {
  // A generic catch of std::exception must not swallow a cancellation.
  auto main = []() -> Task<bool> {
    auto h = curio::spawn([]() -> Task<> {
      try {
        co_await curio::sleep(10s);
      } catch (const std::exception&) {
      }
      co_await curio::sleep(10s);
    });
    co_await curio::sleep(1ms);
    co_await h.cancel();
    co_return curio::is_cancellation(h.exception());
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Cancellation, DisabledRegionDefersDeliveryToTheNextBlockAfterIt) {
  auto main = []() -> Task<std::vector<std::string>> {
    std::vector<std::string> log;
    auto h = curio::spawn([&]() -> Task<> {
      co_await curio::disable_cancellation([&]() -> Task<> {
        co_await curio::sleep(30ms);
        log.push_back("shielded sleep done");
      }());
      log.push_back("after region");
      try {
        co_await curio::sleep(10s);
      } catch (const curio::TaskCancelled&) {
        log.push_back("cancelled at next block");
        throw;
      }
    });
    co_await curio::sleep(5ms);
    co_await h.cancel();
    co_return log;
  };
  EXPECT_EQ(curio::run(main()),
            (std::vector<std::string>{"shielded sleep done", "after region", "cancelled at next block"}));
}

TEST(Cancellation, NestedDisabledRegionsKeepItPendingUntilTheOutermostEnds) {
  auto main = []() -> Task<int> {
    int blocks_survived = 0;
    auto h = curio::spawn([&]() -> Task<> {
      co_await curio::disable_cancellation([&]() -> Task<> {
        co_await curio::disable_cancellation([&]() -> Task<> {
          co_await curio::sleep(20ms);
          ++blocks_survived;
        }());
        co_await curio::sleep(5ms);  // still shielded by the outer region
        ++blocks_survived;
      }());
      co_await curio::sleep(10s);
    });
    co_await curio::sleep(1ms);
    co_await h.cancel();
    co_return blocks_survived;
  };
  EXPECT_EQ(curio::run(main()), 2);
}

TEST(Cancellation, CheckCancellationRaisesWhenEnabledAndReturnsWhenDisabled) {
  auto main = []() -> Task<> {
    auto h = curio::spawn([]() -> Task<int> {
      int seen = 0;
      co_await curio::disable_cancellation([&]() -> Task<> {
        co_await curio::sleep(20ms);
        if (curio::check_cancellation()) seen = 1;  // returned, not raised
      }());
      try {
        curio::check_cancellation();
      } catch (const curio::TaskCancelled&) {
        seen += 10;  // raised (and cleared) once enabled
      }
      co_await curio::sleep(1ms);  // nothing pending any more
      co_return seen;
    });
    co_await curio::sleep(1ms);
    co_await h.cancel();
    EXPECT_EQ(co_await h.join(), 11);
  };
  curio::run(main());
}

TEST(Cancellation, SetCancellationSwapsThePendingException) {
  auto main = []() -> Task<bool> {
    auto old = curio::set_cancellation(std::make_exception_ptr(CustomCancel{}));
    EXPECT_EQ(old, nullptr);
    try {
      co_await curio::sleep(0s);
    } catch (const CustomCancel&) {
      co_return curio::set_cancellation(nullptr) == nullptr;
    }
    co_return false;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(Cancellation, CancelInsideNestedRegionIsSwallowedAndBecomesPending) {
  auto main = []() -> Task<bool> {
    bool raised_after = false;
    co_await curio::disable_cancellation([&]() -> Task<> {
      co_await curio::disable_cancellation([&]() -> Task<> {
        throw curio::TaskCancelled();
        co_return;
      }());
      // The inner region swallowed it; it is pending here (returned, not raised).
      EXPECT_NE(curio::check_cancellation(), nullptr);
    }());
    try {
      co_await curio::sleep(0s);
    } catch (const curio::TaskCancelled&) {
      raised_after = true;
    }
    co_return raised_after;
  };
  EXPECT_TRUE(curio::run(main()));
}
