// Activations, async stack traces (where), TaskLocal and run_once (issue 12).
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <thread>

#include "test_support.hpp"

using namespace curio_test;
using curio::Task;
using curio::TaskStatus;

namespace {

// Frames need the co_await sites (the CMake option CURIO_AWAIT_LOCATIONS, on by default).
#if CURIO_AWAIT_LOCATIONS
#define REQUIRE_AWAIT_LOCATIONS() (void)0
#else
#define REQUIRE_AWAIT_LOCATIONS() GTEST_SKIP() << "built with CURIO_AWAIT_LOCATIONS=OFF"
#endif

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Lets spawned tasks run up to their first blocking point.
Task<> settle() {
  for (int i = 0; i < 3; ++i) co_await curio::sleep(0s);
}

// --- Activation ----------------------------------------------------------------------------

struct Recorder : curio::Activation {
  std::string only;  // a task name
  std::vector<std::string> events;
  curio::Kernel* activated = nullptr;
  void activate(curio::Kernel& k) override { activated = &k; }
  void add(const char* what, curio::TaskView t) {
    if (t.name() == only) events.push_back(std::string(what) + ":" + curio::to_string(t.state()));
  }
  void created(curio::TaskView t) override { add("created", t); }
  void running(curio::TaskView t) override { add("running", t); }
  void suspended(curio::TaskView t) override { add("suspended", t); }
  void terminated(curio::TaskView t) override { add("terminated", t); }
};

Task<> sleep_three_times() {
  for (int i = 0; i < 3; ++i) co_await curio::sleep(1ms);
}

TEST(Activation, OrderForATaskThatSleepsThreeTimes) {
  auto rec = std::make_shared<Recorder>();
  rec->only = "sleeper";
  curio::run(
      []() -> Task<> {
        auto h = curio::spawn(sleep_three_times(), {.name = "sleeper"});
        co_await h.join();
      }(),
      {.activations = {rec}});
  std::vector<std::string> want = {"created:READY",        "running:RUNNING",      "suspended:TIME_SLEEP",
                                   "running:RUNNING",      "suspended:TIME_SLEEP", "running:RUNNING",
                                   "suspended:TIME_SLEEP", "running:RUNNING",      "suspended:TERMINATED",
                                   "terminated:TERMINATED"};
  EXPECT_EQ(rec->events, want);
}

TEST(Activation, ActivateIsCalledWithTheKernelItIsInstalledIn) {
  auto rec = std::make_shared<Recorder>();
  curio::Kernel k({.activations = {rec}});
  EXPECT_EQ(rec->activated, &k);
}

TEST(Activation, SuspendedHookCanReadWhereTheTaskWaits) {
  REQUIRE_AWAIT_LOCATIONS();
  struct WhereRecorder : curio::Activation {
    std::vector<std::string> functions;
    void suspended(curio::TaskView t) override {
      if (t.name() != "sleeper") return;
      auto tr = t.where();
      if (!tr.frames.empty()) functions.emplace_back(tr.frames.back().function);
    }
  };
  auto rec = std::make_shared<WhereRecorder>();
  curio::run([]() -> Task<> { co_await curio::spawn(sleep_three_times(), {.name = "sleeper"}).join(); }(),
             {.activations = {rec}});
  ASSERT_EQ(rec->functions.size(), 3u);
  EXPECT_EQ(rec->functions[0], "sleep_three_times");
}

TEST(Activation, AHookThatThrowsIsReportedAndTheKernelGoesOn) {
  struct Thrower : curio::Activation {
    void running(curio::TaskView) override { throw std::runtime_error("hook failed"); }
  };
  testing::internal::CaptureStderr();
  int v = curio::run([]() -> Task<int> { co_return co_await curio::spawn(after(1ms, 7)).join(); }(),
                     {.activations = {std::make_shared<Thrower>()}});
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(v, 7);
  // Reported at most once per process (no log flood), so another test may have reported it.
  EXPECT_LE(std::count(err.begin(), err.end(), '\n'), 1);
}

TEST(Activation, NullActivationIsAClearError) {
  curio::Kernel k;
  EXPECT_THROW(k.add_activation(nullptr), curio::RuntimeError);
}

// --- Where -----------------------------------------------------------------------------------

Task<> inner_sleep(int& line) {
  line = __LINE__ + 1;  // the next line is the co_await
  co_await curio::sleep(10s);
}
Task<> outer_sleep(int& outer, int& inner) {
  outer = __LINE__ + 1;  // the next line is the co_await
  co_await inner_sleep(inner);
}

TEST(Where, SleepShowsTheChainRootFirstWithTheLineOfEachCoAwait) {
  REQUIRE_AWAIT_LOCATIONS();
  curio::run([]() -> Task<> {
    int outer = 0, inner = 0;
    auto h = curio::spawn(outer_sleep(outer, inner));
    co_await settle();
    curio::TaskTrace tr = curio::where(h);
    EXPECT_EQ(tr.state, TaskStatus::TimeSleep);
    EXPECT_EQ(tr.frames.size(), 2u);
    if (tr.frames.size() != 2u) co_return;
    EXPECT_EQ(tr.frames[0].function, "outer_sleep");
    EXPECT_EQ(tr.frames[0].line, static_cast<std::uint32_t>(outer));
    EXPECT_TRUE(ends_with(tr.frames[0].file, "observe_test.cpp")) << tr.frames[0].file;
    EXPECT_EQ(tr.frames[1].function, "inner_sleep");
    EXPECT_EQ(tr.frames[1].line, static_cast<std::uint32_t>(inner));
    EXPECT_TRUE(tr.wait.until);
    if (!tr.wait.until) co_return;
    double left = std::chrono::duration<double>(*tr.wait.until - curio::clock()).count();
    EXPECT_GT(left, 9.0);  // slept 10 s; generous for a loaded machine
    EXPECT_LE(left, 10.0);
    std::string text = tr.to_string();
    EXPECT_NE(text.find("inner_sleep  "), std::string::npos) << text;
    EXPECT_NE(text.find("observe_test.cpp:" + std::to_string(inner)), std::string::npos) << text;
    co_await h.cancel();
  }());
}

Task<> wait_event(curio::Event& ev, int& line) {
  line = __LINE__ + 1;  // the next line is the co_await
  co_await ev.wait();
}
Task<> take_lock(curio::Lock& lock, int& line) {
  line = __LINE__ + 1;  // the next line is the co_await
  co_await lock.acquire();
  lock.release();
}
Task<int> get_item(curio::Queue<int>& q, int& line) {
  line = __LINE__ + 1;  // the next line is the co_await
  int v = co_await q.get();
  co_return v;
}
Task<> join_child(curio::TaskHandle<void> child, int& line) {
  line = __LINE__ + 1;  // the next line is the co_await
  co_await child.join();
}
Task<> read_fd(curio::Socket& s, int& line) {
  line = __LINE__ + 1;  // the next line is the co_await
  co_await s.recv(10);
}
Task<> thread_job(int& line) {
  line = __LINE__ + 1;  // the next line is the co_await
  co_await curio::run_in_thread([] { std::this_thread::sleep_for(300ms); });
}

// The innermost user frame of a trace: the last one in the test file.
curio::Frame last_test_frame(const curio::TaskTrace& tr) {
  for (auto it = tr.frames.rbegin(); it != tr.frames.rend(); ++it)
    if (ends_with(it->file, "observe_test.cpp")) return *it;
  return {};
}

TEST(Where, EventWaitShowsTheEventAndTheLine) {
  REQUIRE_AWAIT_LOCATIONS();
  curio::run([]() -> Task<> {
    curio::Event ev;
    int line = 0;
    auto h = curio::spawn(wait_event(ev, line));
    co_await settle();
    auto tr = curio::where(h);
    EXPECT_EQ(tr.state, TaskStatus::EventWait);
    EXPECT_EQ(last_test_frame(tr).line, static_cast<std::uint32_t>(line));
    EXPECT_NE(tr.wait.object, nullptr);
    EXPECT_EQ(tr.wait.describe().rfind("Event ", 0), 0u) << tr.wait.describe();
    ev.set();
    co_await h.join();
  }());
}

TEST(Where, LockQueueAndJoinWaitsShowTheirKindAndLine) {
  REQUIRE_AWAIT_LOCATIONS();
  curio::run([]() -> Task<> {
    curio::Lock lock;
    curio::Queue<int> q;
    co_await lock.acquire();
    int lock_line = 0, queue_line = 0, join_line = 0;
    auto locker = curio::spawn(take_lock(lock, lock_line));
    auto getter = curio::spawn(get_item(q, queue_line));
    auto child = curio::spawn(sleep_for(10s));
    auto joiner = curio::spawn(join_child(child, join_line));
    co_await settle();
    auto tl = curio::where(locker);
    EXPECT_EQ(tl.state, TaskStatus::LockAcquire);
    EXPECT_EQ(last_test_frame(tl).line, static_cast<std::uint32_t>(lock_line));
    auto tq = curio::where(getter);
    EXPECT_EQ(tq.state, TaskStatus::QueueGet);
    EXPECT_EQ(last_test_frame(tq).line, static_cast<std::uint32_t>(queue_line));
    EXPECT_EQ(tq.wait.describe().rfind("Queue.get ", 0), 0u);
    auto tj = curio::where(joiner);
    EXPECT_EQ(tj.state, TaskStatus::TaskJoin);
    EXPECT_EQ(tj.wait.task_id, child.id());
    EXPECT_EQ(tj.wait.describe(), "join task " + std::to_string(child.id()));
    EXPECT_EQ(last_test_frame(tj).line, static_cast<std::uint32_t>(join_line));
    lock.release();
    co_await q.put(1);
    co_await child.cancel();
    co_await locker.join();
    co_await getter.join();
    EXPECT_THROW(co_await joiner.join(), curio::TaskError);
  }());
}

// recv is an awaitable that runs in the awaiting frame: the innermost frame is the caller's,
// at its recv line (curio/io/socket_recv.hpp).
TEST(Where, FdWaitShowsTheDescriptorAndTheAwaitingLine) {
  REQUIRE_AWAIT_LOCATIONS();
  curio::run([]() -> Task<> {
    auto [a, b] = curio::Socket::pair();
    int line = 0;
    auto h = curio::spawn(read_fd(a, line));
    co_await settle();
    auto tr = curio::where(h);
    EXPECT_EQ(tr.state, TaskStatus::ReadWait);
    EXPECT_EQ(tr.wait.fd, a.fileno());
    EXPECT_EQ(tr.wait.describe(), "fd " + std::to_string(a.fileno()) + " readable");
    EXPECT_EQ(last_test_frame(tr).line, static_cast<std::uint32_t>(line));
    EXPECT_FALSE(tr.frames.empty());
    // recv keeps no frame of its own (SocketRecv) on either path: read_fd is innermost.
    if (!tr.frames.empty()) {
      EXPECT_EQ(tr.frames.back().function, "read_fd");
    }
    co_await b.sendall("x");
    co_await h.join();
  }());
}

TEST(Where, ThreadJobShowsAFutureWait) {
  REQUIRE_AWAIT_LOCATIONS();
  curio::run([]() -> Task<> {
    int line = 0;
    auto h = curio::spawn(thread_job(line));
    co_await curio::sleep(50ms);  // the job sleeps 300 ms
    auto tr = curio::where(h);
    EXPECT_EQ(tr.state, TaskStatus::FutureWait);
    EXPECT_EQ(last_test_frame(tr).line, static_cast<std::uint32_t>(line));
    co_await h.join();
  }());
}

TEST(Where, ARunningTaskHasNoFramesAndANotStartedOneHasItsRoot) {
  REQUIRE_AWAIT_LOCATIONS();
  curio::run([]() -> Task<> {
    auto self = curio::where(curio::current_task());
    EXPECT_EQ(self.state, TaskStatus::Running);
    EXPECT_TRUE(self.frames.empty());
    int outer = 0, inner = 0;
    auto h = curio::spawn(outer_sleep(outer, inner));
    auto tr = curio::where(h);  // spawned, not run yet
    EXPECT_EQ(tr.state, TaskStatus::Ready);
    EXPECT_EQ(tr.frames.size(), 1u);
    if (tr.frames.size() != 1u) co_return;
    EXPECT_EQ(tr.frames[0].function, "outer_sleep");
    EXPECT_EQ(tr.frames[0].line, 0u);
    co_await h.cancel();
  }());
}

TEST(Where, TimeoutDeadlineIsReported) {
  curio::run([]() -> Task<> {
    auto h = curio::spawn([]() -> Task<> { co_await curio::ignore_after(5s, curio::sleep(10s)); });
    co_await settle();
    auto tr = curio::where(h);
    EXPECT_TRUE(tr.timeout);
    if (!tr.timeout) co_return;
    double left = std::chrono::duration<double>(*tr.timeout - curio::clock()).count();
    EXPECT_GT(left, 4.0);
    EXPECT_LE(left, 5.0);
    co_await h.cancel();
  }());
}

Task<> throw_inside(int& line) {
  line = __LINE__ + 1;  // the next line is the co_await
  co_await curio::sleep(1ms);
  throw Boom();
}
Task<> calls_thrower(int& line, int& inner) {
  line = __LINE__ + 1;  // the next line is the co_await
  co_await throw_inside(inner);
}

TEST(Where, ReportOfATaskThatCrashedUnjoinedIncludesItsStack) {
  REQUIRE_AWAIT_LOCATIONS();
  int outer = 0, inner = 0;
  testing::internal::CaptureStderr();
  curio::run([&]() -> Task<> {
    curio::spawn(calls_thrower(outer, inner), {.name = "crasher"});
    co_await curio::sleep(20ms);
  }());
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("Task Crash"), std::string::npos) << err;
  EXPECT_NE(err.find("calls_thrower  "), std::string::npos) << err;
  EXPECT_NE(err.find("observe_test.cpp:" + std::to_string(outer)), std::string::npos) << err;
  EXPECT_NE(err.find("throw_inside  "), std::string::npos) << err;
  EXPECT_NE(err.find("observe_test.cpp:" + std::to_string(inner)), std::string::npos) << err;
}

TEST(Where, EmptyHandleIsAClearError) { EXPECT_THROW(curio::where(curio::AnyTaskHandle{}), curio::RuntimeError); }

// --- TaskLocal -------------------------------------------------------------------------------

curio::TaskLocal<std::string> request_id{"none"};
curio::TaskLocal<int> no_default;

TEST(TaskLocal, UnsetValueIsTheDefaultOrAClearError) {
  curio::run([]() -> Task<> {
    EXPECT_EQ(request_id.get(), "none");
    EXPECT_FALSE(request_id.has_value());
    EXPECT_THROW(no_default.get(), curio::RuntimeError);
    co_return;
  }());
}

TEST(TaskLocal, SpawnedTasksInheritACopy) {
  curio::run([]() -> Task<> {
    request_id.set("req-1");
    auto child = curio::spawn([]() -> Task<std::string> {
      std::string seen = request_id.get();
      request_id.set("changed-by-child");
      auto grandchild = curio::spawn([]() -> Task<std::string> { co_return request_id.get(); });
      co_return seen + "," + co_await grandchild.join();
    });
    EXPECT_EQ(co_await child.join(), "req-1,changed-by-child");
    EXPECT_EQ(request_id.get(), "req-1");  // the child's set() is its own
  }());
}

TEST(TaskLocal, SetAfterSpawnIsNotSeenByTheEarlierChild) {
  curio::run([]() -> Task<> {
    request_id.set("before");
    auto child = curio::spawn([]() -> Task<std::string> {
      co_await curio::sleep(1ms);
      co_return request_id.get();
    });
    request_id.set("after");
    EXPECT_EQ(co_await child.join(), "before");
  }());
}

TEST(TaskLocal, TaskGroupMembersInherit) {
  curio::run([]() -> Task<> {
    request_id.set("group-req");
    curio::TaskGroup g;
    std::vector<std::string> seen;
    co_await g.scope([&]() -> Task<> {
      for (int i = 0; i < 3; ++i)
        g.spawn([&]() -> Task<> {
          co_await curio::sleep(0s);
          seen.push_back(request_id.get());
        });
      co_return;
    });
    EXPECT_EQ(seen, (std::vector<std::string>{"group-req", "group-req", "group-req"}));
  }());
}

TEST(TaskLocal, SpawnThreadSeesTheSpawningTasksValues) {
  curio::run([]() -> Task<> {
    request_id.set("threaded");
    auto h = curio::spawn_thread([] {
      std::string in_thread = request_id.get();
      std::string via_await = curio::AWAIT([]() -> Task<std::string> { co_return request_id.get(); });
      return in_thread + "," + via_await;
    });
    EXPECT_EQ(co_await h.join(), "threaded,threaded");
  }());
}

TEST(TaskLocal, BindRestoresThePreviousValueAndResetRemovesIt) {
  curio::run([]() -> Task<> {
    request_id.set("outer");
    {
      auto scope = request_id.bind("inner");
      EXPECT_EQ(request_id.get(), "inner");
    }
    EXPECT_EQ(request_id.get(), "outer");
    request_id.reset();
    EXPECT_FALSE(request_id.has_value());
    { auto scope = request_id.bind("temp"); }
    EXPECT_FALSE(request_id.has_value());
    co_return;
  }());
}

TEST(TaskLocal, TasksThatNeverUseOneAllocateNothing) {
  curio::run([]() -> Task<> {
    auto h = curio::spawn([]() -> Task<> { co_return; });
    EXPECT_EQ(h.state_ptr()->extras, nullptr);
    co_await h.join();
  }());
}

// --- RunOnce ---------------------------------------------------------------------------------

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1;
}

TEST(RunOnce, RunsExactlyTheTasksThatAreReady) {
  curio::Kernel k;
  int steps = 0;
  auto h = curio::spawn(k, [&]() -> Task<int> {
    for (int i = 0; i < 3; ++i) {
      ++steps;
      co_await curio::sleep(0s);
    }
    co_return steps;
  });
  EXPECT_EQ(k.run_once(), 1u);
  EXPECT_EQ(steps, 1);
  EXPECT_EQ(k.run_once(), 1u);
  EXPECT_EQ(steps, 2);
  EXPECT_EQ(k.run_once(), 1u);
  EXPECT_EQ(k.run_once(), 1u);
  EXPECT_TRUE(h.terminated());
  EXPECT_EQ(h.result(), 3);
  EXPECT_EQ(k.run_once(), 0u);
}

TEST(RunOnce, ATimerRunsOnlyWhenDueAndThePollableFdSaysWhen) {
  curio::Kernel k;
  int fd = k.pollable_fd();
  auto h = curio::spawn(k, sleep_for(50ms));
  EXPECT_TRUE(readable(fd, 0));   // a task is ready
  EXPECT_EQ(k.run_once(), 1u);    // runs it into its sleep
  EXPECT_FALSE(readable(fd, 0));  // nothing due
  EXPECT_EQ(k.run_once(), 0u);
  EXPECT_TRUE(readable(fd, 2000));  // becomes readable when the sleep is due (~50 ms)
  EXPECT_EQ(k.run_once(), 1u);
  EXPECT_TRUE(h.terminated());
  EXPECT_FALSE(readable(fd, 0));
}

TEST(RunOnce, PollableFdWakesForWorkFromAnotherThread) {
  curio::Kernel k;
  int fd = k.pollable_fd();
  auto h = curio::spawn(k, []() -> Task<int> {
    co_return co_await curio::run_in_thread([] {
      std::this_thread::sleep_for(30ms);
      return 5;
    });
  });
  k.run_once();
  auto t0 = curio::clock();
  while (!h.terminated() && seconds_since(t0) < 5) {
    if (readable(fd, 1000)) k.run_once();
  }
  EXPECT_TRUE(h.terminated());
  EXPECT_EQ(h.result(), 5);
}

TEST(RunOnce, FromInsideARunningKernelIsAnError) {
  curio::Kernel k;
  curio::run([&]() -> Task<> {
    EXPECT_THROW(k.run_once(), curio::RuntimeError);
    co_return;
  }());
}

TEST(RunOnce, AfterShutdownIsAnError) {
  curio::Kernel k;
  k.shutdown();
  EXPECT_THROW(k.run_once(), curio::RuntimeError);
  EXPECT_THROW(k.pollable_fd(), curio::RuntimeError);
}

}  // namespace
