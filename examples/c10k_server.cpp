// The C10K server: the echo server, plus a status line whenever the number of open connections
// changes. One thread serves every connection; with --kernels N, N kernels on N threads do, each
// accepting on its own SO_REUSEPORT listener (tcp_server's kernels option).
//   c10k_server [--port N] [--kernels N]     (127.0.0.1, default port 25000, 1 kernel)
#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "curio/curio.hpp"

using namespace std::chrono_literals;

// Shared by every kernel's handlers: an atomic (see docs/parallel.md, sharing state).
static std::atomic<std::size_t> open_connections{0};

// A reset ends the handler with a ConnectionError, which the server takes quietly (a peer going
// away is normal): nothing to catch. The socket alone: the handler needs no peer address.
curio::Task<> echo_client(curio::Socket client) {
  ++open_connections;
  struct Closed {  // counts down however the handler ends (EOF, reset, cancellation)
    ~Closed() { --open_connections; }
  } closed;
  for (;;) {
    std::string data = co_await client.recv(100000);
    if (data.empty()) break;
    co_await client.sendall(data);
  }
}

curio::Task<> report_connections() {
  std::size_t shown = 0;
  for (;;) {
    co_await curio::sleep(1s);
    if (open_connections != shown) {
      shown = open_connections;
      std::printf("server: %zu connections open\n", shown);
      std::fflush(stdout);
    }
  }
}

int main(int argc, char** argv) {
  std::uint16_t port = 25000;
  std::size_t kernels = 1;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0) port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--kernels") == 0) kernels = static_cast<std::size_t>(std::atoi(argv[i + 1]));
  }
  if (kernels == 0) kernels = curio::usable_cpu_count();
  // 10,000 connections need more descriptors than the usual soft limit of 1024.
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  curio::run([port, kernels]() -> curio::Task<> {
    curio::TaskGroup g;
    co_await g.scope([&]() -> curio::Task<> {
      g.spawn(report_connections(), {.daemon = true});
      g.spawn(curio::tcp_server("127.0.0.1", port, echo_client, {.kernels = kernels}));
      const char* backend = curio::to_string(curio::Kernel::current()->backend()).data();
      if (kernels == 1)
        std::printf("server: listening on 127.0.0.1:%u (one thread, %s backend)\n", port, backend);
      else
        std::printf("server: listening on 127.0.0.1:%u (%zu kernels, %zu threads, %s backend)\n", port, kernels,
                    kernels, backend);
      std::fflush(stdout);
      co_return;
    });
  }());
}
