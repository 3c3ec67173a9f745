// The completion seam (curio/core/detail/io_op.hpp, the io_op trap): an IoOp runs to completion
// on an io_uring kernel; cancellation and timeouts cancel it in the OS kernel and keep the task
// suspended until its completion; a result that won the race is delivered. Every test makes an
// io_uring kernel explicitly (skipped where io_uring cannot be set up), whatever CURIO_BACKEND.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "curio/curio.hpp"
#include "support/uring.hpp"

using namespace std::chrono_literals;
using curio::IoBackend;
using curio::Kernel;
using curio::KernelOptions;
using curio::Task;
using curio::detail::IoOp;
using curio::detail::IoOpKind;
using curio_test::run_uring;

namespace {

// A temporary file, removed at the end of the test.
struct TempFile {
  std::string path;
  int fd;
  TempFile() {
    char tmpl[] = "/tmp/curio-uring-XXXXXX";
    fd = ::mkstemp(tmpl);
    path = tmpl;
  }
  ~TempFile() {
    ::close(fd);
    ::unlink(path.c_str());
  }
};

IoOp file_op(IoOpKind kind, int fd, void* buf, std::size_t len, std::uint64_t offset) {
  IoOp op;
  op.kind = kind;
  op.fd = fd;
  op.buf = buf;
  op.len = static_cast<std::uint32_t>(len);
  op.offset = offset;
  return op;
}

IoOp recv_op(int fd, char* buf, std::size_t len) {
  IoOp op;
  op.kind = IoOpKind::Recv;
  op.fd = fd;
  op.buf = buf;
  op.len = static_cast<std::uint32_t>(len);
  return op;
}

}  // namespace

TEST(UringSeam, EpollRunsNoOps) {
  curio::run(
      []() -> Task<> {
        for (auto kind : {IoOpKind::Recv, IoOpKind::Read, IoOpKind::Fsync})
          EXPECT_FALSE(curio::detail::io_op_supported(kind));
        co_return;
      }(),
      KernelOptions{.backend = IoBackend::Epoll});
}

TEST(UringSeam, SupportsEveryOpKindOnThisLinux) {
  REQUIRE_URING();
  run_uring([]() -> Task<> {
    for (std::size_t k = 0; k < curio::detail::kIoOpKinds; ++k)
      EXPECT_TRUE(curio::detail::io_op_supported(static_cast<IoOpKind>(k))) << "kind " << k;
    co_return;
  }());
}

TEST(UringSeam, FileWriteThenReadAtOffsets) {
  REQUIRE_URING();
  TempFile f;
  run_uring([&]() -> Task<> {
    std::string data = "hello, ring";
    IoOp w = file_op(IoOpKind::Write, f.fd, data.data(), data.size(), 100);
    EXPECT_EQ(co_await curio::detail::io_op(w), static_cast<int>(data.size()));
    IoOp sync;
    sync.kind = IoOpKind::Fsync;
    sync.fd = f.fd;
    sync.flags = 1;  // fdatasync
    EXPECT_EQ(co_await curio::detail::io_op(sync), 0);
    char buf[32] = {};
    IoOp r = file_op(IoOpKind::Read, f.fd, buf, 5, 107);
    EXPECT_EQ(co_await curio::detail::io_op(r), 4);  // 4 bytes left past offset 107
    EXPECT_EQ(std::string(buf, 4), "ring");
    IoOp eof = file_op(IoOpKind::Read, f.fd, buf, sizeof buf, 4096);
    EXPECT_EQ(co_await curio::detail::io_op(eof), 0);
  }());
}

TEST(UringSeam, ReadAtCurrentPositionAdvancesIt) {
  REQUIRE_URING();
  TempFile f;
  ASSERT_EQ(::write(f.fd, "abcdef", 6), 6);
  ASSERT_EQ(::lseek(f.fd, 0, SEEK_SET), 0);
  run_uring([&]() -> Task<> {
    char buf[3];
    IoOp r1 = file_op(IoOpKind::Read, f.fd, buf, 3, curio::detail::kCurrentPosition);
    EXPECT_EQ(co_await curio::detail::io_op(r1), 3);
    EXPECT_EQ(std::string(buf, 3), "abc");
    IoOp r2 = file_op(IoOpKind::Read, f.fd, buf, 3, curio::detail::kCurrentPosition);
    EXPECT_EQ(co_await curio::detail::io_op(r2), 3);
    EXPECT_EQ(std::string(buf, 3), "def");
  }());
}

TEST(UringSeam, FailureIsReturnedAsNegativeErrno) {
  REQUIRE_URING();
  run_uring([]() -> Task<> {
    char buf[4];
    IoOp r = file_op(IoOpKind::Read, 1'000'000, buf, sizeof buf, 0);  // no such descriptor
    EXPECT_EQ(co_await curio::detail::io_op(r), -EBADF);
  }());
}

TEST(UringSeam, TimeoutCancelsAnInFlightRecvAndConsumesNothing) {
  REQUIRE_URING();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  run_uring([&]() -> Task<> {
    char buf[16];
    IoOp op = recv_op(sv[0], buf, sizeof buf);
    bool timed_out = false;
    try {
      co_await curio::timeout_after(20ms, [&]() -> Task<> { co_await curio::detail::io_op(op); });
    } catch (const curio::TaskTimeout&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_FALSE(op.in_flight);  // the task resumed only after the op's last completion
    EXPECT_EQ(::write(sv[1], "xy", 2), 2);
    IoOp again = recv_op(sv[0], buf, sizeof buf);
    EXPECT_EQ(co_await curio::detail::io_op(again), 2);  // nothing was lost to the cancelled op
  }());
  ::close(sv[0]);
  ::close(sv[1]);
}

// The op completes in the OS kernel before the cancel request is processed (both reach the
// ring in the same submission, the recv first, and data is already there): the result is
// delivered and the cancellation raised at the task's next blocking point.
TEST(UringSeam, CancelAfterCompletionBeforeReapDeliversTheResult) {
  REQUIRE_URING();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  ASSERT_EQ(::write(sv[1], "abc", 3), 3);
  run_uring([&]() -> Task<> {
    int got = -1;
    bool cancelled_later = false;
    char buf[16];
    auto reader = curio::spawn([&]() -> Task<> {
      IoOp op = recv_op(sv[0], buf, sizeof buf);
      got = co_await curio::detail::io_op(op);
      try {
        co_await curio::sleep(0s);
      } catch (const curio::TaskCancelled&) {
        cancelled_later = true;
        throw;
      }
    });
    auto canceller = curio::spawn([&]() -> Task<> { co_await reader.cancel(); });  // same cycle
    co_await canceller.join();
    EXPECT_EQ(got, 3);
    EXPECT_EQ(std::string(buf, 3), "abc");
    EXPECT_TRUE(cancelled_later);
  }());
  ::close(sv[0]);
  ::close(sv[1]);
}

TEST(UringSeam, CancelledBlocksUntilTheOpsCompletionArrives) {
  REQUIRE_URING();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  run_uring([&]() -> Task<> {
    IoOp* seen = nullptr;
    auto reader = curio::spawn([&]() -> Task<> {
      char buf[8];
      IoOp op = recv_op(sv[0], buf, sizeof buf);
      seen = &op;
      co_await curio::detail::io_op(op);
    });
    co_await curio::sleep(5ms);
    EXPECT_TRUE(seen && seen->in_flight);
    co_await reader.cancel();  // waits for the reader to end: after the op's completion
    EXPECT_TRUE(reader.cancelled());
  }());
  ::close(sv[0]);
  ::close(sv[1]);
}
