// The curio echo server: every client gets its own task; what it sends comes back.
//   echo_server [--port N]      (listens on 127.0.0.1, default port 25000)
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "curio/curio.hpp"

// A client that resets the connection ends its handler with a ConnectionError: the server
// counts it and goes on quietly (a peer going away is normal), so there is nothing to catch.
// The handler takes the socket alone: it has no use for the peer's address.
curio::Task<> echo_client(curio::Socket client) {
  for (;;) {
    std::string data = co_await client.recv(100000);
    if (data.empty()) break;
    co_await client.sendall(data);
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
