// An echo server on every core: one kernel per thread (run_parallel), each with its own
// SO_REUSEPORT listener on the same port, so the Linux kernel spreads the connections over them
// with no shared accept lock. Ctrl-C or SIGTERM stops every kernel gracefully; each kernel then
// says how many connections it served.
//   parallel_echo_server [--port N] [--kernels N]    (default: one kernel per usable CPU)
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "curio/curio.hpp"

using curio::Task;

// One counter per kernel, each written only by its own kernel's tasks: nothing is shared on
// the hot path. (Read by main only after run_parallel has joined the threads.)
struct alignas(64) KernelStats {
  std::size_t connections = 0;
  std::size_t bytes = 0;
};

Task<> echo_client(KernelStats& stats, curio::Socket client) {
  ++stats.connections;
  for (;;) {
    std::string data = co_await client.recv(65536);
    if (data.empty()) break;
    stats.bytes += data.size();
    co_await client.sendall(data);
  }
}

int main(int argc, char** argv) {
  std::uint16_t port = 25000;
  std::size_t kernels = 0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0) port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--kernels") == 0) kernels = static_cast<std::size_t>(std::atoi(argv[i + 1]));
  }
  if (kernels == 0) kernels = curio::usable_cpu_count();
  std::vector<KernelStats> stats(kernels);
  std::printf("serving on 127.0.0.1:%u with %zu kernels; Ctrl-C or kill -TERM to stop\n", port, kernels);
  std::fflush(stdout);
  curio::run_parallel(kernels,
                      [&](std::size_t k) -> Task<> {
                        // Each kernel makes its own listener: a socket belongs to the kernel that made it.
                        curio::Socket listener = curio::tcp_server_socket("127.0.0.1", port, {.reuse_port = true});
                        KernelStats& mine = stats[k];
                        co_await curio::run_server(std::move(listener), [&mine](curio::Socket c, curio::SocketAddress) {
                          return echo_client(mine, std::move(c));
                        });
                      },
                      {.stop_on_signals = true});
  std::printf("shutting down\n");
  for (std::size_t k = 0; k < kernels; ++k)
    std::printf("kernel %zu served %zu connections, %zu bytes\n", k, stats[k].connections, stats[k].bytes);
  std::printf("bye\n");
}
