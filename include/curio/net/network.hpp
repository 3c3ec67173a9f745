// curio/net/network.hpp: the network helpers of curio.network. Connect with open_connection,
// serve with tcp_server / unix_server / run_server: each client runs as its own task in a task
// group; a handler that throws is reported (with the client's address) and the server goes on;
// cancelling the server cancels every handler and closes the listening socket.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "curio/core/task.hpp"
#include "curio/io/socket.hpp"
#include "curio/io/socket_address.hpp"

namespace curio {

// A handler gets the client socket (it owns it: the socket closes when the handler ends) and
// the client's address: handler(client, address), as in curio. A handler that has no use for
// the address may take the socket alone, handler(client): its frame then does not keep the
// address (32 bytes per connection; the task's name still shows the peer).
struct ClientHandler : std::function<Task<>(Socket client, SocketAddress address)> {
  using Function = std::function<Task<>(Socket client, SocketAddress address)>;
  using Function::Function;
  template <class F>
  requires(std::is_invocable_r_v<Task<>, F&, Socket> && !std::is_invocable_v<F&, Socket, SocketAddress>)
      ClientHandler(F handler)
      : Function([handler = std::move(handler)](Socket client, SocketAddress) mutable {
          return handler(std::move(client));
        }) {}
};

// Resolves host (a name or a numeric address) without blocking the kernel: numeric hosts
// directly, names with getaddrinfo on a helper thread. SystemError-like GaiError on failure.
Task<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port, int family = AF_UNSPEC,
                                         int type = SOCK_STREAM);

// getaddrinfo failed; code() is the EAI_* value.
class GaiError : public CurioError {
 public:
  GaiError(int code, const std::string& message) : CurioError(message), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// A connected TCP socket to host:port (each resolved address tried in turn; the last error is
// raised if none accepts).
Task<Socket> open_connection(std::string host, std::uint16_t port);
Task<Socket> open_unix_connection(std::string path);

struct ServerOptions {
  int family = AF_INET;  // AF_INET6 for an IPv6 listener
  int backlog = 1024;
  bool reuse_address = true;
  bool reuse_port = false;
  // tcp_server only: serve on this many kernels (0: one per usable CPU), each on its own thread
  // accepting on its own SO_REUSEPORT socket (the parallel layer; see docs/parallel.md).
  std::size_t kernels = 1;
};

// A bound, listening socket (synchronous, as in curio). host "" listens on every address.
Socket tcp_server_socket(const std::string& host, std::uint16_t port, ServerOptions options = {});
Socket unix_server_socket(const std::string& path, int backlog = 1024);

// Serves connections on listener until cancelled (or until accepting fails for a reason other
// than running out of descriptors, which is waited out with a back-off of 10 ms to 1 s and
// logged through curio/core/log.hpp at most once per 10 s). A handler ended by a
// ConnectionError (reset, broken pipe...) ends quietly: counted by server_connection_errors()
// and logged at LogLevel::Debug only; any other exception is reported as a task crash.
Task<> run_server(Socket listener, ClientHandler handler);
// Handlers (of every server in the process) ended quietly by a ConnectionError so far.
std::uint64_t server_connection_errors() noexcept;

Task<> tcp_server(std::string host, std::uint16_t port, ClientHandler handler, ServerOptions options = {});
Task<> unix_server(std::string path, ClientHandler handler, int backlog = 1024);

namespace detail {
// tcp_server with kernels != 1 (src/parallel/parallel_server.cpp).
Task<> tcp_server_on_kernels(std::string host, std::uint16_t port, ClientHandler handler, ServerOptions options);
}  // namespace detail

}  // namespace curio
