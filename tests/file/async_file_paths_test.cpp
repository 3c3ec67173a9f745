// AsyncFile behaviours that the worker-thread path (epoll kernels) and the io_uring path must
// share: results of read/write/seek/tell/flush/fsync, reads and writes cancelled in flight,
// end of file, errors, many readers. ctest runs them under CURIO_BACKEND=epoll and =io_uring;
// the few ring-only promises (stronger than the thread path's) skip on epoll. Timing: no
// assertion depends on speed; "in flight" is reached by cancelling right after the operation
// started (the test checks consistency whichever way the race goes).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "core/test_support.hpp"
#include "curio/file/async_file.hpp"
#include "curio/sync/event.hpp"
#include "curio/thread/run_in_thread.hpp"

using namespace curio_test;
using curio::AsyncFile;
using curio::Task;

namespace {

class Dir {
 public:
  Dir() {
    char tmpl[] = "/tmp/curio-file-paths-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    path_ = p ? p : "";
  }
  ~Dir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  Dir(const Dir&) = delete;
  Dir& operator=(const Dir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void put(const std::string& path, const std::string& data) { std::ofstream(path, std::ios::binary) << data; }

// n bytes where every 4 KiB block starts with its index (8 bytes) and no two offsets of one
// block look alike: a byte at the wrong offset shows.
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('A' + (i * 7 + i / 4096) % 53);
  for (std::size_t b = 0; b + 8 <= n; b += 4096) {
    std::uint64_t index = b / 4096;
    std::memcpy(s.data() + b, &index, 8);
  }
  return s;
}

bool on_ring() { return curio::Kernel::current()->backend() == curio::IoBackend::IoUring; }

}  // namespace

// --- results

TEST(AsyncFileResults, WriteSeekTellReadFlushFsyncReturnWhatTheyDid) {
  Dir dir;
  std::string path = dir.file("f");
  auto main = [&]() -> Task<> {
    AsyncFile f = co_await curio::aopen(path, "w+");
    EXPECT_EQ(co_await f.write("hello "), 6u);
    EXPECT_EQ(co_await f.write("world\n"), 6u);
    EXPECT_EQ(co_await f.tell(), 12);
    co_await f.flush();
    EXPECT_EQ(contents(path), "hello world\n");  // flush makes it visible to another open
    EXPECT_EQ(co_await f.seek(6), 6);
    EXPECT_EQ(co_await f.read(5), "world");
    EXPECT_EQ(co_await f.tell(), 11);
    EXPECT_EQ(co_await f.seek(-6, SEEK_END), 6);
    EXPECT_EQ(co_await f.seek(2, SEEK_CUR), 8);
    EXPECT_EQ(co_await f.write("RL"), 2u);  // overwrites in place
    co_await f.fsync();
    EXPECT_EQ(contents(path), "hello woRLd\n");
    EXPECT_EQ(co_await f.seek(0), 0);
    EXPECT_EQ(co_await f.read(), "hello woRLd\n");
    co_await f.close();
  };
  curio::run(main());
}

TEST(AsyncFileResults, SeekPastTheEndThenWriteLeavesAZeroFilledHole) {
  Dir dir;
  std::string path = dir.file("f");
  auto main = [&]() -> Task<> {
    AsyncFile f = co_await curio::aopen(path, "w");
    co_await f.write("ab");
    EXPECT_EQ(co_await f.seek(5), 5);
    co_await f.write("c");
    co_await f.close();
  };
  curio::run(main());
  EXPECT_EQ(contents(path), std::string("ab\0\0\0c", 6));
}

TEST(AsyncFileResults, ReadsAcrossBufferSizesAreByteExact) {
  Dir dir;
  std::string path = dir.file("f");
  std::string data = pattern(1'000'003);
  put(path, data);
  auto main = [&]() -> Task<std::string> {
    AsyncFile f = co_await curio::aopen(path, "rb");
    std::string got;
    std::size_t sizes[] = {1, 7, 4095, 4096, 4097, 65535, 65536, 65537, 300'000};
    for (std::size_t i = 0; got.size() < data.size(); ++i)
      got += co_await f.read(static_cast<std::int64_t>(sizes[i % 9]));
    EXPECT_EQ(co_await f.read(1), "");
    co_await f.close();
    co_return got;
  };
  EXPECT_TRUE(curio::run(main()) == data);
}

TEST(AsyncFileResults, LinesLongerThanTheBuffersComeWhole) {
  Dir dir;
  std::string path = dir.file("f");
  std::string a(200'000, 'a'), b = "b", c(70'000, 'c');
  put(path, a + "\n" + b + "\n" + c);
  auto main = [&]() -> Task<std::vector<std::string>> {
    AsyncFile f = co_await curio::aopen(path);
    std::vector<std::string> lines;
    lines.push_back(co_await f.readline());
    auto rest = co_await f.readlines();
    lines.insert(lines.end(), rest.begin(), rest.end());
    co_await f.close();
    co_return lines;
  };
  auto lines = curio::run(main());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(lines[0] == a + "\n");
  EXPECT_EQ(lines[1], "b\n");
  EXPECT_TRUE(lines[2] == c);
}

TEST(AsyncFileResults, WritesLargerThanTheBufferLandInOrder) {
  Dir dir;
  std::string path = dir.file("f");
  std::string data = pattern(3 * 65536 + 123);
  auto main = [&]() -> Task<> {
    AsyncFile f = co_await curio::aopen(path, "w");
    co_await f.write(std::string_view(data).substr(0, 10));
    co_await f.write(std::string_view(data).substr(10, 2 * 65536));
    co_await f.write(std::string_view(data).substr(10 + 2 * 65536));
    EXPECT_EQ(co_await f.tell(), static_cast<std::int64_t>(data.size()));
    co_await f.close();
  };
  curio::run(main());
  EXPECT_TRUE(contents(path) == data);
}

TEST(AsyncFileResults, ReadAfterWriteOnAnUpdateFileSeesTheWrite) {
  Dir dir;
  std::string path = dir.file("f");
  put(path, "0123456789");
  auto main = [&]() -> Task<> {
    AsyncFile f = co_await curio::aopen(path, "r+");
    EXPECT_EQ(co_await f.read(2), "01");  // fills the read-ahead
    co_await f.write("ab");               // overwrites 2..3, behind the read-ahead
    EXPECT_EQ(co_await f.read(2), "45");
    co_await f.seek(0);
    EXPECT_EQ(co_await f.read(), "01ab456789");
    co_await f.close();
  };
  curio::run(main());
}

TEST(AsyncFileResults, TruncateThenReadSeesTheNewSize) {
  Dir dir;
  std::string path = dir.file("f");
  put(path, "0123456789");
  auto main = [&]() -> Task<> {
    AsyncFile f = co_await curio::aopen(path, "r+");
    EXPECT_EQ(co_await f.read(3), "012");
    EXPECT_EQ(co_await f.truncate(5), 5);
    EXPECT_EQ(co_await f.tell(), 3);
    EXPECT_EQ(co_await f.read(), "34");  // the read-ahead of the old contents is gone
    co_await f.close();
  };
  curio::run(main());
}

// --- end of file

TEST(AsyncFileEof, EveryReadAtTheEndReturnsNothingAndKeepsThePosition) {
  Dir dir;
  std::string path = dir.file("f");
  put(path, "abc");
  auto main = [&]() -> Task<> {
    AsyncFile f = co_await curio::aopen(path);
    EXPECT_EQ(co_await f.read(), "abc");
    EXPECT_EQ(co_await f.read(), "");
    EXPECT_EQ(co_await f.read(10), "");
    EXPECT_EQ(co_await f.readline(), "");
    EXPECT_TRUE((co_await f.readlines()).empty());
    char buf[8];
    EXPECT_EQ(co_await f.readinto(std::span<char>(buf)), 0u);
    EXPECT_EQ(co_await f.tell(), 3);
    co_await f.seek(100);  // past the end: reads are empty, the position stays
    EXPECT_EQ(co_await f.read(4), "");
    EXPECT_EQ(co_await f.tell(), 100);
    co_await f.close();
  };
  curio::run(main());
}

TEST(AsyncFileEof, DataAppendedByAnotherWriterIsReadAfterAnEndOfFile) {
  Dir dir;
  std::string path = dir.file("f");
  put(path, "one\n");
  auto main = [&]() -> Task<> {
    AsyncFile f = co_await curio::aopen(path);
    EXPECT_EQ(co_await f.readline(), "one\n");
    EXPECT_EQ(co_await f.readline(), "");
    std::ofstream(path, std::ios::binary | std::ios::app) << "two\n";
    EXPECT_EQ(co_await f.readline(), "two\n");
    co_await f.close();
  };
  curio::run(main());
}

// --- errors

TEST(AsyncFileErrors, WriteToAReadOnlyFileRaisesEbadfNamingThePath) {
  Dir dir;
  std::string path = dir.file("f");
  put(path, "x");
  auto main = [&]() -> Task<> {
    AsyncFile f = co_await curio::aopen(path, "r");
    try {
      co_await f.write("y");
      co_await f.flush();
      ADD_FAILURE() << "no error";
    } catch (const curio::SystemError& e) {
      EXPECT_EQ(e.error_number(), EBADF);
      EXPECT_NE(std::string(e.what()).find("write '" + path + "'"), std::string::npos) << e.what();
    }
    co_await f.close();
  };
  curio::run(main());
  EXPECT_EQ(contents(path), "x");
}

TEST(AsyncFileErrors, ReadFromAWriteOnlyFileRaisesEbadf) {
  Dir dir;
  std::string path = dir.file("f");
  auto main = [&]() -> Task<> {
    AsyncFile f = co_await curio::aopen(path, "w");
    try {
      co_await f.read();
      ADD_FAILURE() << "no error";
    } catch (const curio::SystemError& e) {
      EXPECT_EQ(e.error_number(), EBADF);
      EXPECT_NE(std::string(e.what()).find("read '" + path + "'"), std::string::npos) << e.what();
    }
    co_await f.close();
  };
  curio::run(main());
}

TEST(AsyncFileErrors, EveryOperationAfterCloseRaisesRuntimeError) {
  Dir dir;
  std::string path = dir.file("f");
  put(path, "x");
  auto main = [&]() -> Task<int> {
    AsyncFile f = co_await curio::aopen(path, "r+");
    co_await f.close();
    int raised = 0;
    auto expect_closed = [&](Task<> op) -> Task<> {
      try {
        co_await std::move(op);
      } catch (const curio::RuntimeError& e) {
        EXPECT_NE(std::string(e.what()).find("closed file"), std::string::npos);
        ++raised;
      }
    };
    auto as_void = [](auto t) -> Task<> { co_await std::move(t); };
    co_await expect_closed(as_void(f.read(1)));
    co_await expect_closed(as_void(f.write("y")));
    co_await expect_closed(as_void(f.seek(0)));
    co_await expect_closed(as_void(f.tell()));
    co_await expect_closed(f.flush());
    co_await expect_closed(f.fsync());
    co_return raised;
  };
  EXPECT_EQ(curio::run(main()), 6);
}

TEST(AsyncFileErrors, ADescriptorClosedBehindItsBackRaisesEbadf) {
  Dir dir;
  std::string path = dir.file("f");
  put(path, "data");
  auto main = [&]() -> Task<> {
    AsyncFile f = co_await curio::aopen(path);
    // Nothing opens a descriptor between this close and the end of the test, so the number is
    // not reused under the file.
    ::close(f.fileno());
    try {
      co_await f.read();
      ADD_FAILURE() << "no error";
    } catch (const curio::SystemError& e) {
      EXPECT_EQ(e.error_number(), EBADF);
    }
    try {
      co_await f.close();
      ADD_FAILURE() << "no error";
    } catch (const curio::SystemError& e) {
      EXPECT_EQ(e.error_number(), EBADF);
      EXPECT_NE(std::string(e.what()).find("close '" + path + "'"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(f.closed());
  };
  curio::run(main());
}

TEST(AsyncFileErrors, InvalidWhenceRaisesEinval) {
  Dir dir;
  std::string path = dir.file("f");
  put(path, "x");
  auto main = [&]() -> Task<> {
    AsyncFile f = co_await curio::aopen(path);
    try {
      co_await f.seek(0, 12345);
      ADD_FAILURE() << "no error";
    } catch (const curio::SystemError& e) {
      EXPECT_EQ(e.error_number(), EINVAL);
    }
    EXPECT_EQ(co_await f.read(), "x");
    co_await f.close();
  };
  curio::run(main());
}

// --- cancellation in flight

// Whatever a cancelled or timed-out read did, tell() is where the next read continues, and that
// read returns the file's bytes from there.
TEST(AsyncFileCancelInFlight, TimedOutReadsLeaveThePositionConsistent) {
  Dir dir;
  std::string path = dir.file("f");
  std::string data = pattern(8 << 20);
  put(path, data);
  auto main = [&]() -> Task<int> {
    AsyncFile f = co_await curio::aopen(path);
    int timeouts = 0;
    std::int64_t delivered = 0;
    for (int i = 0; i < 40; ++i) {
      std::int64_t before = co_await f.tell();
      bool ring = on_ring();
      bool timed_out = false;
      try {
        std::string got = co_await curio::timeout_after(std::chrono::microseconds(20 << (i % 14)), f.read(1 << 20));
        EXPECT_TRUE(got == data.substr(static_cast<std::size_t>(before), got.size()));
        delivered += static_cast<std::int64_t>(got.size());
      } catch (const curio::TaskTimeout&) {
        timed_out = true;
      }
      std::int64_t after = co_await f.tell();
      if (timed_out) ++timeouts;
      if (ring && timed_out) {
        EXPECT_EQ(after, before);  // the ring path commits nothing
      }
      if (ring) {
        EXPECT_EQ(after, delivered);
      }
      std::int64_t now = co_await f.tell();
      if (now >= static_cast<std::int64_t>(data.size())) {
        co_await f.seek(0);
        delivered = 0;
      }
    }
    std::int64_t at = co_await f.tell();
    std::string rest = co_await f.read();
    EXPECT_TRUE(rest == data.substr(static_cast<std::size_t>(at)));
    co_await f.close();
    co_return timeouts;
  };
  int timeouts = curio::run(main());
  RecordProperty("timeouts", timeouts);  // usually some of the 40, not all: the short limits hit reads in flight
}

TEST(AsyncFileCancelInFlight, ACancelledReaderLeavesTheFileReadableFromTell) {
  Dir dir;
  std::string path = dir.file("f");
  std::string data = pattern(4 << 20);
  put(path, data);
  auto main = [&]() -> Task<> {
    AsyncFile f = co_await curio::aopen(path);
    for (int i = 0; i < 20; ++i) {
      co_await f.seek(0);
      auto reader = curio::spawn([&]() -> Task<std::string> { co_return co_await f.read(); });
      if (i % 2) co_await curio::sleep(0);  // let it submit its first read
      co_await reader.cancel();
      std::int64_t at = co_await f.tell();
      if (on_ring()) {
        EXPECT_EQ(at, 0);  // cancelled: nothing was delivered, nothing committed
      }
      std::string rest = co_await f.read();
      EXPECT_TRUE(rest == data.substr(static_cast<std::size_t>(at)));
    }
    co_await f.close();
  };
  curio::run(main());
}

TEST(AsyncFileCancelInFlight, ACancelledReadintoNeverWritesTheBufferAfterwards) {
  Dir dir;
  std::string path = dir.file("f");
  std::string data = pattern(2 << 20);
  put(path, data);
  auto main = [&]() -> Task<> {
    AsyncFile f = co_await curio::aopen(path);
    for (int i = 0; i < 20; ++i) {
      auto buffer = std::make_unique<std::vector<char>>(2 << 20, '\0');
      auto reader =
          curio::spawn([&]() -> Task<std::size_t> { co_return co_await f.readinto(std::span<char>(*buffer)); });
      if (i % 2) co_await curio::sleep(0);
      co_await reader.cancel();  // returns once the reader has ended: its op has completed
      buffer.reset();            // ASan reports any later write into it
      co_await curio::sleep(1ms);
      co_await f.seek(0);
    }
    co_await f.close();
  };
  curio::run(main());
}

// Each chunk is one write() call; whatever was cancelled, the file holds whole chunks in order
// and tell() is its size.
TEST(AsyncFileCancelInFlight, CancelledWritesLeaveWholeChunksInOrder) {
  Dir dir;
  std::string path = dir.file("f");
  constexpr int kChunks = 24;
  constexpr std::size_t kSize = 300'000;  // bigger than the buffer: each write goes out at once
  auto chunk = [](int i) { return std::string(kSize, static_cast<char>('a' + i)); };
  auto main = [&]() -> Task<std::int64_t> {
    AsyncFile f = co_await curio::aopen(path, "w");
    for (int i = 0; i < kChunks; ++i) {
      std::string c = chunk(i);
      if (i % 3 == 0) {
        co_await f.write(c);
        continue;
      }
      auto writer = curio::spawn([&]() -> Task<> { co_await f.write(c); });
      if (i % 3 == 1) co_await curio::sleep(0);
      co_await writer.cancel();
    }
    co_await f.flush();
    std::int64_t at = co_await f.tell();
    co_await f.close();
    co_return at;
  };
  std::int64_t at = curio::run(main());
  std::string got = contents(path);
  EXPECT_EQ(at, static_cast<std::int64_t>(got.size()));
  ASSERT_EQ(got.size() % kSize, 0u);
  int last = -1;
  for (std::size_t off = 0; off < got.size(); off += kSize) {
    int i = got[off] - 'a';
    EXPECT_GT(i, last);
    EXPECT_TRUE(got.compare(off, kSize, chunk(i)) == 0) << "chunk at " << off << " is torn";
    last = i;
  }
}

// The ring path's promise, stronger than the thread path's: a write() is accepted whole when
// called, so even cancelled ones are all in the file after close().
TEST(AsyncFileCancelInFlight, OnTheRingEveryCancelledWriteIsStillWritten) {
  Dir dir;
  std::string path = dir.file("f");
  std::string expected;
  auto main = [&]() -> Task<bool> {
    if (!on_ring()) co_return false;
    AsyncFile f = co_await curio::aopen(path, "w");
    for (int i = 0; i < 16; ++i) {
      std::string c(100'000, static_cast<char>('a' + i));
      expected += c;
      auto writer = curio::spawn([&]() -> Task<> { co_await f.write(c); });
      if (i % 2) co_await curio::sleep(0);
      co_await writer.cancel();
    }
    co_await f.close();
    co_return true;
  };
  if (!curio::run(main())) GTEST_SKIP() << "the thread path may drop a write cancelled before its worker ran";
  EXPECT_TRUE(contents(path) == expected);
}

TEST(AsyncFileCancelInFlight, ATimedOutFsyncStillLeavesTheDataWritten) {
  Dir dir;
  std::string path = dir.file("f");
  std::string data = pattern(1 << 20);
  auto main = [&]() -> Task<> {
    AsyncFile f = co_await curio::aopen(path, "w");
    co_await f.write(data);
    try {
      co_await curio::timeout_after(std::chrono::microseconds(10), f.fsync());
    } catch (const curio::TaskTimeout&) {
    }
    co_await f.close();
  };
  curio::run(main());
  EXPECT_TRUE(contents(path) == data);
}

// --- many readers

TEST(AsyncFileConcurrency, SixtyFourReadersWithTheirOwnFilesReadTheRightBlocks) {
  Dir dir;
  std::string path = dir.file("f");
  std::string data = pattern(4 << 20);
  put(path, data);
  auto main = [&]() -> Task<int> {
    int good = 0;
    curio::TaskGroup g;
    co_await g.scope([&]() -> Task<> {
      for (int t = 0; t < 64; ++t) {
        g.spawn([&, t]() -> Task<> {
          AsyncFile f = co_await curio::aopen(path, "rb");
          std::mt19937 rng(static_cast<unsigned>(t));
          for (int i = 0; i < 20; ++i) {
            std::uint64_t block = rng() % (data.size() / 4096);
            co_await f.seek(static_cast<std::int64_t>(block * 4096));
            std::string got = co_await f.read(4096);
            if (got == data.substr(block * 4096, 4096)) ++good;
          }
          co_await f.close();
        });
      }
      co_return;
    });
    co_return good;
  };
  EXPECT_EQ(curio::run(main()), 64 * 20);
}

// Concurrent reads of one AsyncFile share its position: each read is whole, none overlaps, and
// together they read the file once.
TEST(AsyncFileConcurrency, ReadersSharingOneFileEachGetDistinctWholeBlocks) {
  Dir dir;
  std::string path = dir.file("f");
  std::string data = pattern(1 << 20);
  put(path, data);
  auto main = [&]() -> Task<std::vector<std::uint64_t>> {
    AsyncFile f = co_await curio::aopen(path, "rb");
    std::vector<std::uint64_t> seen;
    curio::TaskGroup g;
    co_await g.scope([&]() -> Task<> {
      for (int t = 0; t < 8; ++t) {
        g.spawn([&]() -> Task<> {
          for (;;) {
            std::string got = co_await f.read(4096);
            if (got.empty()) break;
            EXPECT_EQ(got.size(), 4096u);
            std::uint64_t index;
            std::memcpy(&index, got.data(), 8);
            EXPECT_TRUE(got == data.substr(index * 4096, 4096));
            seen.push_back(index);
          }
        });
      }
      co_return;
    });
    co_await f.close();
    co_return seen;
  };
  auto seen = curio::run(main());
  std::sort(seen.begin(), seen.end());
  ASSERT_EQ(seen.size(), 256u);
  for (std::uint64_t i = 0; i < 256; ++i) EXPECT_EQ(seen[i], i);
}

// --- the ring path itself

TEST(AsyncFileRing, ReadsWritesAndFsyncNeedNoWorkerThread) {
  Dir dir;
  std::string path = dir.file("f");
  put(path, "hello");
  std::size_t limit = curio::worker_thread_limit();
  auto main = [&]() -> Task<bool> {
    if (!on_ring()) co_return false;
    AsyncFile f = co_await curio::aopen(path, "r+");
    curio::set_worker_thread_limit(1);
    curio::UniversalEvent release;
    // The only worker is busy until the file work is done: a worker hop would wait forever.
    auto occupy = [&]() -> Task<> {
      auto wait = [&] { release.wait_sync(); };
      co_await curio::run_in_thread(wait);
    };
    auto blocker = curio::spawn(occupy());
    co_await curio::sleep(10ms);
    auto work = [&]() -> Task<> {
      EXPECT_EQ(co_await f.read(), "hello");
      co_await f.write(" world");
      co_await f.fsync();
      EXPECT_EQ(co_await f.seek(0), 0);
      EXPECT_EQ(co_await f.readline(), "hello world");
      EXPECT_EQ(co_await f.tell(), 11);
    };
    bool done = true;
    try {
      co_await curio::timeout_after(5s, work());
    } catch (const curio::TaskTimeout&) {
      done = false;
    }
    release.set();
    co_await blocker.join();
    curio::set_worker_thread_limit(limit);
    EXPECT_TRUE(done) << "a file operation waited for a worker thread";
    co_await f.close();
    co_return true;
  };
  if (!curio::run(main())) GTEST_SKIP() << "the epoll kernel runs file operations in worker threads";
}

TEST(AsyncFileRing, WritesThroughTheBlockingGuardAreFollowedByTheNextWrite) {
  Dir dir;
  std::string path = dir.file("f");
  auto main = [&]() -> Task<> {
    AsyncFile f = co_await curio::aopen(path, "w+");
    co_await f.write("async1 ");
    {
      auto raw = co_await f.blocking();
      std::fputs("raw ", raw.file());  // stdio-buffered: the next operation must see it
    }
    co_await f.write("async2");
    EXPECT_EQ(co_await f.tell(), 17);
    co_await f.seek(0);
    EXPECT_EQ(co_await f.read(), "async1 raw async2");
    co_await f.close();
  };
  curio::run(main());
  EXPECT_EQ(contents(path), "async1 raw async2");
}
