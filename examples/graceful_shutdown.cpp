// Graceful shutdown: an echo server that, on SIGINT (Ctrl-C) or SIGTERM, stops accepting, lets
// its clients finish (up to 2 s), then cancels whatever is left and exits cleanly.
//   graceful_shutdown [--port N]
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "curio/curio.hpp"

using namespace std::chrono_literals;
using curio::Task;

Task<> echo_client(curio::Socket client, curio::SocketAddress) {
  for (;;) {
    std::string data = co_await client.recv(65536);
    if (data.empty()) break;
    co_await client.sendall(data);
  }
}

Task<> main_task(std::uint16_t port) {
  curio::SignalEvent stop{SIGINT, SIGTERM};
  auto server = curio::spawn(curio::tcp_server("127.0.0.1", port, echo_client));
  std::printf("serving on 127.0.0.1:%u; Ctrl-C or kill -TERM %d to stop\n", port, static_cast<int>(::getpid()));
  std::fflush(stdout);
  co_await stop.wait();
  std::printf("signal received: shutting down\n");
  // Cancelling the server closes the listener and cancels every client handler.
  if (!co_await curio::ignore_after(2s, server.cancel())) std::printf("clients did not finish in time\n");
  std::printf("bye\n");
}

int main(int argc, char** argv) {
  std::uint16_t port = 25000;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--port") == 0) port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
  curio::block_signals({SIGINT, SIGTERM});  // before any thread starts
  curio::run(main_task(port));
}
