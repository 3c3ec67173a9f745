// The C10K client: opens N connections (default 10,000) to the C10K server, holds them all, then
// has every connection exchange 64-byte messages with the server for a few seconds. Prints
// progress while connecting, then connections held, messages per second, p50/p99 round trip,
// and (with --server-pid) the server's memory per connection and its thread count.
//   c10k_client [--port N] [--connections N] [--seconds S] [--server-pid PID]
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "curio/curio.hpp"

using namespace std::chrono_literals;
using curio::Task;

namespace {

struct Options {
  std::uint16_t port = 25000;
  std::size_t connections = 10000;
  double seconds = 5;
  long server_pid = 0;
};

// A field of /proc/PID/status ("VmRSS" in kB, "Threads"), or -1.
long proc_status(long pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  return -1;
}

struct Run {
  Options opt;
  std::size_t connected = 0;
  std::size_t failed = 0;
  std::string first_error;
  curio::Event all_connected;
  curio::Event go;
  bool stop = false;
  std::vector<std::uint32_t> rtt_us;  // one sample per round trip
};

Task<> client(Run& run, curio::Semaphore& connecting) {
  curio::Socket sock;
  try {
    auto slot = co_await connecting.scoped();  // bounded concurrent connects (listen backlog)
    sock = co_await curio::timeout_after(10s, curio::open_connection("127.0.0.1", run.opt.port));
  } catch (const std::exception& e) {
    if (run.failed++ == 0) run.first_error = e.what();
  }
  if (sock) ++run.connected;
  if (run.connected + run.failed == run.opt.connections) run.all_connected.set();
  if (!sock) co_return;
  co_await run.go.wait();
  auto stream = sock.as_stream();
  std::string message(63, 'x');
  message += '\n';
  while (!run.stop) {
    auto t0 = curio::clock();
    co_await stream.write(message);
    std::string reply = co_await stream.read_exactly(message.size());
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(curio::clock() - t0).count();
    run.rtt_us.push_back(static_cast<std::uint32_t>(us));
  }
}

Task<> progress(Run& run) {
  std::size_t shown = 0;
  while (!run.all_connected.is_set()) {
    co_await curio::ignore_after(250ms, run.all_connected.wait());
    if (run.connected != shown || run.all_connected.is_set()) {
      shown = run.connected;
      std::printf("\rclient: connecting %zu/%zu", shown, run.opt.connections);
      std::fflush(stdout);
    }
  }
  std::printf("\n");
}

Task<int> main_task(Options opt) {
  Run run;
  run.opt = opt;
  long rss_before = opt.server_pid ? proc_status(opt.server_pid, "VmRSS") : -1;
  curio::Semaphore connecting(256);
  auto connect_start = curio::clock();
  curio::TaskGroup g;
  co_await g.scope([&]() -> Task<> {
    auto shown = g.spawn(progress(run));
    for (std::size_t i = 0; i < opt.connections; ++i) g.spawn(client(run, connecting));
    co_await shown.join();  // ends once every connection is made (or failed)
    double connect_s = std::chrono::duration<double>(curio::clock() - connect_start).count();
    std::printf("client: %zu connections held (%zu failed%s%s), connected in %.2f s\n", run.connected, run.failed,
                run.failed ? ": " : "", run.first_error.c_str(), connect_s);
    if (opt.server_pid) {
      co_await curio::sleep(500ms);  // let the server accept and settle the last ones
      long rss_after = proc_status(opt.server_pid, "VmRSS");
      if (rss_before > 0 && rss_after > 0 && run.connected)
        std::printf("server: %.0f bytes of memory per idle connection (RSS %.1f -> %.1f MiB), %ld thread(s)\n",
                    (rss_after - rss_before) * 1024.0 / double(run.connected), rss_before / 1024.0, rss_after / 1024.0,
                    proc_status(opt.server_pid, "Threads"));
    }
    std::printf("client: every connection now exchanges 64-byte messages for %.0f s...\n", opt.seconds);
    std::fflush(stdout);
    auto t0 = curio::clock();
    run.go.set();
    co_await curio::sleep(opt.seconds);
    run.stop = true;
    double elapsed = std::chrono::duration<double>(curio::clock() - t0).count();
    co_await g.join();
    std::sort(run.rtt_us.begin(), run.rtt_us.end());
    auto pct = [&](double p) {
      return run.rtt_us.empty()
                 ? 0.0
                 : run.rtt_us[std::min(run.rtt_us.size() - 1, std::size_t(p * run.rtt_us.size()))] / 1000.0;
    };
    std::printf("result: %zu connections, %.0f messages/s, round trip p50 %.2f ms, p99 %.2f ms\n", run.connected,
                double(run.rtt_us.size()) / elapsed, pct(0.50), pct(0.99));
  });
  co_return run.failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--port")
      opt.port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    else if (a == "--connections")
      opt.connections = std::strtoul(argv[i + 1], nullptr, 10);
    else if (a == "--seconds")
      opt.seconds = std::atof(argv[i + 1]);
    else if (a == "--server-pid")
      opt.server_pid = std::atol(argv[i + 1]);
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  return curio::run(main_task(opt));
}
