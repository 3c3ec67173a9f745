// src/net/network.cpp: name resolution, connecting, and the server loop.
#include "curio/net/network.hpp"

#include <netdb.h>
#include <sys/un.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>

#include "curio/core/errors.hpp"
#include "curio/core/log.hpp"
#include "curio/core/task_group.hpp"
#include "curio/core/time.hpp"
#include "curio/core/traps.hpp"

namespace curio {

namespace {

// getaddrinfo may block for seconds: it runs on its own thread while the task waits on a
// RemoteSignal. If the task is cancelled, the thread finishes alone and its result is dropped.
// (When the worker pool of the threads layer exists this becomes a run_in_thread call.)
struct Lookup {
  std::shared_ptr<detail::RemoteSignal> done = std::make_shared<detail::RemoteSignal>();
  std::vector<SocketAddress> addresses;
  int error = 0;
};

void lookup(Lookup& l, const std::string& host, std::uint16_t port, int family, int type) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = type;
  hints.ai_flags = host.empty() ? AI_PASSIVE : AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  l.error = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (l.error == 0) {
    for (addrinfo* ai = res; ai; ai = ai->ai_next) l.addresses.emplace_back(ai->ai_addr, ai->ai_addrlen);
    ::freeaddrinfo(res);
  }
}

}  // namespace

Task<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port, int family, int type) {
  try {
    SocketAddress a = SocketAddress::ip(host, port);
    if (family == AF_UNSPEC || family == a.family()) co_return std::vector<SocketAddress>{a};
  } catch (const std::invalid_argument&) {
    // not numeric: ask the resolver
  }
  auto l = std::make_shared<Lookup>();
  std::thread([l, host, port, family, type] {
    lookup(*l, host, port, family, type);
    l->done->set();
  }).detach();
  co_await detail::remote_wait(l->done);
  if (l->error != 0) throw GaiError(l->error, "curio: cannot resolve '" + host + "': " + ::gai_strerror(l->error));
  if (l->addresses.empty()) throw GaiError(EAI_NONAME, "curio: no address for '" + host + "'");
  co_return std::move(l->addresses);
}

Task<Socket> open_connection(std::string host, std::uint16_t port) {
  std::vector<SocketAddress> addresses = co_await resolve(host, port);
  std::exception_ptr last;
  for (const SocketAddress& a : addresses) {
    Socket s(a.family(), SOCK_STREAM);
    try {
      co_await s.connect(a);
      co_return s;
    } catch (const SystemError&) {
      last = std::current_exception();  // try the next address
    }
  }
  std::rethrow_exception(last);
}

Task<Socket> open_unix_connection(std::string path) {
  Socket s(AF_UNIX, SOCK_STREAM);
  co_await s.connect(SocketAddress::unix_path(path));
  co_return s;
}

Socket tcp_server_socket(const std::string& host, std::uint16_t port, ServerOptions options) {
  Socket s(options.family, SOCK_STREAM);
  if (options.reuse_address) s.set_reuse_address(true);
  if (options.reuse_port) s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
  std::string h = host.empty() ? (options.family == AF_INET6 ? "::" : "0.0.0.0") : host;
  s.bind(options.family == AF_INET6 ? SocketAddress::ipv6(h, port) : SocketAddress::ipv4(h, port));
  s.listen(options.backlog);
  return s;
}

Socket unix_server_socket(const std::string& path, int backlog) {
  Socket s(AF_UNIX, SOCK_STREAM);
  s.bind(SocketAddress::unix_path(path));
  s.listen(backlog);
  return s;
}

namespace {

std::atomic<std::uint64_t> quiet_connection_errors{0};

Task<> run_client(const ClientHandler& handler, Socket client, SocketAddress address) {
  Socket owned = std::move(client);  // a local: closed when the handler ends (see run_server)
  std::exception_ptr error;
  try {
    co_await handler(std::move(owned), address);
  } catch (const TaskError& e) {
    // A child task of the handler (a reader or writer in a TaskGroup) hit the reset.
    if (!is_connection_error(e.cause())) throw;
    error = e.cause();
  } catch (const ConnectionError&) {
    error = std::current_exception();
  }
  if (error) {
    // A peer going away is the normal end of a connection, not a crash: counted, and a debug
    // record (building it costs nothing unless debug logging is on), never stderr per reset.
    quiet_connection_errors.fetch_add(1, std::memory_order_relaxed);
    log_message(LogLevel::Debug, "server-connection-error", [&] {
      return "curio: server: client " + address.to_string() + " went away: " + describe_exception(error);
    });
  }
}

bool out_of_resources(const SystemError& e) noexcept {
  int err = e.error_number();
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

}  // namespace

Task<> run_server(Socket listening, ClientHandler handler) {
  // A spawned task's parameters live in its frame until its last handle is gone; a body local
  // closes the listening socket as soon as the server ends.
  Socket listener = std::move(listening);
  TaskGroup clients;
  co_await clients.scope([&]() -> Task<> {
    // The acceptor is a member like the clients, so an accept error ends the server through
    // the same path as a cancellation: every client is cancelled and joined first.
    auto acceptor = clients.spawn(
        [&]() -> Task<> {
          // Out of descriptors (EMFILE/ENFILE...), the pending connection stays in the backlog
          // and the listener stays readable: retrying at once would spin. Back off 10 ms,
          // doubling to 1 s, until an accept succeeds. Logged at most once per 10 s (with the
          // retry count), plus one "accepting again" line after a logged episode.
          constexpr double kMinBackoff = 0.01, kMaxBackoff = 1.0;
          constexpr std::int64_t kExhaustedLogIntervalNs = 10'000'000'000;
          double backoff = 0;
          std::uint64_t retries = 0;
          std::int64_t last_log_ns = detail::now_ns() - kExhaustedLogIntervalNs;
          bool logged_episode = false;
          for (;;) {
            try {
              auto [client, address] = co_await listener.accept();
              if (backoff > 0) {
                if (logged_episode) {
                  log_message(LogLevel::Warning, "server-accepting", [&] {
                    return "curio: server: accepting connections again after " + std::to_string(retries) + " retries";
                  });
                }
                backoff = 0;
                retries = 0;
                logged_episode = false;
              }
              std::string name = "client " + address.to_string();
              clients.spawn(run_client(handler, std::move(client), address), {.name = name});
              continue;
            } catch (const ConnectionError& e) {
              // ECONNABORTED: the peer reset before we accepted; nothing to serve.
              log_message(LogLevel::Debug, "server-connection-error",
                          [&] { return std::string("curio: server: ") + e.what(); });
              continue;
            } catch (const SystemError& e) {
              if (!out_of_resources(e)) throw;
              std::int64_t now = detail::now_ns();
              if (now - last_log_ns >= kExhaustedLogIntervalNs) {
                last_log_ns = now;
                logged_episode = true;
                log_message(LogLevel::Warning, "server-fd-exhausted", [&] {
                  return std::string("curio: server: ") + e.what() + "; backing off until descriptors free up (" +
                         std::to_string(retries) + " retries so far)";
                });
              }
              backoff = backoff == 0 ? kMinBackoff : std::min(backoff * 2, kMaxBackoff);
              ++retries;
            }
            co_await sleep(backoff);
          }
        },
        {.name = "server acceptor"});
    // Reap finished clients so a long-running server does not accumulate them. A handler that
    // failed was already reported by the kernel through the log hook (task name = client
    // address); one ended by a ConnectionError ended quietly in run_client.
    while (auto done = co_await clients.next_done()) {
      if (done->id() == acceptor.id()) done->result_as<void>();  // re-raises its error
    }
  });
}

std::uint64_t server_connection_errors() noexcept { return quiet_connection_errors.load(std::memory_order_relaxed); }

Task<> tcp_server(std::string host, std::uint16_t port, ClientHandler handler, ServerOptions options) {
  if (options.kernels != 1) {  // one listener per kernel, on kernels of their own
    co_await detail::tcp_server_on_kernels(std::move(host), port, std::move(handler), options);
    co_return;
  }
  co_await run_server(tcp_server_socket(host, port, options), std::move(handler));
}

Task<> unix_server(std::string path, ClientHandler handler, int backlog) {
  co_await run_server(unix_server_socket(path, backlog), std::move(handler));
}

}  // namespace curio
