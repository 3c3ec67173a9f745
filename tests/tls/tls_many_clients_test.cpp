// 1,000 concurrent TLS clients against our TLS server. The clients run in a child process
// (forked before either side starts a kernel): each connects, completes its handshake, waits
// until all are connected, makes one echo round trip and closes with close_notify; the child
// exits 0 if every one succeeded. Afterwards the server's SSL objects, descriptors and tasks are
// back to their counts before.
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

#include "tls/tls_test_support.hpp"

using namespace curio_test;
using curio::Socket;
using curio::SocketAddress;
using curio::SslStream;
using curio::Task;

namespace {

constexpr int kClients = 1000;

Task<int> run_clients(std::uint16_t port) {
  int connected = 0;
  int finished = 0;
  int ok = 0;
  curio::Event all_connected;
  curio::Event all_finished;
  auto ctx = client_context();
  auto client = [&](int i) -> Task<> {
    try {
      curio::SslConnectOptions options{.ssl = ctx, .server_hostname = "localhost"};  // (named: GCC 12)
      SslStream s = co_await curio::open_connection("127.0.0.1", port, options);
      if (++connected == kClients) all_connected.set();
      co_await all_connected.wait();
      std::string line = "client " + std::to_string(i) + "\n";
      co_await s.write(line);
      if (co_await s.readline() == line) ++ok;
      co_await s.shutdown();
      co_await s.readall();  // the server's close_notify
    } catch (const std::exception& e) {
      std::fprintf(stderr, "client %d: %s\n", i, e.what());
    }
    if (++finished == kClients) all_finished.set();
    co_await all_finished.wait();
  };
  try {
    co_await curio::timeout_after(100s, [&]() -> Task<> {
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
    listener.close();
    int ok = curio::run(run_clients(port));
    code = ok == kClients ? 0 : 1;
  } catch (...) {
    code = 2;
  }
  ::_exit(code);
}

}  // namespace

TEST(TlsManyClients, ServerAnswersAThousandConcurrentTlsClientsFromAChildProcess) {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < kClients + 100) GTEST_SKIP() << "too few descriptors allowed";
  Pki::get();  // made once, before the fork
  int fds_before = open_fd_count();
  long ssl_before = SslStream::live_count();
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
    auto deadline = curio::clock() + 110s;
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
    for (int i = 0; i < 200 && active > 0; ++i) co_await curio::sleep(10ms);
    co_await server.cancel();
    out.tasks_after = curio::Kernel::current()->task_count();
    co_return out;
  };
  Outcome out = curio::run(main());
  EXPECT_FALSE(out.killed) << "the child did not finish within 110 s";
  EXPECT_TRUE(WIFEXITED(out.status)) << "status " << out.status;
  EXPECT_EQ(WEXITSTATUS(out.status), 0) << "1: some clients failed, 2: the child's kernel raised";
  EXPECT_EQ(out.served, kClients);
  EXPECT_EQ(out.peak, kClients);  // every client was connected at the same time
  EXPECT_EQ(out.tasks_after, out.tasks_before);
  EXPECT_EQ(SslStream::live_count(), ssl_before);
  EXPECT_EQ(open_fd_count(), fds_before);
}
