// An echo client: sends each line of its arguments (or "hello") to the echo server and prints
// what comes back.
//   echo_client [--port N] [message...]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "curio/curio.hpp"

using namespace std::chrono_literals;

curio::Task<> talk(std::uint16_t port, std::vector<std::string> messages) {
  curio::Socket sock = co_await curio::timeout_after(5s, curio::open_connection("127.0.0.1", port));
  auto stream = sock.as_stream();
  for (const std::string& m : messages) {
    co_await stream.write(m + "\n");
    std::string reply = co_await curio::timeout_after(5s, stream.readline());
    std::printf("sent %-20s got back %s", m.c_str(), reply.c_str());
  }
}

int main(int argc, char** argv) {
  std::uint16_t port = 25000;
  std::vector<std::string> messages;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc)
      port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
    else
      messages.emplace_back(argv[i]);
  }
  if (messages.empty()) messages = {"hello", "curio"};
  try {
    curio::run(talk(port, messages));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_client: %s\n", e.what());
    return 1;
  }
}
