// What a task costs (issue 13, C1M): a name formatted only when shown, connection errors that
// end a task quietly, the task record's size, and the frame pool's slabs.
// No timing: every test runs a few tasks that end at once.
#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define CURIO_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CURIO_TEST_ASAN 1
#endif
#endif
#ifdef CURIO_TEST_ASAN
#include <sanitizer/allocator_interface.h>
#endif

#include "log_capture.hpp"
#include "support/uring.hpp"
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

// The bytes of the coroutine frame that make() creates (it is not run). From malloc (the
// sanitizer presets): the size asked for (ASan knows it exactly; otherwise malloc's usable size,
// an upper bound). From the pool: blocks have no header, so the frames that a fresh thread carves
// out of its slab one after the other lie one size class apart (blocks it adopts from exited
// threads come first, at other distances): the most common distance between neighbours.
template <class Make>
std::size_t frame_bytes(Make make) {
#ifdef CURIO_DISABLE_FRAME_POOL
  auto h = make().release();
#ifdef CURIO_TEST_ASAN
  std::size_t n = __sanitizer_get_allocated_size(h.address());
#else
  std::size_t n = malloc_usable_size(h.address());
#endif
  h.destroy();
  return n;
#else
  std::size_t n = 0;
  std::thread([&] {
    std::vector<decltype(make().release())> frames;
    for (int i = 0; i < 512; ++i) frames.push_back(make().release());
    std::vector<std::uintptr_t> at;
    for (auto h : frames) at.push_back(reinterpret_cast<std::uintptr_t>(h.address()));
    std::sort(at.begin(), at.end());
    std::map<std::uintptr_t, int> distances;
    for (std::size_t i = 1; i < at.size(); ++i) ++distances[at[i] - at[i - 1]];
    int best = 0;
    for (auto [d, count] : distances)
      if (count > best) {
        best = count;
        n = d;
      }
    for (auto h : frames) h.destroy();
  }).join();
  return n;
#endif
}

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
  // 160 bytes, the 160-byte frame-pool class (docs/performance.md, "Memory per idle
  // connection"; it was 240, then 184): errors and cancellations live in the side record,
  // the joiners list is one pointer, the timers are their slots only, and the group links share
  // the lazy name's bytes (run_server's group of clients keeps no list).
  EXPECT_LE(sizeof(curio::detail::TaskState), 160u);
}

TEST(TaskCost, ALazyNameSurvivesJoiningAListedGroup) {
  formats = 0;
  curio::run([]() -> Task<> {
    curio::TaskGroup g;
    auto h = g.spawn(sleep_for(1ms), {.lazy_name = {&format_number, 5}});
    EXPECT_EQ(formats, 1);  // formatted as it joined: the links use its bytes
    EXPECT_TRUE(h.state_ptr()->group_linked);
    EXPECT_EQ(h.name(), "conn 5");
    co_await g.join();
    EXPECT_EQ(h.name(), "conn 5");
    auto later = curio::spawn(sleep_for(1ms), {.lazy_name = {&format_number, 6}});
    curio::TaskGroup adopter;
    adopter.add_task(later);
    EXPECT_EQ(later.name(), "conn 6");
    co_await adopter.join();
    EXPECT_EQ(later.name(), "conn 6");
    EXPECT_EQ(formats, 2);
  }());
}

TEST(TaskCost, ASpawnedAndJoinedTaskHasNoSideRecord) {
  curio::run([]() -> Task<> {
    auto h = curio::spawn(sleep_for(1ms));
    co_await h.join();  // its joiner waited in the record's own list
    EXPECT_EQ(h.state_ptr()->extras, nullptr);
  }());
}

TEST(TaskCost, ACancelledTaskGetsASideRecordForItsCancellation) {
  curio::run([]() -> Task<> {
    auto h = curio::spawn(sleep_for(10000ms));
    co_await curio::sleep(0);
    EXPECT_EQ(h.state_ptr()->extras, nullptr);
    EXPECT_TRUE(co_await h.cancel());
    EXPECT_NE(h.state_ptr()->extras, nullptr);  // freed with the record (ASan: no leak)
  }());
}

// An idle connection waits in recv: that wait keeps one frame (recv calls no child coroutine)
// and the frame holds the promise, the parameters and the readiness wait's awaiter, not the
// completion path's state nor a scratch span (docs/performance.md, "Memory per idle
// connection": 240 bytes before). GCC's frame (the bench and release builds) is the figure that
// counts; Clang at -O0 (the debug preset) lays the frame out differently.
#if defined(__clang__)
constexpr std::size_t kRecvFrameBound = 168;  // recv_into's frame: the size asked for (a pool block would be 176)
#else
constexpr std::size_t kRecvFrameBound = 160;
#endif
// recv is an awaitable that lives in its caller's frame while it waits: an idle connection
// keeps no frame for it, only these bytes inside its handler's frame.
// On io_uring completions too, once a first recv has shown the OS kernel's multishot recv works
// (until then recv keeps a frame that can retry on readiness).
TEST(TaskCost, AnIdleRecvKeepsNoFrameOfItsOwn) {
  EXPECT_LE(sizeof(curio::SocketRecv), 80u);
  curio::run([]() -> Task<> {
    auto [a, b] = curio::Socket::pair();
    curio::Socket& reader = a;  // (Clang 14 lambdas cannot capture a structured binding)
    co_await b.sendall("first");
    EXPECT_EQ(co_await reader.recv(100000), "first");
    auto h = curio::spawn([&]() -> Task<std::string> { co_return co_await reader.recv(100000); });
    for (int i = 0; i < 3; ++i) co_await curio::sleep(0s);
    auto tr = curio::where(h);
    EXPECT_EQ(tr.state, curio::TaskStatus::ReadWait);
    EXPECT_EQ(tr.wait.fd, reader.fileno());
#if CURIO_AWAIT_LOCATIONS
    EXPECT_EQ(tr.frames.size(), 1u);  // the handler, at its recv line
    if (!tr.frames.empty()) {
      EXPECT_NE(tr.frames[0].function.find("operator()"), std::string_view::npos) << tr.frames[0].function;
    }
#endif
    co_await b.sendall("x");
    EXPECT_EQ(co_await h.join(), "x");
  }());
}

TEST(TaskCost, AnIdleRecvIntoKeepsOneSmallFrame) {
  if (completion_sockets())
    GTEST_SKIP() << "recv_into runs on io_uring completions (CURIO_URING_SOCKETS=0 tests this path)";
  auto sockets = curio::Socket::pair();
  curio::Socket& a = sockets.first;
  char buf[16];
  EXPECT_LE(frame_bytes([&] { return a.recv_into(std::as_writable_bytes(std::span(buf))); }), kRecvFrameBound);
}

TEST(TaskCost, AnFdRegistrationFitsOnePoolClass) {
  // 64 bytes: a frame-pool block (no malloc header), made on a socket's first wait.
  EXPECT_LE(sizeof(curio::detail::FdRegistration), 64u);
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
