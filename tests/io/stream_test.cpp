// SocketStream and FileStream: partial reads, read_exactly across packets and at EOF, lines
// split across packets, over-long lines, data buffered between different read calls,
// readlines/readall/next_line until EOF, cancellation and timeouts that keep buffered data and
// report progress (bytes_read, lines_read, bytes_written), and pipes in both directions.
// Timing tolerance: sleeps of 1-5 ms only separate packets (a later send lands after the reader
// consumed the earlier one); timeouts of 10-50 ms only end waits that cannot complete. No test
// asserts a duration; each finishes well under 2 s.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "io/io_test_support.hpp"

using namespace curio_test;
using curio::Socket;
using curio::SocketStream;
using curio::Task;

namespace {

// Sends each part, pausing between them so that they arrive as separate reads.
Task<> send_parts(Socket& s, std::vector<std::string> parts, bool close_after = false) {
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) co_await curio::sleep(3ms);
    co_await s.sendall(parts[i]);
  }
  if (close_after) s.shutdown(SHUT_WR);
}

}  // namespace

// --- read ---

TEST(Stream, ReadReturnsWhatIsAvailableWithoutWaitingForMaxsize) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    co_await b.sendall("abc");
    EXPECT_EQ(co_await curio::timeout_after(1s, s.read(1000)), "abc");
  };
  curio::run(main());
}

TEST(Stream, ReadWithASmallMaxsizeLeavesTheRestBuffered) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    co_await b.sendall("abcdef");
    EXPECT_EQ(co_await s.read(2), "ab");
    EXPECT_EQ(s.buffered(), 4u);
    EXPECT_EQ(co_await s.read(100), "cdef");
    EXPECT_EQ(s.buffered(), 0u);
  };
  curio::run(main());
}

TEST(Stream, ReadAtEndOfStreamReturnsEmpty) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    co_await b.sendall("last");
    b.close();
    EXPECT_EQ(co_await s.read(), "last");
    EXPECT_EQ(co_await s.read(), "");
    EXPECT_TRUE(s.at_eof());
  };
  curio::run(main());
}

// --- read_exactly ---

TEST(Stream, ReadExactlyGathersSeveralPackets) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    auto writer = curio::spawn(send_parts(b, {"ab", "cd", "ef", "gh"}));
    EXPECT_EQ(co_await curio::timeout_after(1s, s.read_exactly(6)), "abcdef");
    co_await writer.join();
    EXPECT_EQ(co_await curio::timeout_after(1s, s.read_exactly(2)), "gh");
  };
  curio::run(main());
}

TEST(Stream, EofInReadExactlyRaisesEofErrorCarryingThePartialData) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    auto writer = curio::spawn(send_parts(b, {"ab", "c"}, /*close_after=*/true));
    std::string partial = "<none>";
    std::size_t bytes_read = 0;
    try {
      co_await curio::timeout_after(1s, s.read_exactly(10));
    } catch (const curio::EofError& e) {
      partial = e.partial();
      bytes_read = e.bytes_read();
    }
    co_await writer.join();
    EXPECT_EQ(partial, "abc");
    EXPECT_EQ(bytes_read, 3u);
    EXPECT_TRUE(s.at_eof());
  };
  curio::run(main());
}

TEST(Stream, CancelledReadExactlyReportsBytesReadAndKeepsThem) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    co_await b.sendall("abcd");
    std::optional<std::size_t> bytes_read;
    try {
      co_await curio::timeout_after(20ms, s.read_exactly(10));
    } catch (const curio::TaskTimeout& e) {
      bytes_read = e.bytes_read;
    }
    EXPECT_EQ(bytes_read, std::optional<std::size_t>(4));
    EXPECT_EQ(s.buffered(), 4u);
    co_await b.sendall("efghij");
    EXPECT_EQ(co_await curio::timeout_after(1s, s.read_exactly(10)), "abcdefghij");
  };
  curio::run(main());
}

TEST(Stream, ReadExactlyCancelledByTaskCancelReportsBytesRead) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    co_await b.sendall("xyz");
    auto reader = curio::spawn([&]() -> Task<std::optional<std::size_t>> {
      try {
        co_await s.read_exactly(100);
      } catch (const curio::TaskCancelled& e) {
        co_return e.bytes_read;
      }
      co_return std::nullopt;
    });
    co_await curio::sleep(5ms);
    co_await reader.cancel();
    EXPECT_EQ(reader.result(), std::optional<std::size_t>(3));
  };
  curio::run(main());
}

// --- readline ---

TEST(Stream, LineSplitAcrossPacketsIsReassembled) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    auto writer = curio::spawn(send_parts(b, {"hel", "lo\n", "world\n"}));
    EXPECT_EQ(co_await curio::timeout_after(1s, s.readline()), "hello\n");
    EXPECT_EQ(co_await curio::timeout_after(1s, s.readline()), "world\n");
    co_await writer.join();
  };
  curio::run(main());
}

TEST(Stream, ReadlineReturnsTheRestWithoutNewlineAtEofThenEmpty) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    co_await b.sendall("one\ntail");
    b.close();
    EXPECT_EQ(co_await s.readline(), "one\n");
    EXPECT_EQ(co_await s.readline(), "tail");
    EXPECT_EQ(co_await s.readline(), "");
  };
  curio::run(main());
}

TEST(Stream, OverLongLineRaisesLineTooLongAndTheDataStaysReadable) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    co_await b.sendall(std::string(20, 'x'));  // no newline at all
    EXPECT_THROW(co_await curio::timeout_after(1s, s.readline(10)), curio::LineTooLong);
    EXPECT_EQ(s.buffered(), 20u);
    EXPECT_EQ(co_await s.read(100), std::string(20, 'x'));
  };
  curio::run(main());
}

TEST(Stream, NewlineBeyondMaxlenRaisesLineTooLongAndKeepsTheLine) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    co_await b.sendall("0123456789abcdef\nnext\n");
    EXPECT_THROW(co_await s.readline(10), curio::LineTooLong);
    EXPECT_EQ(co_await s.read_exactly(17), "0123456789abcdef\n");
    EXPECT_EQ(co_await s.readline(10), "next\n");
  };
  curio::run(main());
}

TEST(Stream, ReadlineUsesDataBufferedByAnEarlierReadExactly) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    co_await b.sendall("HDRline one\nline two\n");  // one packet, then nothing more
    EXPECT_EQ(co_await s.read_exactly(3), "HDR");
    EXPECT_EQ(co_await curio::timeout_after(1s, s.readline()), "line one\n");
    EXPECT_EQ(co_await curio::timeout_after(1s, s.readline()), "line two\n");
    EXPECT_EQ(s.buffered(), 0u);
  };
  curio::run(main());
}

TEST(Stream, TimedOutReadlineKeepsThePartialLineBuffered) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    co_await b.sendall("hel");
    bool timed_out = false;
    try {
      co_await curio::timeout_after(20ms, s.readline());
    } catch (const curio::TaskTimeout&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(s.buffered(), 3u);
    co_await b.sendall("lo\n");
    EXPECT_EQ(co_await curio::timeout_after(1s, s.readline()), "hello\n");
  };
  curio::run(main());
}

// --- readlines, readall, next_line ---

TEST(Stream, ReadlinesReturnsEveryLineUntilEof) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    auto writer = curio::spawn(send_parts(b, {"a\nb", "\nc\n", "tail"}, /*close_after=*/true));
    auto lines = co_await curio::timeout_after(1s, s.readlines());
    co_await writer.join();
    EXPECT_EQ(lines, (std::vector<std::string>{"a\n", "b\n", "c\n", "tail"}));
    EXPECT_TRUE(s.at_eof());
  };
  curio::run(main());
}

TEST(Stream, TimedOutReadlinesReportsLinesReadAndKeepsThem) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    co_await b.sendall("one\ntwo\npart");
    std::optional<std::size_t> lines_read;
    try {
      co_await curio::timeout_after(20ms, s.readlines());
    } catch (const curio::TaskTimeout& e) {
      lines_read = e.lines_read;
    }
    EXPECT_EQ(lines_read, std::optional<std::size_t>(2));
    co_await b.sendall("ial\n");
    b.close();
    auto lines = co_await curio::timeout_after(1s, s.readlines());
    EXPECT_EQ(lines, (std::vector<std::string>{"one\n", "two\n", "partial\n"}));
  };
  curio::run(main());
}

TEST(Stream, ReadallReturnsEverythingUntilEof) {
  auto main = []() -> Task<> {
    auto ab = Socket::pair();  // (named: lambdas below capture the sockets)
    Socket& a = ab.first;
    Socket& b = ab.second;
    SocketStream s(a);
    const std::string data = pattern(300 * 1024);  // several fills
    auto writer = curio::spawn([&]() -> Task<> {
      co_await b.sendall(data);
      b.close();
    });
    std::string got = co_await curio::timeout_after(1s, s.readall());
    co_await writer.join();
    EXPECT_EQ(got.size(), data.size());
    EXPECT_TRUE(got == data);
    EXPECT_EQ(co_await s.readall(), "");
  };
  curio::run(main());
}

TEST(Stream, TimedOutReadallReportsBytesReadAndKeepsThem) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    co_await b.sendall("12345");
    std::optional<std::size_t> bytes_read;
    try {
      co_await curio::timeout_after(20ms, s.readall());
    } catch (const curio::TaskTimeout& e) {
      bytes_read = e.bytes_read;
    }
    EXPECT_EQ(bytes_read, std::optional<std::size_t>(5));
    co_await b.sendall("678");
    b.close();
    EXPECT_EQ(co_await curio::timeout_after(1s, s.readall()), "12345678");
  };
  curio::run(main());
}

TEST(Stream, NextLineIteratesOverLinesAndEndsAtEof) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream s(a);
    auto writer = curio::spawn(send_parts(b, {"x\ny", "\nz"}, /*close_after=*/true));
    std::vector<std::string> lines;
    while (auto line = co_await curio::timeout_after(1s, s.next_line())) lines.push_back(*line);
    co_await writer.join();
    EXPECT_EQ(lines, (std::vector<std::string>{"x\n", "y\n", "z"}));
    EXPECT_EQ(co_await s.next_line(), std::nullopt);
  };
  curio::run(main());
}

// --- write, writelines ---

TEST(Stream, WriteAndWritelinesRoundTrip) {
  auto main = []() -> Task<> {
    auto [a, b] = Socket::pair();
    SocketStream out(a);
    SocketStream in(std::move(b));  // owning form
    co_await out.write("one\n");
    // (a named vector: GCC 11/12 reject a braced list as a coroutine call's argument)
    std::vector<std::string_view> more{"two\n", "thr", "ee\n"};
    co_await out.writelines(more);
    a.shutdown(SHUT_WR);
    auto lines = co_await curio::timeout_after(1s, in.readlines());
    EXPECT_EQ(lines, (std::vector<std::string>{"one\n", "two\n", "three\n"}));
  };
  curio::run(main());
}

TEST(Stream, CancelledWriteReportsBytesWritten) {
  auto main = []() -> Task<> {
    auto [a, b] = co_await tcp_pair();  // b never reads
    set_buffer_sizes(a, 16384);
    SocketStream s(a);
    const std::string data(8 << 20, 'w');
    std::optional<std::size_t> written;
    try {
      co_await curio::timeout_after(50ms, s.write(data));
    } catch (const curio::TaskTimeout& e) {
      written = e.bytes_written;
    }
    EXPECT_TRUE(written.has_value());
    if (written) {
      EXPECT_GT(*written, 0u);
      EXPECT_LT(*written, data.size());
    }
  };
  curio::run(main());
}

TEST(Stream, CancelledWritelinesReportsBytesWrittenAcrossLines) {
  auto main = []() -> Task<> {
    auto [a, b] = co_await tcp_pair();  // b never reads
    set_buffer_sizes(a, 16384);
    SocketStream s(a);
    const std::string first(1000, '1');  // fits in the buffers: written in full
    const std::string second(8 << 20, '2');
    std::optional<std::size_t> written;
    try {
      std::vector<std::string_view> lines{first, second};
      co_await curio::timeout_after(50ms, s.writelines(lines));
    } catch (const curio::TaskTimeout& e) {
      written = e.bytes_written;
    }
    EXPECT_TRUE(written.has_value());
    if (written) {
      EXPECT_GT(*written, first.size());
      EXPECT_LT(*written, first.size() + second.size());
      // Exactly that many bytes reach the peer.
      a.shutdown(SHUT_WR);
      std::size_t received = 0;
      for (;;) {
        std::string part = co_await curio::timeout_after(1s, b.recv());
        if (part.empty()) break;
        received += part.size();
      }
      EXPECT_EQ(received, *written);
    }
  };
  curio::run(main());
}

// --- FileStream over pipes ---

TEST(FileStream, PipesCarryDataInBothDirections) {
  int request[2];
  int reply[2];
  ASSERT_EQ(::pipe2(request, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(reply, O_CLOEXEC), 0);
  int request_rd = request[0], request_wr = request[1], reply_rd = reply[0], reply_wr = reply[1];
  auto main = [&]() -> Task<> {
    curio::FileStream client_out(request_wr);
    curio::FileStream server_in(request_rd);
    curio::FileStream server_out(reply_wr);
    curio::FileStream client_in(reply_rd);
    auto server = curio::spawn([&]() -> Task<int> {
      int served = 0;
      while (auto line = co_await server_in.next_line()) {
        co_await server_out.write("echo: " + *line);
        ++served;
      }
      server_out.close();
      co_return served;
    });
    co_await client_out.write("first\n");
    EXPECT_EQ(co_await curio::timeout_after(1s, client_in.readline()), "echo: first\n");
    std::vector<std::string_view> lines{"sec", "ond\n", "third\n"};
    co_await client_out.writelines(lines);
    EXPECT_EQ(co_await curio::timeout_after(1s, client_in.readline()), "echo: second\n");
    EXPECT_EQ(co_await curio::timeout_after(1s, client_in.readline()), "echo: third\n");
    client_out.close();  // the server sees EOF, ends and closes its end
    EXPECT_EQ(co_await curio::timeout_after(1s, server.join()), 3);
    EXPECT_EQ(co_await curio::timeout_after(1s, client_in.readall()), "");
  };
  curio::run(main());
}

TEST(FileStream, LargeWriteToAPipeIsReadIntact) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  int rd = fds[0], wr = fds[1];
  auto main = [&]() -> Task<> {
    curio::FileStream in(rd);
    curio::FileStream out(wr);
    const std::string data = pattern(1 << 20);  // far more than a pipe holds (64 KiB)
    auto writer = curio::spawn([&]() -> Task<> {
      co_await out.write(data);
      out.close();
    });
    std::string got = co_await curio::timeout_after(1s, in.readall());
    co_await writer.join();
    EXPECT_TRUE(got == data);
  };
  curio::run(main());
}

TEST(FileStream, WriteToAPipeWithClosedReaderRaisesEpipe) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  ::close(fds[0]);
  int wr = fds[1];
  auto main = [&]() -> Task<> {
    curio::FileStream out(wr);
    int err = 0;
    try {
      co_await out.write("nobody reads this");
    } catch (const curio::SystemError& e) {
      err = e.error_number();
    }
    EXPECT_EQ(err, EPIPE);
  };
  curio::run(main());
}

TEST(FileStream, WriterWaitingOnAFullPipeGetsEpipeWhenTheReaderCloses) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  int rd = fds[0], wr = fds[1];
  auto main = [&]() -> Task<> {
    curio::FileStream in(rd);
    curio::FileStream out(wr);
    const std::string data(1 << 20, 'p');
    auto writer = curio::spawn([&]() -> Task<int> {
      try {
        co_await out.write(data);
      } catch (const curio::SystemError& e) {
        co_return e.error_number();
      }
      co_return 0;
    });
    co_await curio::sleep(5ms);
    EXPECT_EQ(writer.state(), curio::TaskStatus::WriteWait);
    in.close();
    EXPECT_EQ(co_await curio::timeout_after(1s, writer.join()), EPIPE);
  };
  curio::run(main());
}

// A short read proves a drained buffer only for stream sockets and pipes: a terminal returns
// one line per read, and TCP urgent data stops a read at its mark. Bounded by 2 s timeouts.
TEST(Stream, ReadlineOverATerminalReturnsEveryLineTypedAhead) {
  auto main = []() -> Task<std::vector<std::string>> {
    int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    ::grantpt(master);
    ::unlockpt(master);
    curio::FileStream in(::open(::ptsname(master), O_RDWR | O_NOCTTY));
    auto writer = curio::spawn([&]() -> Task<> {
      co_await curio::sleep(50ms);  // the reader is already waiting (registered with the poller)
      EXPECT_EQ(::write(master, "one\ntwo\n", 8), 8);
    });
    std::vector<std::string> lines;
    lines.push_back(co_await curio::timeout_after(2s, in.readline()));
    lines.push_back(co_await curio::timeout_after(2s, in.readline()));
    co_await writer.join();
    ::close(master);
    co_return lines;
  };
  EXPECT_EQ(curio::run(main()), (std::vector<std::string>{"one\n", "two\n"}));
}

TEST(Stream, TcpUrgentDataDoesNotStallReadline) {
  auto main = []() -> Task<std::string> {
    curio::Socket listener(AF_INET, SOCK_STREAM);
    listener.bind(curio::SocketAddress::ipv4("127.0.0.1", 0));
    listener.listen(1);
    curio::Socket client(AF_INET, SOCK_STREAM);
    co_await client.connect(listener.getsockname());
    auto [server, peer] = co_await listener.accept();
    curio::SocketStream s(server);
    auto writer = curio::spawn([&]() -> Task<> {
      co_await curio::sleep(50ms);
      ::send(client.fileno(), "abc", 3, MSG_MORE);
      ::send(client.fileno(), "X", 1, MSG_OOB);
      ::send(client.fileno(), "def\n", 4, 0);
    });
    std::string line = co_await curio::timeout_after(2s, s.readline());
    co_await writer.join();
    co_return line;
  };
  EXPECT_EQ(curio::run(main()), "abcdef\n");
}
