// The curio echo server: every client gets its own task; what it sends comes back.
//   echo_server [--port N]      (listens on 127.0.0.1, default port 25000)
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "curio/curio.hpp"

curio::Task<> echo_client(curio::Socket client, curio::SocketAddress address) {
  (void)address;
  try {
    for (;;) {
      std::string data = co_await client.recv(100000);
      if (data.empty()) break;
      co_await client.sendall(data);
    }
  } catch (const curio::ConnectionError&) {
    // The client reset the connection (or stopped reading and closed): that is its end, not
    // an error. (run_server would also end the handler quietly; this says so explicitly.)
  }
}

int main(int argc, char** argv) {
  std::uint16_t port = 25000;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--port") == 0) port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
  std::printf("echo server on 127.0.0.1:%u\n", port);
  std::fflush(stdout);
  curio::run(curio::tcp_server("127.0.0.1", port, echo_client));
}
