// A server with 2,000 concurrent clients. The clients run in a child process (each process may
// hold only so many descriptors), forked before either side starts a kernel: the child runs its
// own curio::run with 2,000 open_connection calls that all stay connected until every one has
// made its echo round trip, and exits 0 on success. The parent serves with run_server and polls
// waitpid from a task.
// Timing tolerance: the whole exchange is bounded at 10 s (the child gives up after 8 s, the
// parent kills it after 10 s); it normally takes well under a second.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "io/io_test_support.hpp"

using namespace curio_test;
using curio::Socket;
using curio::SocketAddress;
using curio::SocketStream;
using curio::Task;

namespace {

constexpr int kClients = 2000;

// Raises the soft limit on open files to the hard limit; returns the new soft limit.
rlim_t raise_open_file_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  ::getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

// The child: every client connects, waits until all are connected, makes one round trip, and
// waits until all have finished before closing. Returns the number of clients that succeeded.
Task<int> run_clients(std::uint16_t port) {
  int connected = 0;
  int finished = 0;
  int ok = 0;
  curio::Event all_connected;
  curio::Event all_finished;
  auto client = [&](int i) -> Task<> {
    try {
      Socket s = co_await curio::open_connection("127.0.0.1", port);
      if (++connected == kClients) all_connected.set();
      co_await all_connected.wait();
      std::string line = "client " + std::to_string(i) + "\n";
      co_await s.sendall(line);
      SocketStream stream(s);
      if (co_await stream.readline() == line) ++ok;
    } catch (const std::exception&) {
      // counted as a failure below
    }
    if (++finished == kClients) all_finished.set();
    co_await all_finished.wait();
  };
  try {
    co_await curio::timeout_after(8s, [&]() -> Task<> {
      curio::TaskGroup group;
      co_await group.scope([&]() -> Task<> {
        for (int i = 0; i < kClients; ++i) group.spawn(client(i));
        co_return;
      });
    });
  } catch (const curio::TaskTimeout&) {
  }
  co_return ok;
}

[[noreturn]] void child_main(Socket listener, std::uint16_t port) {
  int code = 3;
  try {
    listener.close();  // the parent's socket: only the parent accepts
    int ok = curio::run(run_clients(port));
    code = ok == kClients ? 0 : 1;
  } catch (...) {
    code = 2;
  }
  ::_exit(code);  // no atexit handlers, no gtest output from the child
}

}  // namespace

TEST(ManyClients, ServerAnswersTwoThousandConcurrentClientsFromAChildProcess) {
  if (raise_open_file_limit() < kClients + 100) GTEST_SKIP() << "too few descriptors allowed";
  Socket listener = curio::tcp_server_socket("127.0.0.1", 0, {.backlog = 4096});
  std::uint16_t port = listener.getsockname().port();

  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) child_main(std::move(listener), port);

  struct Outcome {
    int status = -1;
    bool killed = false;
    int served = 0;
    int peak = 0;
  };
  auto main = [&]() -> Task<Outcome> {
    Outcome out;
    int active = 0;
    auto handler = [&](Socket client, SocketAddress) -> Task<> {
      out.peak = std::max(out.peak, ++active);
      try {
        SocketStream s(client);
        while (auto line = co_await s.next_line()) co_await s.write(*line);
        ++out.served;
      } catch (...) {
        --active;
        throw;
      }
      --active;
    };
    auto server = curio::spawn(curio::run_server(std::move(listener), handler));
    auto deadline = curio::clock() + 10s;
    for (;;) {
      pid_t r = ::waitpid(child, &out.status, WNOHANG);
      if (r == child) break;
      if (curio::clock() > deadline) {
        ::kill(child, SIGKILL);
        ::waitpid(child, &out.status, 0);
        out.killed = true;
        break;
      }
      co_await curio::sleep(10ms);
    }
    // Let the last handlers see their clients' end of stream, then stop the server.
    for (int i = 0; i < 100 && active > 0; ++i) co_await curio::sleep(10ms);
    co_await server.cancel();
    co_return out;
  };
  Outcome out = curio::run(main());
  EXPECT_FALSE(out.killed) << "the child did not finish within 10 s";
  EXPECT_TRUE(WIFEXITED(out.status)) << "status " << out.status;
  EXPECT_EQ(WEXITSTATUS(out.status), 0) << "1: some round trips failed, 2: the child's kernel raised";
  EXPECT_EQ(out.served, kClients);
  EXPECT_EQ(out.peak, kClients);  // every client was connected at the same time
}
