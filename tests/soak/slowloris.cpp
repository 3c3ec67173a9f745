// curio_slowloris: hostile clients against a line server with per-connection deadlines. Three
// processes: the server; a slowloris process holding --slow connections that each send one
// byte every 2 s; and this one, which measures fast clients' round-trip latency undisturbed,
// under the slowloris load, and undisturbed again, then sends an endless line. The server reads
// each request line under a 5 s deadline (as nginx's client_header_timeout), so a slowloris
// connection is dropped after 5 s; a line over 4 KiB gets "ERR line too long" (LineTooLong),
// never unbounded memory. Prints p50/p99 per phase and the ratio; exits 1 if the disturbed p99
// is over 2x the undisturbed one or the endless line is not refused. A measurement, not a unit
// test: it is not run by ctest (docs/reliability.md gives the command and the figures).
//   curio_slowloris [--slow 3000] [--fast 20] [--seconds 5]
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "curio/curio.hpp"
#include "soak_common.hpp"

using namespace std::chrono_literals;
using curio::Socket;
using curio::SocketAddress;
using curio::SocketStream;
using curio::Task;

namespace {

constexpr std::size_t kMaxLine = 4096;

int server_main(int port_pipe) {
  curio::Kernel kernel;
  Socket listener = curio::tcp_server_socket("127.0.0.1", 0, {.backlog = 4096});
  std::uint16_t port = listener.getsockname().port();
  if (::write(port_pipe, &port, sizeof port) != sizeof port) return 1;
  ::close(port_pipe);
  kernel.run(curio::run_server(std::move(listener), [](Socket c, SocketAddress) -> Task<> {
    SocketStream s(c);
    bool too_long = false;
    try {
      for (;;) {
        // The whole line under one deadline: trickling bytes does not extend it.
        std::string line = co_await curio::timeout_after(5s, s.readline(kMaxLine));
        if (line.empty()) co_return;
        if (line == "STATS\n") {
          co_await s.write(std::to_string(soak::rss_kib()) + "\n");
          continue;
        }
        co_await curio::timeout_after(5s, s.write(line));
      }
    } catch (const curio::TaskTimeout&) {
      co_return;  // too slow: dropped
    } catch (const curio::LineTooLong&) {
      too_long = true;  // the buffer stopped at kMaxLine
    }
    if (too_long) {
      // Refuse, then discard what is still in flight (bounded by 2 s) so the close is not a
      // reset that could destroy the refusal before the client reads it.
      co_await curio::timeout_after(5s, s.write("ERR line too long\n"));
      c.shutdown(SHUT_WR);
      co_await curio::ignore_after(2s, [&]() -> Task<> {
        while (!(co_await s.read(65536)).empty()) {
        }
      }());
    }
  }));
  return 0;
}

int slowloris_main(std::uint16_t port, int n) {
  std::uint64_t drops = 0;
  curio::run([&]() -> Task<> {
    curio::TaskGroup g;
    co_await g.scope([&]() -> Task<> {
      for (int i = 0; i < n; ++i) {
        g.spawn([&, i]() -> Task<> {
          co_await curio::sleep(std::chrono::milliseconds(i % 1000));  // spread the connects
          for (;;) {
            try {
              Socket s = co_await curio::open_connection("127.0.0.1", port);
              for (;;) {
                co_await s.sendall("a");
                co_await curio::sleep(2s);
              }
            } catch (const curio::SystemError&) {
              ++drops;  // dropped by the server's deadline: come back, as an attacker would
            }
          }
        });
      }
      co_return;
    });
  }());
  return 0;
}

struct Phase {
  std::vector<double> us;
  double pct(double p) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    return us[std::min(us.size() - 1, static_cast<std::size_t>(p * static_cast<double>(us.size())))];
  }
};

Task<> measure(std::uint16_t port, int fast, double seconds, Phase& out) {
  auto until =
      curio::clock() + std::chrono::duration_cast<curio::Clock::duration>(std::chrono::duration<double>(seconds));
  curio::TaskGroup g;
  co_await g.scope([&]() -> Task<> {
    for (int i = 0; i < fast; ++i) {
      g.spawn([&]() -> Task<> {
        Socket s = co_await curio::open_connection("127.0.0.1", port);
        SocketStream st(s);
        std::string line(100, 'f');
        line += "\n";
        while (curio::clock() < until) {
          auto t0 = curio::clock();
          co_await st.write(line);
          std::string back = co_await curio::timeout_after(10s, st.readline());
          if (back != line) throw std::runtime_error("fast client: wrong echo");
          out.us.push_back(std::chrono::duration<double, std::micro>(curio::clock() - t0).count());
          co_await curio::sleep(1ms);
        }
      });
    }
    co_return;
  });
}

}  // namespace

int main(int argc, char** argv) {
  int slow = 3000, fast = 20;
  double seconds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--slow"))
      slow = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--fast"))
      fast = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seconds"))
      seconds = std::atof(argv[i + 1]);
  }
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
  int p[2];
  if (::pipe(p) != 0) return 2;
  pid_t server = ::fork();
  if (server == 0) {
    ::close(p[0]);
    ::_exit(server_main(p[1]));
  }
  ::close(p[1]);
  std::uint16_t port = 0;
  if (::read(p[0], &port, sizeof port) != sizeof port) return 2;
  ::close(p[0]);

  Phase before, during, after;
  std::size_t rss_start = 0, rss_long = 0;
  bool refused = false;
  curio::run(measure(port, fast, seconds, before));
  std::fflush(stdout);
  pid_t loris = ::fork();
  if (loris == 0) ::_exit(slowloris_main(port, slow));
  curio::run([&]() -> Task<> {
    co_await curio::sleep(3s);  // let the slowloris connections pile up
    co_await measure(port, fast, seconds, during);
  }());
  ::kill(loris, SIGKILL);
  ::waitpid(loris, nullptr, 0);
  curio::run([&]() -> Task<> {
    co_await curio::sleep(1s);
    co_await measure(port, fast, seconds, after);
    auto stats = [&]() -> Task<std::size_t> {
      Socket s = co_await curio::open_connection("127.0.0.1", port);
      co_await s.sendall("STATS\n");
      SocketStream st(s);
      co_return std::strtoull((co_await st.readline()).c_str(), nullptr, 10);
    };
    rss_start = co_await stats();
    // An endless line: 10 MiB without a newline.
    Socket s = co_await curio::open_connection("127.0.0.1", port);
    auto sender = curio::spawn([&]() -> Task<> {
      std::string block(64 * 1024, 'x');
      try {
        for (int i = 0; i < 160; ++i) co_await s.sendall(block);
      } catch (const curio::SystemError&) {  // the server gave up on us: expected
      }
    });
    SocketStream st(s);
    std::string reply = co_await curio::timeout_after(20s, st.readline());
    refused = reply == "ERR line too long\n";
    co_await sender.cancel();
    rss_long = co_await stats();
  }());
  ::kill(server, SIGKILL);
  ::waitpid(server, nullptr, 0);

  double b99 = before.pct(0.99), d99 = during.pct(0.99), a99 = after.pct(0.99);
  std::printf("slowloris: %d slow connections (1 byte / 2 s), %d fast clients, %.0f s per phase\n", slow, fast,
              seconds);
  std::printf("  undisturbed:  %zu round trips, p50 %.0f us, p99 %.0f us\n", before.us.size(), before.pct(0.5), b99);
  std::printf("  under attack: %zu round trips, p50 %.0f us, p99 %.0f us\n", during.us.size(), during.pct(0.5), d99);
  std::printf("  undisturbed:  %zu round trips, p50 %.0f us, p99 %.0f us\n", after.us.size(), after.pct(0.5), a99);
  double base = std::max(b99, a99);
  std::printf("  p99 ratio under attack / undisturbed (the worse of the two): %.2f\n", base > 0 ? d99 / base : 0);
  std::printf("  endless line: %s; server RSS %zu KiB before, %zu KiB after\n",
              refused ? "refused with LineTooLong" : "NOT refused", rss_start, rss_long);
  bool ok = refused && base > 0 && d99 <= 2 * base;
  std::printf("slowloris: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
