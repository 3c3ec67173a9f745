// src/tls/ssl_network.cpp: open_connection and the servers over TLS, built on the plain network
// helpers: the TLS server is run_server with a handler that first runs the handshake (in the
// client's own task, under the handshake timeout).
#include "curio/tls/ssl_network.hpp"

#include <memory>
#include <stdexcept>

#include "curio/core/errors.hpp"
#include "curio/core/time.hpp"

namespace curio {

namespace {

// The coroutine behind open_connection takes plain parameters: with GCC 12, a coroutine taking
// the SslConnectOptions aggregate by value corrupted the heap in release builds (the frame-pool
// path) when it was destroyed.
Task<SslStream> connect_tls(std::string host, std::uint16_t port, SslContext context, std::string name,
                            std::vector<std::string> alpn) {
  Socket socket = co_await open_connection(host, port);
  SslStream stream(std::move(socket), context, name);
  if (!alpn.empty()) stream.set_alpn_protocols(alpn);
  co_await stream.do_handshake();
  co_return stream;
}

}  // namespace

Task<SslStream> open_connection(std::string host, std::uint16_t port, SslConnectOptions options) {
  if (options.ssl.is_server()) throw std::invalid_argument("curio: open_connection needs a client TLS context");
  std::string name = options.server_hostname.empty() ? host : options.server_hostname;
  return connect_tls(std::move(host), port, std::move(options.ssl), std::move(name), std::move(options.alpn_protocols));
}

Task<SslStream> open_connection(std::string host, std::uint16_t port, SslContext ssl) {
  SslConnectOptions options{.ssl = std::move(ssl)};
  return open_connection(std::move(host), port, std::move(options));
}

namespace {

struct TlsServer {
  SslClientHandler handler;
  SslServerOptions options;
};

void report(const TlsServer& server, const SocketAddress& address, const SslError& error) {
  if (!server.options.on_handshake_error) return;
  try {
    server.options.on_handshake_error(address, error);
  } catch (...) {
    // documented: ignored
  }
}

Task<> serve_tls_client(std::shared_ptr<const TlsServer> server, Socket client, SocketAddress address) {
  SslStream stream(std::move(client), server->options.ssl);
  try {
    co_await timeout_after(server->options.handshake_timeout, stream.do_handshake());
  } catch (const SslError& e) {
    report(*server, address, e);
    co_return;
  } catch (const TaskTimeout&) {
    SslError::Details d;
    d.reason = "handshake timed out";
    d.error_number = ETIMEDOUT;
    report(*server, address,
           SslError("curio: TLS handshake with " + address.to_string() + " timed out after " +
                        std::to_string(server->options.handshake_timeout) + " s",
                    std::move(d)));
    co_return;
  }
  co_await server->handler(std::move(stream), address);
}

}  // namespace

Task<> run_server(Socket listener, SslClientHandler handler, SslServerOptions ssl) {
  if (!ssl.ssl.is_server()) throw std::invalid_argument("curio: a TLS server needs a server TLS context");
  if (!(ssl.handshake_timeout > 0)) throw std::invalid_argument("curio: the TLS handshake timeout must be positive");
  auto server = std::make_shared<const TlsServer>(TlsServer{std::move(handler), std::move(ssl)});
  co_await run_server(std::move(listener), ClientHandler([server](Socket client, SocketAddress address) {
                        return serve_tls_client(server, std::move(client), address);
                      }));
}

Task<> tcp_server(std::string host, std::uint16_t port, SslClientHandler handler, SslServerOptions ssl,
                  ServerOptions options) {
  co_await run_server(tcp_server_socket(host, port, options), std::move(handler), std::move(ssl));
}

}  // namespace curio
