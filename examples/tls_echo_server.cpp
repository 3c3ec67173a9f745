// A TLS echo server: each client's handshake and echo loop run in its own task; a client that
// fails its handshake (wrong CA, plaintext, too slow) is reported on stderr and the server goes on.
//   scripts/make-test-cert.sh /tmp/tls-demo
//   tls_echo_server --cert /tmp/tls-demo/cert.pem --key /tmp/tls-demo/key.pem [--port N]
// (listens on 127.0.0.1, default port 25443)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "curio/curio.hpp"

curio::Task<> echo_lines(curio::SslStream client, curio::SocketAddress address) {
  std::printf("%s connected (%s, %s)\n", address.to_string().c_str(), client.version().c_str(),
              client.cipher().c_str());
  std::fflush(stdout);
  while (auto line = co_await client.next_line()) co_await client.write(*line);
  co_await client.shutdown();  // answer the client's close_notify with ours
}

int main(int argc, char** argv) {
  std::uint16_t port = 25443;
  std::string cert, key;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--port") == 0) port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--cert") == 0) cert = argv[i + 1];
    if (std::strcmp(argv[i], "--key") == 0) key = argv[i + 1];
  }
  if (cert.empty() || key.empty()) {
    std::fprintf(stderr, "usage: tls_echo_server --cert CERT.pem --key KEY.pem [--port N]\n");
    return 2;
  }
  try {
    auto context = curio::SslContext::server();
    context.load_cert_chain(cert, key);
    curio::SslServerOptions options{.ssl = context,
                                    .handshake_timeout = 5,
                                    .on_handshake_error = [](const curio::SocketAddress& a, const curio::SslError& e) {
                                      std::fprintf(stderr, "%s: %s\n", a.to_string().c_str(), e.what());
                                    }};
    std::printf("TLS echo server on 127.0.0.1:%u\n", port);
    std::fflush(stdout);
    curio::run(curio::tcp_server("127.0.0.1", port, echo_lines, options));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tls_echo_server: %s\n", e.what());
    return 1;
  }
}
