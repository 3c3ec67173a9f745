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

// A client task is the handler's own coroutine, spawned directly: its frame owns the Socket
// parameter, so the connection closes when the frame goes, i.e. when the handler has ended and
// the server has reaped it (the same scheduling cycle). No wrapper frame per connection
// (docs/performance.md, "Memory per idle connection").

// The client task's name, "client 127.0.0.1:5000", formatted only when shown (a crash report,
// the monitor): an IPv4 peer fits in the 8 bytes of a LazyTaskName. Other peers get a string.
std::string format_ipv4_client(std::uint64_t data) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = static_cast<in_addr_t>(data >> 16);
  a.sin_port = static_cast<in_port_t>(data & 0xffff);
  return "client " + SocketAddress(reinterpret_cast<const sockaddr*>(&a), sizeof a).to_string();
}

LazyTaskName ipv4_client_name(const SocketAddress& address) noexcept {
  if (address.family() != AF_INET || address.size() < sizeof(sockaddr_in)) return {};
  auto* in = reinterpret_cast<const sockaddr_in*>(address.data());
  return {&format_ipv4_client, (std::uint64_t{in->sin_addr.s_addr} << 16) | in->sin_port};
}

// A handler ended by a ConnectionError: the peer going away is the normal end of a connection,
// not a crash (the task was spawned with quiet_connection_errors, so the kernel did not report
// it): counted, and a debug record (building it costs nothing unless debug logging is on),
// never stderr per reset.
void note_client_end(const AnyTaskHandle& client) {
  std::exception_ptr error = client.exception();
  if (!error || is_cancellation(error)) return;
  std::exception_ptr cause = error;
  try {
    std::rethrow_exception(error);
  } catch (const TaskError& e) {  // a child task of the handler (a reader or writer) hit the reset
    cause = e.cause();
  } catch (...) {
  }
  if (!is_connection_error(cause)) return;  // reported by the kernel as a task crash
  quiet_connection_errors.fetch_add(1, std::memory_order_relaxed);
  log_message(LogLevel::Debug, "server-connection-error", [&] {
    std::string name(client.name());
    if (name.rfind("client ", 0) == 0) name.erase(0, 7);
    return "curio: server: client " + name + " went away: " + describe_exception(cause);
  });
}

bool out_of_resources(const SystemError& e) noexcept {
  int err = e.error_number();
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

// Starts handler(client, address) as a member of clients. A handler that throws instead of
// returning its Task fails that connection only (reported like a crash of its task), never the
// acceptor.
void spawn_client(TaskGroup& clients, const ClientHandler& handler, Socket client, SocketAddress address) {
  LazyTaskName lazy = ipv4_client_name(address);
  std::string name = lazy.format ? std::string() : "client " + address.to_string();
  Task<> task;
  try {
    task = handler(std::move(client), std::move(address));
  } catch (...) {
    log_message(LogLevel::Error, "task-crash", [&] {
      return "curio: Task Crash: " + (lazy.format ? lazy.format(lazy.data) : name) + ": the handler raised " +
             describe_exception(std::current_exception());
    });
    return;
  }
  clients.spawn(std::move(task), {.name = name, .lazy_name = lazy, .quiet_connection_errors = true});
}

}  // namespace

Task<> run_server(Socket listening, ClientHandler handler) {
  // A spawned task's parameters live in its frame until its last handle is gone; a body local
  // closes the listening socket as soon as the server ends.
  Socket listener = std::move(listening);
  // A group with no member list: a client task pays only its group pointer (no links, and no
  // side record). Walking the kernel's live tasks to find the running clients happens only when
  // the server ends.
  TaskGroup clients(detail::NoMemberList{});
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
              spawn_client(clients, handler, std::move(client), std::move(address));
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
    // Reap finished clients so a long-running server does not accumulate them (and so that
    // each frame, owning its socket, goes at once). A handler that failed was already reported
    // by the kernel through the log hook (task name = client address); one ended by a
    // ConnectionError ended quietly and is counted here.
    while (auto done = co_await clients.next_done()) {
      if (done->id() == acceptor.id())
        done->result_as<void>();  // re-raises its error
      else
        note_client_end(*done);
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
