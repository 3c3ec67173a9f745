// Our TLS echo server for the benchmark: tcp_server over TLS, each client a task that echoes
// what it reads. TLS 1.3 only, TLS_AES_128_GCM_SHA256 (the same as the Asio peer).
// Usage: tls_echo_curio_server --port P --cert C --key K
#include <cstdio>
#include <cstring>
#include <string>

#include "common.hpp"
#include "curio/curio.hpp"

namespace {
const char* sarg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

curio::Task<> echo(curio::SslStream s, curio::SocketAddress) {
  s.socket().set_nodelay();  // as the Asio peer
  try {
    for (;;) {
      std::string data = co_await s.read(65536);
      if (data.empty()) break;
      co_await s.write(data);
    }
  } catch (const std::exception&) {
    // a load generator that goes away: nothing to report in a benchmark
  }
}
}  // namespace

int main(int argc, char** argv) {
  echo_bench::raise_fd_limit();
  auto port = static_cast<std::uint16_t>(echo_bench::arg(argc, argv, "--port", 25443));
  auto ctx = curio::SslContext::server();
  ctx.load_cert_chain(sarg(argc, argv, "--cert", "cert.pem"), sarg(argc, argv, "--key", "key.pem"));
  ctx.set_minimum_version(curio::TlsVersion::v1_3);
  ctx.set_ciphersuites("TLS_AES_128_GCM_SHA256");
  curio::run(curio::tcp_server("127.0.0.1", port, echo, {.ssl = ctx, .handshake_timeout = 30}, {.backlog = 4096}));
}
