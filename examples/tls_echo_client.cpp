// A TLS echo client: verifies the server's certificate against --cafile (and the name
// localhost), sends each argument as a line and prints what comes back.
//   tls_echo_client --cafile /tmp/tls-demo/cert.pem [--port N] [message...]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "curio/curio.hpp"

using namespace std::chrono_literals;

curio::Task<> talk(std::uint16_t port, std::string cafile, std::vector<std::string> messages) {
  auto context = curio::SslContext::client();
  context.load_verify_locations(cafile);
  curio::SslStream stream = co_await curio::timeout_after(5s, curio::open_connection("localhost", port, context));
  std::printf("connected: %s, %s, server %s\n", stream.version().c_str(), stream.cipher().c_str(),
              stream.peer_subject().c_str());
  for (const std::string& m : messages) {
    co_await stream.write(m + "\n");
    std::string reply = co_await curio::timeout_after(5s, stream.readline());
    std::printf("sent %-20s got back %s", m.c_str(), reply.c_str());
  }
  co_await stream.shutdown();                           // our close_notify
  co_await curio::timeout_after(5s, stream.readall());  // and the server's
}

int main(int argc, char** argv) {
  std::uint16_t port = 25443;
  std::string cafile;
  std::vector<std::string> messages;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc)
      port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
    else if (std::strcmp(argv[i], "--cafile") == 0 && i + 1 < argc)
      cafile = argv[++i];
    else
      messages.emplace_back(argv[i]);
  }
  if (cafile.empty()) {
    std::fprintf(stderr, "usage: tls_echo_client --cafile CA.pem [--port N] [message...]\n");
    return 2;
  }
  if (messages.empty()) messages = {"hello", "curio"};
  try {
    curio::run(talk(port, cafile, messages));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tls_echo_client: %s\n", e.what());
    return 1;
  }
}
