// curio_soak: a server process and a client process under a random mix of traffic for a set
// duration, then a pass/fail report (docs/reliability.md). The client opens --connections
// concurrent connections, each looping over: echo of checksummed payloads (1 B .. 256 KiB) ended
// normally, by a half-close or by a reset (SO_LINGER 0); a line protocol with over-long lines;
// clients that send nothing (some beyond the server's idle timeout); clients that stop reading
// (the server's writes time out); handlers that spawn child tasks the server cancels at random;
// run_in_thread and UniversalQueue (a server thread) checksums. The server also imposes random
// short deadlines. It fails unless every byte echoed back matched, the server's fds, tasks and
// threads are back at their starting counts, RSS after the run is within 5% of RSS after warm-up,
// and no exception escaped unreported (no task-crash record, no unexpected client error).
//   curio_soak [--seconds 60] [--connections 2000] [--warmup 10] [--seed 1]
//              [--server-backend epoll|io_uring|auto] [--client-backend epoll|io_uring|auto]
// Each side's backend defaults to CURIO_BACKEND (auto); the two options set it per process, so a
// finding on one backend can be pinned on the server or on the client.
#include <fcntl.h>
#include <linux/sockios.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <atomic>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <unordered_map>

#include "curio/curio.hpp"
#include "soak_common.hpp"

using namespace std::chrono_literals;
using curio::Socket;
using curio::SocketAddress;
using curio::SocketStream;
using curio::Task;

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CURIO_SOAK_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CURIO_SOAK_ASAN 1
#endif

namespace {

constexpr std::size_t kMaxLine = 1024;
constexpr auto kIdleTimeout = 3s;       // the server's limit for a first line
constexpr auto kIoTimeout = 5s;         // per read/write once a request started
constexpr auto kSlowWriteTimeout = 1s;  // writes to a client that stopped reading

// ---------------------------------------------------------------- server

struct ServerCounts {
  std::uint64_t handlers = 0, idle_timeouts = 0, write_timeouts = 0, chaos_timeouts = 0, io_timeouts = 0,
                cancellations = 0, too_long = 0, thread_jobs = 0, queue_jobs = 0, crashes = 0, badness = 0;
};

struct QueueJob {
  std::string data;
  std::uint32_t crc = 0;
  curio::UniversalEvent done;
};

// What a live handler is doing, by its client's port: a client that times out asks (WHO) and
// prints it, so a stall can be pinned on the side that lost track.
struct Stage {
  const char* what = "header";
  int fd = -1;
  curio::Clock::time_point since{};
  void at(const char* w) {
    what = w;
    since = curio::clock();
  }
};

struct Server {
  curio::Kernel* kernel = nullptr;
  // Several handlers may share a client port: a reset leaves no TIME_WAIT, so the client's next
  // connection can reuse the port while the old handler is still ending.
  std::unordered_multimap<std::uint16_t, Stage*> stages;
  ServerCounts counts;
  curio::UniversalQueue<std::shared_ptr<QueueJob>> jobs{64};  // bounded: producers block
  curio::Event quit;
  soak::Rng rng{12345};
  std::size_t base_fds = 0, base_tasks = 0, base_threads = 0;

  std::string stats() {
    ::malloc_trim(0);  // freed memory the allocator keeps is not a leak: measured the same way each time
    char line[512];
    std::snprintf(line, sizeof line,
                  "backend %d fds %zu %zu tasks %zu %zu threads %zu %zu rss %zu handlers %" PRIu64
                  " idle_timeouts %" PRIu64 " write_timeouts %" PRIu64 " chaos_timeouts %" PRIu64
                  " io_timeouts %" PRIu64 " cancellations %" PRIu64 " too_long %" PRIu64 " thread_jobs %" PRIu64
                  " queue_jobs %" PRIu64 " crashes %" PRIu64 " quiet_resets %" PRIu64 " badness %" PRIu64 "\n",
                  static_cast<int>(kernel->backend()), soak::open_fds(), base_fds, kernel->task_count(), base_tasks,
                  soak::thread_count(), base_threads, soak::rss_kib(), counts.handlers, counts.idle_timeouts,
                  counts.write_timeouts, counts.chaos_timeouts, counts.io_timeouts, counts.cancellations,
                  counts.too_long, counts.thread_jobs, counts.queue_jobs, counts.crashes,
                  curio::server_connection_errors(), counts.badness);
    return line;
  }

  std::string who(std::uint16_t port) {
    auto [first, last] = stages.equal_range(port);
    if (first == last) return "no live handler\n";
    std::string out;
    for (auto it = first; it != last; ++it) {
      const Stage& st = *it->second;
      int unread = -1, unsent = -1;
      ::ioctl(st.fd, FIONREAD, &unread);
      ::ioctl(st.fd, SIOCOUTQ, &unsent);
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(curio::clock() - st.since).count();
      out += std::string(out.empty() ? "" : "; ") + "handler in '" + st.what + "' for " + std::to_string(ms) +
             " ms, unread " + std::to_string(unread) + " B, unsent " + std::to_string(unsent) + " B";
    }
    return out + "\n";
  }

  Task<> echo(SocketStream& s, Stage& st) {
    for (;;) {
      st.at("echo read");
      std::string data = co_await curio::timeout_after(kIoTimeout, s.read(65536));
      if (data.empty()) co_return;
      st.at("echo write");
      co_await curio::timeout_after(kIoTimeout, s.write(data));
    }
  }

  Task<> lines(SocketStream& s, Stage& st) {
    bool too_long = false;
    try {
      for (;;) {
        st.at("line read");
        auto line = co_await curio::timeout_after(kIoTimeout, s.next_line(kMaxLine));
        if (!line) break;
        st.at("line write");
        co_await curio::timeout_after(kIoTimeout, s.write(*line));
      }
    } catch (const curio::LineTooLong&) {
      too_long = true;  // never unbounded memory: the line stops at kMaxLine
    }
    if (too_long) {
      ++counts.too_long;
      st.at("line too long write");
      co_await curio::timeout_after(kIoTimeout, s.write("ERR line too long\n"));
    }
  }

  Task<> slow(SocketStream& s) {
    std::string block(1 << 20, 'z');
    try {
      for (;;) co_await curio::timeout_after(kSlowWriteTimeout, s.write(block));
    } catch (const curio::TaskTimeout&) {
      ++counts.write_timeouts;  // the client stopped reading: give up, memory stays bounded
    }
  }

  Task<> checksum(SocketStream& s, std::size_t n, bool queue, Stage& st) {
    st.at("checksum read");
    std::string data = co_await curio::timeout_after(kIoTimeout, s.read_exactly(n));
    std::uint32_t crc;
    if (queue) {
      auto job = std::make_shared<QueueJob>();
      job->data = std::move(data);
      st.at("queue put");
      co_await jobs.put(job);
      st.at("queue done wait");
      co_await job->done.wait();
      crc = job->crc;
      ++counts.queue_jobs;
    } else {
      st.at("run_in_thread");
      crc = co_await curio::run_in_thread([&data] { return soak::crc32(data); });
      ++counts.thread_jobs;
    }
    st.at("checksum write");
    co_await curio::timeout_after(kIoTimeout, s.write(std::to_string(crc) + "\n"));
  }

  // SPAWN: the echo runs in a child task; for some connections the handler cancels it at a
  // random moment (the client sees the connection end early).
  Task<> spawned(SocketStream& s, Stage& st) {
    bool chaos = rng.below(3) == 0;
    auto delay = std::chrono::milliseconds(rng.below(30));
    curio::TaskGroup g;
    co_await g.scope([&]() -> Task<> {
      auto child = g.spawn(echo(s, st));
      if (chaos) {
        co_await curio::ignore_after(delay, child.wait());
        if (co_await child.cancel()) ++counts.cancellations;
      }
    });
  }

  Task<> handle(Socket client, SocketAddress address) {
    ++counts.handlers;
    struct Listed {  // the stage is listed as long as the handler lives
      Server& server;
      std::unordered_multimap<std::uint16_t, Stage*>::iterator at;
      ~Listed() { server.stages.erase(at); }
    };
    Stage st;
    st.fd = client.fileno();
    st.at("header");
    Listed listed{*this, stages.emplace(address.port(), &st)};
    SocketStream s(client);
    std::string header;
    try {
      header = co_await curio::timeout_after(kIdleTimeout, s.readline(kMaxLine));
    } catch (const curio::TaskTimeout&) {
      ++counts.idle_timeouts;  // connected and sent nothing
      co_return;
    }
    char mode[16] = {};
    std::size_t n = 0;
    std::sscanf(header.c_str(), "%15s %zu", mode, &n);
    std::string m = mode;
    bool timed_out = false;
    try {
      co_await serve(s, st, m, n);
    } catch (const curio::TaskTimeout&) {
      timed_out = true;  // a read or write past kIoTimeout: the client was too slow
    }
    if (timed_out) ++counts.io_timeouts;
  }

  Task<> serve(SocketStream& s, Stage& st, std::string m, std::size_t n) {
    if (m == "STATS") {
      co_await s.write(stats());
    } else if (m == "WHO") {
      co_await s.write(who(static_cast<std::uint16_t>(n)));
    } else if (m == "BASELINE") {
      base_fds = soak::open_fds() - 1;        // minus this control connection
      base_tasks = kernel->task_count() - 1;  // minus this handler
      base_threads = soak::thread_count();
      co_await s.write("ok\n");
    } else if (m == "QUIT") {
      quit.set();
    } else if (m == "ECHO") {
      // One in 40 echo connections gets a short random server-side deadline.
      if (rng.below(40) == 0) {
        auto limit = std::chrono::milliseconds(1 + rng.below(50));
        if (!co_await curio::ignore_after(limit, echo(s, st))) ++counts.chaos_timeouts;
      } else {
        co_await echo(s, st);
      }
    } else if (m == "LINE") {
      co_await lines(s, st);
    } else if (m == "SLOW") {
      st.at("slow write");
      co_await slow(s);
    } else if (m == "THREAD" || m == "QUEUE") {
      co_await checksum(s, n, m == "QUEUE", st);
    } else if (m == "SPAWN") {
      co_await spawned(s, st);
    }
  }
};

int server_main(int port_pipe) {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
  Server server;
  curio::set_log_handler([&server](const curio::LogRecord& r) {
    if (r.kind == "task-crash") ++server.counts.crashes;  // an unreported exception: a failure
    if (r.kind == "timeout-badness") {
      ++server.counts.badness;  // a deadline raced a completion under load: curio warns, we count
      return;
    }
    std::fprintf(stderr, "soak server: %.*s\n", static_cast<int>(r.message.size()), r.message.data());
  });
  curio::set_log_rate_limit({.lines = 0});  // the handler counts every record; it prints few
  curio::set_worker_thread_limit(8);
  std::thread queue_worker([&server] {
    try {
      for (;;) {
        auto job = server.jobs.get_sync();
        if (!job) break;
        job->crc = soak::crc32(job->data);
        job->done.set();
      }
    } catch (const curio::QueueClosed&) {
    }
  });
  curio::Kernel kernel;
  server.kernel = &kernel;
  Socket listener = curio::tcp_server_socket("127.0.0.1", 0, {.backlog = 4096});
  std::uint16_t port = listener.getsockname().port();
  kernel.run([&]() -> Task<> {
    // Grow the worker pool to its limit first: idle workers are kept, so the thread count after
    // the run compares with a pool that has already grown.
    {
      curio::TaskGroup g;
      co_await g.scope([&]() -> Task<> {
        for (int i = 0; i < 8; ++i) g.spawn(curio::run_in_thread([] { std::this_thread::sleep_for(20ms); }));
        co_return;
      });
    }
    if (::write(port_pipe, &port, sizeof port) != sizeof port) std::abort();
    ::close(port_pipe);
    auto srv = curio::spawn(curio::run_server(
        std::move(listener), [&](Socket c, SocketAddress a) { return server.handle(std::move(c), a); }));
    co_await server.quit.wait();
    co_await srv.cancel();
  }());
  server.jobs.put_sync(nullptr);
  queue_worker.join();
  return 0;
}

// ---------------------------------------------------------------- client

struct ClientCounts {
  std::uint64_t operations = 0, bytes_verified = 0, echoes = 0, half_closes = 0, resets = 0, lines = 0, long_lines = 0,
                idles = 0, idle_timeouts_seen = 0, slow_readers = 0, spawns = 0, cut_short = 0, checksums = 0,
                mismatches = 0, unexpected = 0;
};

struct Client {
  std::uint16_t port;
  ClientCounts c;
  std::uint64_t seed;

  void mismatch(const char* what, const std::string& got = {}, std::size_t expected = 0) {
    ++c.mismatches;
    if (c.mismatches <= 5)
      std::fprintf(stderr, "soak client: MISMATCH in %s (got %zu bytes '%.40s', expected %zu)\n", what, got.size(),
                   got.c_str(), expected);
  }

  // The client's limit for a reply the server owes within its own 5 s per-operation limits. On
  // expiry it says why before it raises (an unexpected client error): what the socket holds
  // (unread bytes, TCP state) and what the server's handler for it is doing.
  static constexpr auto kReplyTimeout = 20s;
  Task<std::string> within(Socket& s, const char* what, Task<std::string> op) {
    bool expired = false;
    std::string out;
    try {
      out = co_await curio::timeout_after(kReplyTimeout, std::move(op));
    } catch (const curio::TaskTimeout&) {
      expired = true;
    }
    if (!expired) co_return out;
    std::string why = co_await diagnose(s, what);
    throw std::runtime_error(why);
  }

  Task<std::string> diagnose(Socket& s, const char* what) {
    static const char* const states[] = {"?",         "ESTABLISHED", "SYN_SENT",   "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
                                         "TIME_WAIT", "CLOSE",       "CLOSE_WAIT", "LAST_ACK", "LISTEN",    "CLOSING"};
    int unread = -1;
    ::ioctl(s.fileno(), FIONREAD, &unread);
    tcp_info info{};
    socklen_t len = sizeof info;
    ::getsockopt(s.fileno(), IPPROTO_TCP, TCP_INFO, &info, &len);
    std::uint16_t local = s.getsockname().port();
    std::string server = co_await control("WHO " + std::to_string(local));
    if (!server.empty() && server.back() == '\n') server.pop_back();
    co_return std::string("timed out after 20 s in '") + what + "' (local port " + std::to_string(local) +
        "): client socket unread " + std::to_string(unread) + " B, TCP state " +
        (info.tcpi_state < 12 ? states[info.tcpi_state] : "?") + "; server: " + server;
  }

  static void reset(Socket& s) {
    linger l{1, 0};
    ::setsockopt(s.fileno(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    s.close();
  }

  // Sends payload while reading the echo; returns what came back (a prefix if the server cut
  // the connection short). how: 0 close, 1 half-close, 2 reset midway.
  Task<std::string> echo_exchange(Socket& s, const std::string& payload, int how) {
    std::string back;
    std::size_t want = how == 2 ? payload.size() / 2 : payload.size();
    auto sender = curio::spawn([&]() -> Task<> {
      try {
        co_await s.sendall(std::string_view(payload).substr(0, want));
        if (how == 1) s.shutdown(SHUT_WR);
      } catch (const curio::SystemError&) {
        // The server cut the connection short (a reset: ConnectionError; or a shutdown of a
        // connection the peer already closed: ENOTCONN).
      }
    });
    try {
      while (back.size() < want) {
        std::string part = co_await within(s, "echo recv", s.recv(65536));
        if (part.empty()) break;
        back += part;
      }
      if (how == 1 && back.size() == want) {  // after a half-close the server ends with EOF
        std::string rest = co_await within(s, "echo EOF after half-close", s.recv(1));
        if (!rest.empty()) mismatch("echo after half-close");
      }
    } catch (const curio::ConnectionError&) {
    }
    co_await sender.cancel();
    co_return back;
  }

  Task<> one(soak::Rng& rng) {
    Socket s = co_await curio::open_connection("127.0.0.1", port);
    std::uint64_t pick = rng.below(100);
    ++c.operations;
    if (pick < 40) {  // echo
      int how = static_cast<int>(rng.below(10));
      how = how < 6 ? 0 : how < 9 ? 1 : 2;
      std::string payload = rng.bytes(rng.log_size(1, 256 * 1024));
      co_await s.sendall("ECHO\n");
      std::string back = co_await echo_exchange(s, payload, how);
      if (std::string_view(payload).substr(0, back.size()) != back) mismatch("echo");
      c.bytes_verified += back.size();
      std::size_t want = how == 2 ? payload.size() / 2 : payload.size();
      if (back.size() < want) ++c.cut_short;
      ++c.echoes;
      if (how == 1) ++c.half_closes;
      if (how == 2) {
        ++c.resets;
        reset(s);
      }
    } else if (pick < 55) {  // lines, some over-long
      co_await s.sendall("LINE\n");
      SocketStream st(s);
      int n = 1 + static_cast<int>(rng.below(20));
      for (int i = 0; i < n; ++i) {
        bool too_long = rng.below(15) == 0;
        std::string line = std::string(too_long ? 3000 : rng.below(200), 'a' + static_cast<char>(rng.below(26))) + "\n";
        co_await st.write(line);
        std::string got = co_await within(s, "line readline", st.readline(8192));
        if (too_long) {
          if (got.empty()) {
            ++c.cut_short;  // the server ended the connection first (its 5 s limit)
          } else if (got != "ERR line too long\n") {
            mismatch("long line", got, 18);
          }
          ++c.long_lines;
          break;
        }
        if (got.empty()) {  // end of stream: the server ended the connection first (its 5 s limit)
          ++c.cut_short;
          break;
        }
        if (got != line) mismatch("line", got, line.size());
        c.bytes_verified += got.size();
        ++c.lines;
      }
    } else if (pick < 60) {  // connects and sends nothing
      bool beyond = rng.below(5) == 0;
      ++c.idles;
      if (beyond) {
        std::string got = co_await within(s, "idle EOF", s.recv(1));
        if (!got.empty()) mismatch("idle");
        ++c.idle_timeouts_seen;  // the server closed it
      } else {
        co_await curio::sleep(std::chrono::milliseconds(100 + rng.below(900)));
      }
    } else if (pick < 63) {  // stops reading
      co_await s.sendall("SLOW\n");
      co_await curio::sleep(std::chrono::milliseconds(1500));
      ++c.slow_readers;
      reset(s);
    } else if (pick < 73) {  // a handler with a child task, cancelled at random
      co_await s.sendall("SPAWN\n");
      std::string payload = rng.bytes(rng.log_size(1, 64 * 1024));
      std::string back = co_await echo_exchange(s, payload, 1);
      if (std::string_view(payload).substr(0, back.size()) != back) mismatch("spawn echo");
      c.bytes_verified += back.size();
      if (back.size() < payload.size()) ++c.cut_short;
      ++c.spawns;
    } else {  // run_in_thread or UniversalQueue checksum
      std::string payload = rng.bytes(rng.log_size(1, 64 * 1024));
      co_await s.sendall(std::string(pick < 87 ? "THREAD " : "QUEUE ") + std::to_string(payload.size()) + "\n");
      co_await s.sendall(payload);
      SocketStream st(s);
      std::string got = co_await within(s, pick < 87 ? "thread checksum" : "queue checksum", st.readline(64));
      std::string expected = std::to_string(soak::crc32(payload)) + "\n";
      if (got.empty()) {
        ++c.cut_short;  // the server ended the connection first (its 5 s limit)
      } else {
        if (got != expected) mismatch("checksum", got, expected.size());
        c.bytes_verified += payload.size();
      }
      ++c.checksums;
    }
  }

  Task<> worker(int id, curio::Clock::time_point until) {
    soak::Rng rng(seed * 1000003 + static_cast<std::uint64_t>(id));
    while (curio::clock() < until) {
      try {
        co_await one(rng);
      } catch (const curio::ConnectionError&) {
        ++c.cut_short;  // the server ended it (a server-side deadline or cancellation)
      } catch (const std::exception& e) {
        if (++c.unexpected <= 5) std::fprintf(stderr, "soak client: unexpected %s\n", e.what());
      } catch (const curio::CancelledError& e) {
        if (++c.unexpected <= 5) std::fprintf(stderr, "soak client: unexpected %s\n", e.what());
      }
    }
  }

  // A control command's reply ("" for QUIT, which has none). Under overload the server's 3 s
  // limit for a first line may end a control connection before its command arrives (the client
  // is slow to send it): then it tries again.
  Task<std::string> control(const std::string& command) {
    std::string line = command + "\n";
    for (int attempt = 0; attempt < 20; ++attempt) {
      std::string reply;
      try {
        Socket s = co_await curio::open_connection("127.0.0.1", port);
        co_await s.sendall(line);
        if (command == "QUIT") co_return reply;
        SocketStream st(s);
        reply = co_await curio::timeout_after(10s, st.readline(4096));
      } catch (const curio::ConnectionError&) {
      }
      if (!reply.empty()) co_return reply;
    }
    throw std::runtime_error("the server answered no " + command + " command in 20 attempts");
  }
};

std::uint64_t field(const std::string& stats, const char* name, int index = 0) {
  std::string key = std::string(name) + " ";
  std::size_t at = stats.find(key);
  if (at == std::string::npos) return 0;
  const char* p = stats.c_str() + at + key.size();
  char* end;
  std::uint64_t v = std::strtoull(p, &end, 10);
  if (index == 1) v = std::strtoull(end, nullptr, 10);
  return v;
}

int client_main(std::uint16_t port, double seconds, int connections, double warmup, std::uint64_t seed) {
  Client client{port, {}, seed};
  curio::set_log_handler([&client](const curio::LogRecord& r) {
    if (r.level < curio::LogLevel::Error) return;
    if (++client.c.unexpected <= 5)
      std::fprintf(stderr, "soak client: %.*s\n", static_cast<int>(r.message.size()), r.message.data());
  });
  bool ok = true;
  curio::run([&]() -> Task<> {
    co_await client.control("BASELINE");
    auto start = curio::clock();
    auto until = start + std::chrono::duration_cast<curio::Clock::duration>(std::chrono::duration<double>(seconds));
    curio::TaskGroup g;
    std::string warm;
    co_await g.scope([&]() -> Task<> {
      for (int i = 0; i < connections; ++i) g.spawn(client.worker(i, until));
      co_await curio::sleep(warmup);
      warm = co_await client.control("STATS");
    });
    // Connections close asynchronously on the server: give it until the counts settle.
    std::string end;
    for (int i = 0; i < 100; ++i) {
      co_await curio::sleep(100ms);
      end = co_await client.control("STATS");
      if (field(end, "fds") == field(end, "fds", 1) + 1 && field(end, "tasks") == field(end, "tasks", 1) + 1) break;
    }
    double rss_warm = static_cast<double>(field(warm, "rss")), rss_end = static_cast<double>(field(end, "rss"));
    const ClientCounts& c = client.c;
    auto backend_name = [](std::uint64_t b) { return curio::to_string(static_cast<curio::IoBackend>(b)); };
    std::string server_backend(backend_name(field(end, "backend")));
    std::string client_backend(backend_name(static_cast<std::uint64_t>(curio::Kernel::current()->backend())));
    std::printf("soak: %d connections, %.0f s (warm-up %.0f s), seed %" PRIu64 ", server on %s, client on %s\n",
                connections, seconds, warmup, seed, server_backend.c_str(), client_backend.c_str());
    std::printf("  operations %" PRIu64 ": echo %" PRIu64 " (half-close %" PRIu64 ", reset %" PRIu64 "), lines %" PRIu64
                " (over-long %" PRIu64 "), idle %" PRIu64 " (past the idle timeout %" PRIu64
                "), stopped reading %" PRIu64 ", spawn %" PRIu64 ", checksums %" PRIu64
                ", cut short by the server %" PRIu64 "\n",
                c.operations, c.echoes, c.half_closes, c.resets, c.lines, c.long_lines, c.idles, c.idle_timeouts_seen,
                c.slow_readers, c.spawns, c.checksums, c.cut_short);
    std::printf("  bytes verified %" PRIu64 ", mismatches %" PRIu64 ", unexpected client errors %" PRIu64 "\n",
                c.bytes_verified, c.mismatches, c.unexpected);
    std::printf("  server: handlers %" PRIu64 ", timeouts fired %" PRIu64 " (idle %" PRIu64 ", write %" PRIu64
                ", random deadlines %" PRIu64 ", read/write past 5 s %" PRIu64 "), cancellations injected %" PRIu64
                ", LineTooLong %" PRIu64 ", run_in_thread %" PRIu64 ", UniversalQueue %" PRIu64
                ", quiet resets %" PRIu64 ", crashes %" PRIu64 ", timeout-badness warnings %" PRIu64 "\n",
                field(end, "handlers"),
                field(end, "idle_timeouts") + field(end, "write_timeouts") + field(end, "chaos_timeouts") +
                    field(end, "io_timeouts"),
                field(end, "idle_timeouts"), field(end, "write_timeouts"), field(end, "chaos_timeouts"),
                field(end, "io_timeouts"), field(end, "cancellations"), field(end, "too_long"),
                field(end, "thread_jobs"), field(end, "queue_jobs"), field(end, "quiet_resets"), field(end, "crashes"),
                field(end, "badness"));
    std::printf("  server fds %" PRIu64 " (start %" PRIu64 " + this STATS connection), tasks %" PRIu64
                " (start %" PRIu64 " + this STATS handler), threads %" PRIu64 " (start %" PRIu64
                "), RSS %.0f KiB after warm-up, %.0f KiB after (%+.1f%%)\n",
                field(end, "fds"), field(end, "fds", 1), field(end, "tasks"), field(end, "tasks", 1),
                field(end, "threads"), field(end, "threads", 1), rss_warm, rss_end,
                rss_warm > 0 ? (rss_end / rss_warm - 1) * 100 : 0.0);
    auto check = [&](bool cond, const char* what) {
      if (!cond) {
        std::printf("  FAIL: %s\n", what);
        ok = false;
      }
    };
    check(c.mismatches == 0, "a byte came back wrong");
    check(c.unexpected == 0, "unexpected client errors");
    check(c.bytes_verified > 0 && c.operations > static_cast<std::uint64_t>(connections), "too little traffic");
    check(field(end, "crashes") == 0, "an exception escaped a server task (task-crash)");
    check(field(end, "fds") == field(end, "fds", 1) + 1, "server descriptors leaked");
    check(field(end, "tasks") == field(end, "tasks", 1) + 1, "server tasks leaked");
    check(field(end, "threads") == field(end, "threads", 1), "server threads leaked");
#ifdef CURIO_SOAK_ASAN
    std::printf(
        "  RSS check skipped under ASan (its quarantine holds freed memory); LeakSanitizer checks the server at "
        "exit\n");
#else
    check(rss_end <= rss_warm * 1.05, "server RSS grew more than 5% after warm-up");
#endif
    std::printf("soak: %s\n", ok ? "PASS" : "FAIL");
    co_await client.control("QUIT");
  }());
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 60, warmup = -1;
  int connections = 2000;
  std::uint64_t seed = 1;
  const char* server_backend = nullptr;
  const char* client_backend = nullptr;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds"))
      seconds = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--connections"))
      connections = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--warmup"))
      warmup = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seed"))
      seed = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--server-backend"))
      server_backend = argv[i + 1];
    else if (!std::strcmp(argv[i], "--client-backend"))
      client_backend = argv[i + 1];
    else {
      std::fprintf(stderr,
                   "usage: curio_soak [--seconds S] [--connections N] [--warmup S] [--seed N] [--server-backend B] "
                   "[--client-backend B]\n");
      return 2;
    }
  }
  if (warmup < 0) warmup = seconds / 6;
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
  if (static_cast<rlim_t>(connections) + 64 > lim.rlim_cur) {
    std::fprintf(stderr, "curio_soak: %d connections need a higher open-file limit than %llu\n", connections,
                 static_cast<unsigned long long>(lim.rlim_cur));
    return 2;
  }
  int p[2];
  if (::pipe(p) != 0) return 2;
  std::fflush(stdout);
  pid_t pid = ::fork();  // before any thread exists in this process
  if (pid == 0) {
    ::close(p[0]);
    if (server_backend) ::setenv("CURIO_BACKEND", server_backend, 1);
    std::exit(server_main(p[1]));  // exit, not _exit: LeakSanitizer checks the server (ASan builds)
  }
  ::close(p[1]);
  std::uint16_t port = 0;
  if (::read(p[0], &port, sizeof port) != sizeof port) {
    std::fprintf(stderr, "curio_soak: the server did not start\n");
    return 1;
  }
  ::close(p[0]);
  if (client_backend) ::setenv("CURIO_BACKEND", client_backend, 1);
  int rc = client_main(port, seconds, connections, warmup, seed);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::printf("soak: FAIL: the server process ended with status %d\n", status);
    rc = 1;
  }
  return rc;
}
