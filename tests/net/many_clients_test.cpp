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
#include "support/client_process.hpp"

using namespace curio_test;
using curio::Socket;
using curio::SocketAddress;
using curio::SocketStream;
using curio::Task;

namespace {

constexpr int kClients = 2000;

// The child: every client connects, reads the handler's greeting, waits until all are connected,
// makes one round trip, and closes. Returns the number of clients that succeeded.
Task<int> run_clients(std::uint16_t port) {
  auto client = [port](int i, ClientBarrier& connected) -> Task<bool> {
    Socket s = co_await curio::open_connection("127.0.0.1", port);
    SocketStream stream(s);
    // connect() ends once the kernel has queued the connection, before our server accepts it:
    // wait for the handler's greeting, so that every handler is running when the barrier opens.
    if (co_await stream.readline() != "ready\n") co_return false;
    co_await connected.arrive();
    std::string line = "client " + std::to_string(i) + "\n";
    co_await stream.write(line);
    co_return co_await stream.readline() == line;
  };
  return run_clients_together(kClients, 8s, client);
}

}  // namespace

TEST(ManyClients, ServerAnswersTwoThousandConcurrentClientsFromAChildProcess) {
  if (raise_open_file_limit() < kClients + 100) GTEST_SKIP() << "too few descriptors allowed";
  Socket listener = curio::tcp_server_socket("127.0.0.1", 0, {.backlog = 4096});
  std::uint16_t port = listener.getsockname().port();

  pid_t child = fork_client_process(listener, kClients, [port] { return run_clients(port); });
  ASSERT_GE(child, 0);

  struct Outcome {
    ChildEnd child;
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
        co_await s.write("ready\n");
        while (auto line = co_await s.next_line()) co_await s.write(*line);
        ++out.served;
      } catch (...) {
        --active;
        throw;
      }
      --active;
    };
    auto server = curio::spawn(curio::run_server(std::move(listener), handler));
    out.child = co_await wait_for_child(child, 10s);
    // Let the last handlers see their clients' end of stream, then stop the server.
    for (int i = 0; i < 100 && active > 0; ++i) co_await curio::sleep(10ms);
    co_await server.cancel();
    co_return out;
  };
  Outcome out = curio::run(main());
  EXPECT_FALSE(out.child.killed) << "the child did not finish within 10 s";
  EXPECT_TRUE(WIFEXITED(out.child.status)) << "status " << out.child.status;
  EXPECT_EQ(WEXITSTATUS(out.child.status), 0) << "1: some round trips failed, 2: the child's kernel raised";
  EXPECT_EQ(out.served, kClients);
  EXPECT_EQ(out.peak, kClients);  // every client was connected at the same time
}
