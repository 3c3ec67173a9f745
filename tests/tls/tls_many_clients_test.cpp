// 1,000 concurrent TLS clients against our TLS server. The clients run in a child process
// (forked before either side starts a kernel): each connects, completes its handshake, reads the
// handler's greeting, waits until all are connected, makes one echo round trip and closes with
// close_notify; the child exits 0 if every one succeeded. Afterwards the server's SSL objects,
// descriptors and tasks are back to their counts before.
// Timing tolerance: the child gives up after 100 s and the parent kills it after 110 s (under
// ctest's 120 s). Alone it takes a few seconds of CPU (1,000 handshakes on each side, ~4 ms per
// pair under ASan); on a 2-core machine shared with other builds it took 30-45 s of wall time.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "support/client_process.hpp"
#include "tls/tls_test_support.hpp"

using namespace curio_test;
using curio::Socket;
using curio::SocketAddress;
using curio::SslStream;
using curio::Task;

namespace {

constexpr int kClients = 1000;

Task<int> run_clients(std::uint16_t port) {
  auto ctx = client_context();
  auto client = [port, ctx](int i, ClientBarrier& connected) -> Task<bool> {
    curio::SslConnectOptions options{.ssl = ctx, .server_hostname = "localhost"};  // (named: GCC 12)
    SslStream s = co_await curio::open_connection("127.0.0.1", port, options);
    // The client's handshake can end before the server's: wait for the handler's greeting, so
    // that every handler is running when the barrier opens.
    if (co_await s.readline() != "ready\n") co_return false;
    co_await connected.arrive();
    std::string line = "client " + std::to_string(i) + "\n";
    co_await s.write(line);
    bool ok = co_await s.readline() == line;
    co_await s.shutdown();
    co_await s.readall();  // the server's close_notify
    co_return ok;
  };
  return run_clients_together(kClients, 100s, client);
}

}  // namespace

TEST(TlsManyClients, ServerAnswersAThousandConcurrentTlsClientsFromAChildProcess) {
  if (raise_open_file_limit() < kClients + 100) GTEST_SKIP() << "too few descriptors allowed";
  Pki::get();  // made once, before the fork
  int fds_before = open_fd_count();
  long ssl_before = SslStream::live_count();
  Socket listener = curio::tcp_server_socket("127.0.0.1", 0, {.backlog = 4096});
  std::uint16_t port = listener.getsockname().port();
  pid_t child = fork_client_process(listener, kClients, [port] { return run_clients(port); });
  ASSERT_GE(child, 0);

  struct Outcome {
    ChildEnd child;
    int served = 0;
    int peak = 0;
    std::size_t tasks_before = 0;
    std::size_t tasks_after = 0;
  };
  auto main = [&]() -> Task<Outcome> {
    Outcome out;
    out.tasks_before = curio::Kernel::current()->task_count();
    int active = 0;
    auto handler = [&](SslStream s, SocketAddress) -> Task<> {
      out.peak = std::max(out.peak, ++active);
      try {
        co_await s.write("ready\n");
        while (auto line = co_await s.next_line()) co_await s.write(*line);
        co_await s.shutdown();
        ++out.served;
      } catch (...) {
        --active;
        throw;
      }
      --active;
    };
    auto server = curio::spawn(
        curio::run_server(std::move(listener), handler, {.ssl = server_context(), .handshake_timeout = 100}));
    out.child = co_await wait_for_child(child, 110s);
    for (int i = 0; i < 200 && active > 0; ++i) co_await curio::sleep(10ms);
    co_await server.cancel();
    out.tasks_after = curio::Kernel::current()->task_count();
    co_return out;
  };
  Outcome out = curio::run(main());
  EXPECT_FALSE(out.child.killed) << "the child did not finish within 110 s";
  EXPECT_TRUE(WIFEXITED(out.child.status)) << "status " << out.child.status;
  EXPECT_EQ(WEXITSTATUS(out.child.status), 0) << "1: some clients failed, 2: the child's kernel raised";
  EXPECT_EQ(out.served, kClients);
  EXPECT_EQ(out.peak, kClients);  // every client was connected at the same time
  EXPECT_EQ(out.tasks_after, out.tasks_before);
  EXPECT_EQ(SslStream::live_count(), ssl_before);
  EXPECT_EQ(open_fd_count(), fds_before);
}
