// tcp_server(..., {.kernels = n}): every kernel accepts on its own SO_REUSEPORT socket. The
// clients run in a child process forked before any kernel starts (as in tests/net).
// Timing tolerances: the child gives up after 8 s and is killed after 10 s; normally < 1 s.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>

#include "core/test_support.hpp"

using namespace curio_test;
using curio::Socket;
using curio::SocketAddress;
using curio::SocketStream;
using curio::Task;

namespace {

constexpr int kClients = 200;

// A port for the server: a socket bound with SO_REUSEPORT but never listening holds the port
// (no connection goes to it), so the kernels' listeners can bind it too.
struct ReservedPort {
  int fd = -1;
  std::uint16_t port = 0;
  ReservedPort() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~ReservedPort() { ::close(fd); }
};

// The child: kClients sequential-ish clients (20 at a time), each one line round trip.
Task<int> run_clients(std::uint16_t port) {
  int ok = 0;
  auto client = [&](int i) -> Task<> {
    for (int attempt = 0; attempt < 200; ++attempt) {  // the server may not listen yet
      try {
        Socket s = co_await curio::open_connection("127.0.0.1", port);
        std::string line = "client " + std::to_string(i) + "\n";
        co_await s.sendall(line);
        SocketStream stream(s);
        if (co_await stream.readline() == line) ++ok;
        co_return;
      } catch (const curio::ConnectionRefusedError&) {
      }
      co_await curio::sleep(20ms);
    }
  };
  try {
    co_await curio::timeout_after(8s, [&]() -> Task<> {
      for (int base = 0; base < kClients; base += 20) {
        curio::TaskGroup group;
        co_await group.scope([&]() -> Task<> {
          for (int i = base; i < base + 20; ++i) group.spawn(client(i));
          co_return;
        });
      }
    });
  } catch (const std::exception&) {
  }
  co_return ok;
}

struct Served {
  std::atomic<int> total{0};
  std::array<std::atomic<int>, 2> per_kernel{};
};

}  // namespace

TEST(ParallelServer, EveryConnectionIsServedAndEachKernelServesSome) {
  ReservedPort reserved;
  ASSERT_NE(reserved.port, 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int code = 3;
    try {
      code = curio::run(run_clients(reserved.port)) == kClients ? 0 : 1;
    } catch (...) {
      code = 2;
    }
    ::_exit(code);
  }
  Served served;
  int status = -1;
  bool killed = false;
  curio::run([&]() -> Task<> {
    auto handler = [&served](Socket client, SocketAddress) -> Task<> {
      SocketStream s(client);
      while (auto line = co_await s.next_line()) co_await s.write(*line);
      ++served.per_kernel.at(curio::kernel_index());
      ++served.total;
    };
    auto server = curio::spawn(curio::tcp_server("127.0.0.1", reserved.port, handler, {.kernels = 2}));
    auto deadline = curio::clock() + 10s;
    while (::waitpid(child, &status, WNOHANG) != child) {
      if (curio::clock() > deadline) {
        ::kill(child, SIGKILL);
        ::waitpid(child, &status, 0);
        killed = true;
        break;
      }
      co_await curio::sleep(10ms);
    }
    for (int i = 0; i < 100 && served.total < kClients; ++i) co_await curio::sleep(10ms);
    co_await server.cancel();
  }());
  EXPECT_FALSE(killed);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(served.total.load(), kClients);
  // The kernel picks a listener by a hash of each connection's addresses and ports: with 200
  // source ports, a kernel serving none would be a 2^-199 accident.
  EXPECT_GT(served.per_kernel[0].load(), 0);
  EXPECT_GT(served.per_kernel[1].load(), 0);
}

TEST(ParallelServer, CancellingTheServerStopsEveryKernel) {
  ReservedPort reserved;
  curio::run([&]() -> Task<> {
    auto server = curio::spawn(curio::tcp_server("127.0.0.1", reserved.port,
                                                 [](Socket, SocketAddress) -> Task<> { co_return; }, {.kernels = 3}));
    co_await curio::sleep(30ms);
    EXPECT_TRUE(co_await server.cancel());
    EXPECT_TRUE(server.terminated());
  }());
  // Nothing listens any more.
  curio::run([&]() -> Task<> {
    EXPECT_THROW(co_await curio::open_connection("127.0.0.1", reserved.port), curio::ConnectionRefusedError);
  }());
}

TEST(ParallelServer, CancelledWhileItsKernelsAreStillStartingItStopsThemAll) {
  ReservedPort reserved;
  curio::run([&]() -> Task<> {
    for (int i = 0; i < 5; ++i) {
      auto server = curio::spawn(curio::tcp_server("127.0.0.1", reserved.port,
                                                   [](Socket, SocketAddress) -> Task<> { co_return; }, {.kernels = 2}));
      co_await curio::sleep(0);  // the server task starts its kernels, then is cancelled at once
      co_await server.cancel();
      EXPECT_TRUE(server.terminated());
    }
  }());
}

TEST(ParallelServer, APortTakenWithoutReusePortFailsTheWholeServer) {
  curio::run([]() -> Task<> {
    Socket taken = curio::tcp_server_socket("127.0.0.1", 0, {.reuse_address = false});
    std::uint16_t port = taken.getsockname().port();
    try {
      co_await curio::tcp_server("127.0.0.1", port, [](Socket, SocketAddress) -> Task<> { co_return; }, {.kernels = 2});
      ADD_FAILURE() << "tcp_server returned";
    } catch (const curio::SystemError& e) {
      EXPECT_EQ(e.error_number(), EADDRINUSE);
    }
  }());
}

TEST(ParallelServer, PortZeroWithSeveralKernelsIsARuntimeError) {
  curio::run([]() -> Task<> {
    EXPECT_THROW(
        co_await curio::tcp_server("127.0.0.1", 0, [](Socket, SocketAddress) -> Task<> { co_return; }, {.kernels = 2}),
        curio::RuntimeError);
  }());
}
