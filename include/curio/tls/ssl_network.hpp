// curio/tls/ssl_network.hpp: the network helpers over TLS (curio's open_connection(ssl=...)
// and tcp_server(ssl=...)). open_connection connects and completes the handshake; the servers
// run each client's handshake in that client's own task, under a timeout, so a client that
// never finishes it stalls nobody else; a failed handshake is passed to on_handshake_error (not
// logged) and the server goes on.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "curio/core/task.hpp"
#include "curio/io/socket.hpp"
#include "curio/io/socket_address.hpp"
#include "curio/net/network.hpp"
#include "curio/tls/ssl_context.hpp"
#include "curio/tls/ssl_stream.hpp"

namespace curio {

struct SslConnectOptions {
  SslContext ssl;                             // a client context
  std::string server_hostname{};              // SNI and the name to verify; "" means host
  std::vector<std::string> alpn_protocols{};  // instead of the context's, if not empty
};

// Connects to host:port (as open_connection(host, port)) and completes the TLS handshake.
Task<SslStream> open_connection(std::string host, std::uint16_t port, SslConnectOptions options);
// The same with only a context: open_connection(host, port, ctx). Prefer it inside co_await
// expressions: GCC 12 destroys a braced aggregate temporary ({.ssl = ctx}) in a co_await
// expression twice; with GCC, pass a named SslConnectOptions for the other fields.
Task<SslStream> open_connection(std::string host, std::uint16_t port, SslContext ssl);

using SslClientHandler = std::function<Task<>(SslStream client, SocketAddress address)>;

struct SslServerOptions {
  SslContext ssl;                   // a server context with its certificate chain
  double handshake_timeout = 10.0;  // seconds; a handshake not done by then is dropped
  // Called (in the client's task) with each failed or timed-out handshake; exceptions from it
  // are ignored. Default: nothing, so a port scanner cannot flood the log.
  std::function<void(const SocketAddress& address, const SslError& error)> on_handshake_error{};
};

// Serves TLS connections on listener until cancelled (as run_server): the handler gets the
// stream after a successful handshake.
Task<> run_server(Socket listener, SslClientHandler handler, SslServerOptions ssl);
Task<> tcp_server(std::string host, std::uint16_t port, SslClientHandler handler, SslServerOptions ssl,
                  ServerOptions options = {});

}  // namespace curio
