// An HTTPS GET: connects with TLS (verifying the server against --cafile, or the system's CAs),
// offers ALPN http/1.1, sends a GET and prints the response (HTTP/1.0: it ends when the server
// closes). Try it against a local `openssl s_server -www`:
//   scripts/make-test-cert.sh /tmp/tls-demo
//   openssl s_server -accept 127.0.0.1:25444 -cert /tmp/tls-demo/cert.pem -key /tmp/tls-demo/key.pem -www &
//   https_get --cafile /tmp/tls-demo/cert.pem localhost 25444 /
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "curio/curio.hpp"

using namespace std::chrono_literals;

curio::Task<> get(std::string host, std::uint16_t port, std::string path, std::string cafile) {
  auto context = curio::SslContext::client();
  if (!cafile.empty()) context.load_verify_locations(cafile);
  // (A named options object: GCC 12 rejects a braced list inside a co_await expression.)
  curio::SslConnectOptions options{.ssl = context, .alpn_protocols = {"http/1.1"}};
  curio::SslStream stream = co_await curio::timeout_after(5s, curio::open_connection(host, port, options));
  std::fprintf(stderr, "%s %s, server certificate %s\n", stream.version().c_str(), stream.cipher().c_str(),
               stream.peer_subject().c_str());
  co_await stream.write("GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
  // Read as it arrives; the end is the server's close_notify (a close without one raises SslError:
  // the response may have been cut short).
  for (;;) {
    std::string chunk = co_await curio::timeout_after(10s, stream.read());
    if (chunk.empty()) break;
    std::fwrite(chunk.data(), 1, chunk.size(), stdout);
  }
}

int main(int argc, char** argv) {
  std::string cafile;
  int first = 1;
  if (argc > 2 && std::strcmp(argv[1], "--cafile") == 0) {
    cafile = argv[2];
    first = 3;
  }
  if (argc - first < 2) {
    std::fprintf(stderr, "usage: https_get [--cafile CA.pem] HOST PORT [PATH]\n");
    return 2;
  }
  std::string host = argv[first];
  auto port = static_cast<std::uint16_t>(std::atoi(argv[first + 1]));
  std::string path = argc - first > 2 ? argv[first + 2] : "/";
  try {
    curio::run(get(host, port, path, cafile));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "https_get: %s\n", e.what());
    return 1;
  }
}
