// The peer: Boost.Asio 1.81 TLS echo server, asio::ssl::stream<tcp::socket> with C++20
// coroutines, one io_context, one thread. TLS 1.3 only, TLS_AES_128_GCM_SHA256.
// Usage: tls_echo_asio_server --port P --cert C --key K
#include <openssl/ssl.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cstring>

#include "common.hpp"

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

namespace {
const char* sarg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

awaitable<void> echo(asio::ssl::stream<tcp::socket> stream) {
  char data[16384];  // one TLS record
  try {
    co_await stream.async_handshake(asio::ssl::stream_base::server, use_awaitable);
    for (;;) {
      std::size_t n = co_await stream.async_read_some(asio::buffer(data), use_awaitable);
      co_await asio::async_write(stream, asio::buffer(data, n), use_awaitable);
    }
  } catch (const std::exception&) {
  }
}

awaitable<void> listener(asio::ssl::context& ssl, unsigned short port) {
  auto executor = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(executor, {asio::ip::address_v4::loopback(), port});
  acceptor.listen(4096);
  for (;;) {
    tcp::socket socket = co_await acceptor.async_accept(use_awaitable);
    socket.set_option(tcp::no_delay(true));
    asio::co_spawn(executor, echo(asio::ssl::stream<tcp::socket>(std::move(socket), ssl)), asio::detached);
  }
}
}  // namespace

int main(int argc, char** argv) {
  echo_bench::raise_fd_limit();
  auto port = static_cast<unsigned short>(echo_bench::arg(argc, argv, "--port", 25444));
  asio::ssl::context ssl(asio::ssl::context::tls_server);
  ssl.use_certificate_chain_file(sarg(argc, argv, "--cert", "cert.pem"));
  ssl.use_private_key_file(sarg(argc, argv, "--key", "key.pem"), asio::ssl::context::pem);
  SSL_CTX_set_min_proto_version(ssl.native_handle(), TLS1_3_VERSION);
  SSL_CTX_set_ciphersuites(ssl.native_handle(), "TLS_AES_128_GCM_SHA256");
  asio::io_context ctx(1);
  asio::co_spawn(ctx, listener(ssl, port), asio::detached);
  ctx.run();
}
