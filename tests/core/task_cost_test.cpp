// What a task costs (issue 13, C1M): a name formatted only when shown, connection errors that
// end a task quietly, the task record's size, and the frame pool's slabs.
// No timing: every test runs a few tasks that end at once.
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <thread>

#include "log_capture.hpp"
#include "test_support.hpp"

using namespace curio_test;
using curio::Task;

namespace {

int formats = 0;
std::string format_number(std::uint64_t data) {
  ++formats;
  return "conn " + std::to_string(data);
}

Task<> reset_by_peer() {
  co_await curio::sleep(0);
  throw curio::ConnectionResetError(ECONNRESET, "recv");
}

Task<> fails_with_boom() {
  co_await curio::sleep(0);
  throw Boom();
}

// Records every log line of the test (the default rate limit would drop some when the suite
// has just logged others); restores the previous settings afterwards.
struct AllLogs : LogCapture {
  AllLogs() { curio::set_log_rate_limit({.lines = 100000}); }
};

}  // namespace

TEST(TaskCost, LazyNameIsFormattedOnlyWhenFirstShownAndThenKept) {
  formats = 0;
  curio::run([]() -> Task<> {
    auto h = curio::spawn(sleep_for(0ms), {.lazy_name = {&format_number, 42}});
    EXPECT_EQ(formats, 0);
    EXPECT_EQ(h.name(), "conn 42");
    EXPECT_EQ(h.name(), "conn 42");
    EXPECT_EQ(formats, 1);
    co_await h.join();
  }());
}

TEST(TaskCost, AGivenNameWinsOverALazyOne) {
  formats = 0;
  curio::run([]() -> Task<> {
    auto h = curio::spawn(sleep_for(0ms), {.name = "given", .lazy_name = {&format_number, 1}});
    EXPECT_EQ(h.name(), "given");
    h.set_name("renamed");
    EXPECT_EQ(h.name(), "renamed");
    EXPECT_EQ(formats, 0);
    co_await h.join();
  }());
}

TEST(TaskCost, SetNameReplacesALazyNameNotYetShown) {
  curio::run([]() -> Task<> {
    auto h = curio::spawn(sleep_for(0ms), {.lazy_name = {&format_number, 7}});
    h.set_name("renamed");
    EXPECT_EQ(h.name(), "renamed");
    co_await h.join();
  }());
}

TEST(TaskCost, ACrashReportShowsTheLazyName) {
  AllLogs logs;
  curio::run([]() -> Task<> {
    auto h = curio::spawn(fails_with_boom(), {.lazy_name = {&format_number, 99}});
    co_await h.wait();
  }());
  ASSERT_EQ(logs.count("task-crash"), 1u);
  EXPECT_NE(logs.records()[0].message.find("'conn 99'"), std::string::npos) << logs.records()[0].message;
}

TEST(TaskCost, QuietConnectionErrorsEndATaskWithoutACrashReport) {
  AllLogs logs;
  curio::run([]() -> Task<> {
    auto h = curio::spawn(reset_by_peer(), {.quiet_connection_errors = true});
    co_await h.wait();
    EXPECT_TRUE(curio::is_connection_error(h.exception()));  // still the task's outcome
  }());
  EXPECT_EQ(logs.count("task-crash"), 0u);
}

TEST(TaskCost, QuietConnectionErrorsCoverAChildsResetRaisedByItsJoin) {
  AllLogs logs;
  curio::run([]() -> Task<> {
    auto h = curio::spawn(
        []() -> Task<> {
          auto child = curio::spawn(reset_by_peer(), {.name = "child"});
          co_await child.join();  // TaskError, cause: ConnectionResetError
        },
        {.name = "handler", .quiet_connection_errors = true});
    co_await h.wait();
    (void)h.exception();  // read: no "never joined" warning
  }());
  // The child itself was not spawned quietly (its own report is the kernel's usual one); the
  // handler that its join failed is not reported.
  for (const auto& r : logs.records())
    if (r.kind == "task-crash") {
      EXPECT_EQ(r.message.find("'handler'"), std::string::npos) << r.message;
    }
  EXPECT_EQ(logs.count("task-crash"), 1u);  // the child's
}

TEST(TaskCost, QuietConnectionErrorsStillReportOtherErrors) {
  AllLogs logs;
  curio::run([]() -> Task<> {
    auto h = curio::spawn(fails_with_boom(), {.quiet_connection_errors = true});
    co_await h.wait();
  }());
  EXPECT_EQ(logs.count("task-crash"), 1u);
}

TEST(TaskCost, AConnectionErrorIsACrashWithoutTheOption) {
  AllLogs logs;
  curio::run([]() -> Task<> {
    auto h = curio::spawn(reset_by_peer());
    co_await h.wait();
  }());
  EXPECT_EQ(logs.count("task-crash"), 1u);
}

TEST(TaskCost, TheTaskRecordStaysWithinItsBudget) {
  // 240 bytes: one frame-pool class of 16-byte granules (docs/performance.md, "Memory per idle
  // connection"); the lazy name took the place of the promise pointer.
  EXPECT_LE(sizeof(curio::detail::TaskState), 240u);
}

#ifndef CURIO_DISABLE_FRAME_POOL
TEST(TaskCost, FramePoolBlocksAreCarvedFromSlabsWithoutHeaders) {
  using curio::detail::FramePool;
  // Consecutive fresh blocks of one class sit next to each other (no malloc header between),
  // unless a slab ended in between.
  std::vector<void*> blocks;
  for (int i = 0; i < 64; ++i) blocks.push_back(FramePool::allocate(1968));  // a class no test uses
  int adjacent = 0;
  for (std::size_t i = 1; i < blocks.size(); ++i)
    adjacent += static_cast<char*>(blocks[i]) == static_cast<char*>(blocks[i - 1]) + 1968;
  for (void* b : blocks) FramePool::deallocate(b, 1968);
  EXPECT_GE(adjacent, 50);
}

TEST(TaskCost, FramePoolBlocksOfAnExitedThreadAreReused) {
  using curio::detail::FramePool;
  std::set<void*> freed;
  std::thread([&] {
    std::vector<void*> mine;
    for (int i = 0; i < 8; ++i) mine.push_back(FramePool::allocate(1936));
    for (void* b : mine) {
      freed.insert(b);
      FramePool::deallocate(b, 1936);
    }
  }).join();
  // This thread's list of that class is empty: it adopts the exited thread's blocks.
  void* b = FramePool::allocate(1936);
  EXPECT_TRUE(freed.count(b)) << "a block of an exited thread is reused";
  FramePool::deallocate(b, 1936);
}

TEST(TaskCost, FramePoolBlockFreedOnAnotherThreadStaysUsable) {
  using curio::detail::FramePool;
  auto* p = static_cast<char*>(FramePool::allocate(1904));
  std::memset(p, 1, 1904);
  std::thread([p] { FramePool::deallocate(p, 1904); }).join();
  auto* q = static_cast<char*>(FramePool::allocate(1904));
  std::memset(q, 2, 1904);  // ASan-clean memory either way
  EXPECT_EQ(q[1903], 2);
  FramePool::deallocate(q, 1904);
}
#endif
