// readinto, blocking() and io_waiting on sockets and streams (issue 9, items 5 and 6).
// Sleeps of a few ms only order events; nothing is timed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "io/io_test_support.hpp"

using namespace curio_test;
using curio::Task;

namespace {
bool is_nonblocking(int fd) { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }
}  // namespace

TEST(ReadInto, TakesBufferedDataAfterReadlineFirst) {
  auto main = []() -> Task<> {
    auto sockets = curio::Socket::pair();
    auto& a = sockets.first;
    auto& b = sockets.second;
    curio::SocketStream s(b);
    co_await a.sendall("line\nrest-of-it");
    EXPECT_EQ(co_await s.readline(), "line\n");
    std::array<char, 4> buf{};
    EXPECT_EQ(co_await s.readinto(std::span<char>(buf)), 4u);
    EXPECT_EQ(std::string(buf.data(), 4), "rest");
    std::array<char, 64> big{};
    std::size_t n = co_await s.readinto(std::span<char>(big));
    EXPECT_EQ(std::string(big.data(), n), "-of-it");  // only what was buffered, no extra read
  };
  curio::run(main());
}

TEST(ReadInto, ReadlineStillFindsALineAfterAPartialReadinto) {
  auto main = []() -> Task<> {
    auto sockets = curio::Socket::pair();
    auto& a = sockets.first;
    auto& b = sockets.second;
    curio::SocketStream s(b);
    co_await a.sendall("abcdef");
    std::array<char, 2> two{};
    // readline scans "abcdef" without a newline first, under a short timeout
    EXPECT_FALSE(co_await curio::ignore_after(5ms, s.readline()));
    EXPECT_EQ(co_await s.readinto(std::span<char>(two)), 2u);
    co_await a.sendall("g\n");
    EXPECT_EQ(co_await s.readline(), "cdefg\n");
  };
  curio::run(main());
}

TEST(ReadInto, MultiMegabyteTransferIsByteExact) {
  auto main = []() -> Task<> {
    auto sockets = co_await tcp_pair();
    auto& client = sockets.first;
    auto& server = sockets.second;
    const std::string data = pattern(5 * 1024 * 1024 + 17);
    auto sender = curio::spawn([&]() -> Task<> {
      co_await client.sendall(data);
      client.shutdown(SHUT_WR);
    });
    curio::SocketStream s(server);
    std::string got;
    std::vector<std::byte> buf(100000);
    for (;;) {
      std::size_t n = co_await s.readinto(std::span<std::byte>(buf));
      if (n == 0) break;
      got.append(reinterpret_cast<const char*>(buf.data()), n);
    }
    co_await sender.join();
    EXPECT_EQ(got.size(), data.size());
    EXPECT_TRUE(got == data);
  };
  curio::run(main());
}

TEST(ReadInto, ReturnsZeroAtEndOfStream) {
  auto main = []() -> Task<> {
    auto sockets = curio::Socket::pair();
    auto& a = sockets.first;
    auto& b = sockets.second;
    curio::SocketStream s(b);
    a.close();
    std::array<char, 8> buf{};
    EXPECT_EQ(co_await s.readinto(std::span<char>(buf)), 0u);
    EXPECT_TRUE(s.at_eof());
  };
  curio::run(main());
}

TEST(ReadInto, ACancelledReadintoLeavesTheBufferUntouchedAndTheStreamUsable) {
  auto main = []() -> Task<> {
    auto sockets = curio::Socket::pair();
    auto& a = sockets.first;
    auto& b = sockets.second;
    curio::SocketStream s(b);
    std::array<char, 8> buf{};
    buf.fill('x');
    EXPECT_FALSE(co_await curio::ignore_after(2ms, s.readinto(std::span<char>(buf))));
    EXPECT_EQ(std::string(buf.data(), 8), "xxxxxxxx");
    co_await a.sendall("ok");
    EXPECT_EQ(co_await s.readinto(std::span<char>(buf)), 2u);
  };
  curio::run(main());
}

TEST(ReadInto, WorksOnAFileStreamOverAPipe) {
  auto main = []() -> Task<> {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    curio::FileStream r(fds[0]);
    curio::FileStream w(fds[1]);
    co_await w.write("hello\nworld");
    EXPECT_EQ(co_await r.readline(), "hello\n");
    std::array<char, 16> buf{};
    std::size_t n = co_await r.readinto(std::span<char>(buf));
    EXPECT_EQ(std::string(buf.data(), n), "world");
  };
  curio::run(main());
}

TEST(Blocking, SocketBlockingGivesABlockingDescriptorAndRestoresNonBlocking) {
  auto main = []() -> Task<> {
    auto sockets = curio::Socket::pair();
    auto& a = sockets.first;
    auto& b = sockets.second;
    EXPECT_TRUE(is_nonblocking(a.fileno()));
    {
      curio::BlockingFd raw = a.blocking();
      EXPECT_EQ(raw.fileno(), a.fileno());
      EXPECT_FALSE(is_nonblocking(raw.fileno()));
      EXPECT_EQ(::send(raw.fileno(), "sync", 4, 0), 4);
    }
    EXPECT_TRUE(is_nonblocking(a.fileno()));
    EXPECT_EQ(co_await b.recv(10), "sync");
  };
  curio::run(main());
}

TEST(Blocking, SocketIsUsableAsyncAfterABlockingLibraryDrainedIt) {
  // The blocking code reads what arrived; the next async recv must wait for new data, not fail.
  auto main = []() -> Task<> {
    auto sockets = curio::Socket::pair();
    auto& a = sockets.first;
    auto& b = sockets.second;
    co_await a.sendall("one");
    {
      auto raw = b.blocking();
      char buf[8];
      EXPECT_EQ(::recv(raw.fileno(), buf, sizeof buf, 0), 3);
    }
    auto later = curio::spawn([&]() -> Task<> {
      co_await curio::sleep(2ms);
      co_await a.sendall("two");
    });
    EXPECT_EQ(co_await curio::timeout_after(1s, b.recv(8)), "two");
    co_await later.join();
  };
  curio::run(main());
}

TEST(Blocking, StreamWithBufferedDataRefusesWithIOError) {
  auto main = []() -> Task<> {
    auto sockets = curio::Socket::pair();
    auto& a = sockets.first;
    auto& b = sockets.second;
    curio::SocketStream s(b);
    co_await a.sendall("x\nbuffered");
    EXPECT_EQ(co_await s.readline(), "x\n");
    try {
      auto raw = s.blocking();
      ADD_FAILURE() << "blocking() with buffered data succeeded";
    } catch (const curio::IOError& e) {
      EXPECT_NE(std::string(e.what()).find("buffered"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(is_nonblocking(b.fileno()));
  };
  curio::run(main());
}

TEST(Blocking, StreamWithoutBufferedDataGivesTheDescriptor) {
  auto main = []() -> Task<> {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    curio::FileStream w(fds[1]);
    ::close(fds[0]);
    auto raw = w.blocking();
    EXPECT_EQ(raw.fileno(), w.fileno());
    EXPECT_FALSE(is_nonblocking(w.fileno()));
    co_return;
  };
  curio::run(main());
}

TEST(Blocking, RefusedWhileATaskWaitsOnTheDescriptor) {
  auto main = []() -> Task<> {
    auto sockets = curio::Socket::pair();
    auto& b = sockets.second;
    auto reader = curio::spawn([&]() -> Task<> { co_await b.recv(10); });
    co_await curio::sleep(1ms);
    EXPECT_THROW(b.blocking(), curio::IOError);
    co_await reader.cancel();
  };
  curio::run(main());
}

TEST(IoWaiting, NamesTheTasksWaitingToReadAndToWrite) {
  auto main = []() -> Task<> {
    auto sockets = co_await tcp_pair();
    auto& a = sockets.first;
    auto& b = sockets.second;
    EXPECT_EQ(b.io_waiting().reader, 0u);
    EXPECT_EQ(a.io_waiting().writer, 0u);
    set_buffer_sizes(a, 4096);
    fill_send_buffer(a);  // nobody reads b: a's next send must wait
    auto quiet = curio::Socket::pair();
    auto reader = curio::spawn([&]() -> Task<> { co_await quiet.second.recv(10); });
    auto writer = curio::spawn([&]() -> Task<> { co_await a.sendall(std::string(1 << 20, 'w')); });
    co_await curio::sleep(2ms);
    EXPECT_EQ(quiet.second.io_waiting().reader, reader.id());
    EXPECT_EQ(quiet.second.io_waiting().writer, 0u);
    EXPECT_EQ(a.io_waiting().writer, writer.id());
    EXPECT_EQ(a.io_waiting().reader, 0u);
    co_await reader.cancel();
    co_await writer.cancel();
    EXPECT_EQ(quiet.second.io_waiting().reader, 0u);
    EXPECT_EQ(a.io_waiting().writer, 0u);
  };
  curio::run(main());
}
