// spawn and task handles: join, wait, result, exception, introspection, crash reports.
#include <gtest/gtest.h>

#include "test_support.hpp"

using namespace curio_test;
using curio::Task;
using testing::internal::CaptureStderr;
using testing::internal::GetCapturedStderr;

TEST(Spawn, JoinReturnsTheTasksValue) {
  auto main = []() -> Task<int> {
    auto h = curio::spawn(after(1ms, 21));
    co_return 2 * co_await h.join();
  };
  EXPECT_EQ(curio::run(main()), 42);
}

TEST(Spawn, SpawnedTasksRunConcurrently) {
  // Three 50 ms sleeps joined in sequence take about 50 ms, not 150 ms (tolerance: < 140 ms).
  auto main = []() -> Task<double> {
    auto t0 = curio::clock();
    auto a = curio::spawn(sleep_for(50ms));
    auto b = curio::spawn(sleep_for(50ms));
    auto c = curio::spawn(sleep_for(50ms));
    co_await a.join();
    co_await b.join();
    co_await c.join();
    co_return seconds_since(t0);
  };
  double took = curio::run(main());
  EXPECT_GE(took, 0.049);
  EXPECT_LT(took, 0.14);
}

TEST(Spawn, JoinOfAFailedTaskRaisesTaskErrorWithTheCause) {
  CaptureStderr();
  auto main = []() -> Task<bool> {
    auto h = curio::spawn(fail_after(1ms));
    try {
      co_await h.join();
    } catch (const curio::TaskError& e) {
      try {
        e.rethrow_cause();
      } catch (const Boom&) {
        co_return true;
      }
    }
    co_return false;
  };
  EXPECT_TRUE(curio::run(main()));
  GetCapturedStderr();
}

TEST(Spawn, JoinMarksTheTaskJoined) {
  auto main = []() -> Task<> {
    auto h = curio::spawn(after(1ms, 1));
    EXPECT_FALSE(h.joined());
    co_await h.join();
    EXPECT_TRUE(h.joined());
    EXPECT_TRUE(h.terminated());
  };
  curio::run(main());
}

TEST(Spawn, WaitReturnsWithoutRaisingTheTasksError) {
  CaptureStderr();
  auto main = []() -> Task<bool> {
    auto h = curio::spawn(fail_after(1ms));
    co_await h.wait();
    bool ok = h.terminated() && h.exception() != nullptr;
    co_return ok;
  };
  EXPECT_TRUE(curio::run(main()));
  GetCapturedStderr();
}

TEST(Spawn, ResultBeforeTheTaskEndsIsAnError) {
  auto main = []() -> Task<> {
    auto h = curio::spawn(after(10ms, 1));
    EXPECT_THROW(h.result(), curio::RuntimeError);
    EXPECT_THROW(h.exception(), curio::RuntimeError);
    co_await h.join();
  };
  curio::run(main());
}

TEST(Spawn, ResultReRaisesTheTasksExceptionUnwrapped) {
  CaptureStderr();
  auto main = []() -> Task<> {
    auto h = curio::spawn(fail_after(1ms));
    co_await h.wait();
    EXPECT_THROW(h.result(), Boom);
  };
  curio::run(main());
  GetCapturedStderr();
}

TEST(Spawn, ResultAsTheWrongTypeIsAnError) {
  auto main = []() -> Task<> {
    auto h = curio::spawn(after(1ms, 1));
    co_await h.wait();
    EXPECT_THROW(h.result_as<std::string>(), curio::RuntimeError);
    EXPECT_EQ(h.result_as<int>(), 1);
  };
  curio::run(main());
}

TEST(Spawn, IntrospectionShowsIdNameParentAndState) {
  auto main = []() -> Task<> {
    auto me = curio::current_task();
    // Sleeps far longer than the test (a loaded machine may stall it for more than 15 ms).
    auto h = curio::spawn(sleep_for(10s), {.name = "sleeper"});
    EXPECT_EQ(h.name(), "sleeper");
    EXPECT_EQ(h.parent_id(), me.id());
    EXPECT_GT(h.id(), me.id());
    EXPECT_EQ(h.state(), curio::TaskStatus::Ready);
    co_await curio::sleep(5ms);
    EXPECT_EQ(h.state(), curio::TaskStatus::TimeSleep);
    EXPECT_EQ(me.state(), curio::TaskStatus::Running);
    co_await h.cancel();
    EXPECT_EQ(h.state(), curio::TaskStatus::Terminated);
  };
  curio::run(main());
}

TEST(Spawn, UnnamedTaskIsCalledTask) {
  auto main = []() -> Task<> {
    auto h = curio::spawn(sleep_for(1ms));
    EXPECT_EQ(h.name(), "task");
    co_await h.join();
  };
  curio::run(main());
}

TEST(Spawn, CrashIsReportedOnStderrWithTheTaskName) {
  CaptureStderr();
  auto main = []() -> Task<> {
    auto h = curio::spawn(fail_after(1ms), {.name = "doomed"});
    co_await h.wait();
    (void)h.exception();
  };
  curio::run(main());
  std::string err = GetCapturedStderr();
  EXPECT_NE(err.find("Task Crash"), std::string::npos) << err;
  EXPECT_NE(err.find("doomed"), std::string::npos) << err;
  EXPECT_NE(err.find("boom"), std::string::npos) << err;
}

TEST(Spawn, MainTaskErrorIsRaisedByRunNotReportedAsACrash) {
  CaptureStderr();
  EXPECT_THROW(curio::run(fail_after(1ms)), Boom);
  std::string err = GetCapturedStderr();
  EXPECT_EQ(err.find("Task Crash"), std::string::npos) << err;
}

TEST(Spawn, FinishedTaskNeverJoinedIsReported) {
  CaptureStderr();
  auto main = []() -> Task<> {
    curio::spawn(after(1ms, 1), {.name = "forgotten"});
    co_await curio::sleep(10ms);
  };
  curio::run(main());
  std::string err = GetCapturedStderr();
  EXPECT_NE(err.find("never joined"), std::string::npos) << err;
  EXPECT_NE(err.find("forgotten"), std::string::npos) << err;
}

TEST(Spawn, DaemonsAndCancelledTasksAreNotReportedAsNeverJoined) {
  CaptureStderr();
  auto main = []() -> Task<> {
    curio::spawn(after(1ms, 1), true);
    auto h = curio::spawn(sleep_for(1s));
    co_await curio::sleep(1ms);
    co_await h.cancel();
    co_await curio::sleep(5ms);
  };
  curio::run(main());
  std::string err = GetCapturedStderr();
  EXPECT_EQ(err.find("never joined"), std::string::npos) << err;
  EXPECT_EQ(err.find("Task Crash"), std::string::npos) << err;
}

TEST(Spawn, JoinedTaskIsNotReported) {
  CaptureStderr();
  auto main = []() -> Task<> {
    auto h = curio::spawn(after(1ms, 1));
    co_await h.join();
  };
  curio::run(main());
  EXPECT_EQ(GetCapturedStderr(), "");
}
