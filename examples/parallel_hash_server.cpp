// A CPU-heavy service on every core: each request asks for a payload of some KiB (made from a
// seed) to be hashed, which costs the server a fraction of a millisecond of CPU and the client
// almost nothing. tcp_server's kernels option serves it on N kernels (N threads, one
// SO_REUSEPORT listener each), so N cores do the hashing. SIGINT/SIGTERM stop it cleanly.
//   parallel_hash_server [--port N] [--kernels N]           the server (default: one kernel per CPU)
//   parallel_hash_server --client [--port N] [--connections C] [--seconds S] [--kib K]
//                                                            a load generator that checks answers
// Protocol: the client sends "<kib> <seed>\n"; the server answers "<16 hex digits>\n".
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "curio/curio.hpp"

using namespace std::chrono_literals;
using curio::Task;

namespace {

constexpr int kPasses = 16;  // hash the payload this many times: the CPU-heavy part

// A 64-bit multiply-xorshift hash over the payload, kPasses times, each pass seeded by the last.
std::uint64_t hash_payload(std::size_t kib, std::uint64_t seed) {
  std::vector<std::uint64_t> payload(kib * 1024 / 8);
  std::uint64_t x = seed | 1;
  for (auto& w : payload) {  // xorshift64: the payload is made, not sent
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w = x;
  }
  std::uint64_t h = seed;
  for (int pass = 0; pass < kPasses; ++pass) {
    for (std::uint64_t w : payload) {
      h ^= w + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
      h *= 0xff51afd7ed558ccdULL;
      h ^= h >> 33;
    }
  }
  return h;
}

std::string hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

Task<> serve_client(curio::Socket client, curio::SocketAddress) {
  curio::SocketStream stream(client);
  while (auto line = co_await stream.next_line()) {
    unsigned long kib = 0;
    unsigned long long seed = 0;
    if (std::sscanf(line->c_str(), "%lu %llu", &kib, &seed) != 2 || kib == 0 || kib > 1024) {
      co_await stream.write("error: expected '<kib 1..1024> <seed>'\n");
      co_return;
    }
    co_await stream.write(hex(hash_payload(kib, seed)) + "\n");
  }
}

Task<> server(std::uint16_t port, std::size_t kernels) {
  curio::SignalEvent stop{SIGINT, SIGTERM};
  auto s = curio::spawn(curio::tcp_server("127.0.0.1", port, serve_client, {.kernels = kernels}));
  std::printf("hashing on 127.0.0.1:%u with %zu kernels\n", port, kernels);
  std::fflush(stdout);
  co_await stop.wait();
  std::printf("shutting down\n");
  co_await s.cancel();
  std::printf("bye\n");
}

Task<> client(std::uint16_t port, int connections, double seconds, std::size_t kib) {
  long requests = 0;
  long wrong = 0;
  auto start = curio::clock();
  auto one = [&](int c) -> Task<> {
    curio::Socket s = co_await curio::open_connection("127.0.0.1", port);
    curio::SocketStream stream(s);
    for (std::uint64_t i = 0;; ++i) {
      std::uint64_t seed = static_cast<std::uint64_t>(c) * 1'000'003 + i;
      co_await stream.write(std::to_string(kib) + " " + std::to_string(seed) + "\n");
      std::string answer = co_await stream.readline();
      if (i < 2 && answer != hex(hash_payload(kib, seed)) + "\n") ++wrong;  // check a few, cheaply
      ++requests;
    }
  };
  co_await curio::ignore_after(std::chrono::duration<double>(seconds), [&]() -> Task<> {
    curio::TaskGroup g;
    co_await g.scope([&]() -> Task<> {
      for (int c = 0; c < connections; ++c) g.spawn(one(c));
      co_return;
    });
  });
  double elapsed = std::chrono::duration<double>(curio::clock() - start).count();
  std::printf("requests=%ld requests_per_sec=%.0f wrong=%ld %s\n", requests, requests / elapsed, wrong,
              wrong == 0 && requests > 0 ? "ok" : "FAILED");
  if (wrong != 0 || requests == 0) std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 25000;
  std::size_t kernels = 0;
  bool as_client = false;
  int connections = 8;
  double seconds = 3;
  std::size_t kib = 64;
  for (int i = 1; i < argc; ++i) {
    auto next = [&] { return i + 1 < argc ? argv[++i] : (std::fprintf(stderr, "missing value\n"), std::exit(2), ""); };
    if (std::strcmp(argv[i], "--client") == 0)
      as_client = true;
    else if (std::strcmp(argv[i], "--port") == 0)
      port = static_cast<std::uint16_t>(std::atoi(next()));
    else if (std::strcmp(argv[i], "--kernels") == 0)
      kernels = static_cast<std::size_t>(std::atoi(next()));
    else if (std::strcmp(argv[i], "--connections") == 0)
      connections = std::atoi(next());
    else if (std::strcmp(argv[i], "--seconds") == 0)
      seconds = std::atof(next());
    else if (std::strcmp(argv[i], "--kib") == 0)
      kib = static_cast<std::size_t>(std::atoi(next()));
  }
  if (as_client) {
    curio::run(client(port, connections, seconds, kib));
    return 0;
  }
  if (kernels == 0) kernels = curio::usable_cpu_count();
  curio::block_signals({SIGINT, SIGTERM});  // before the kernel threads start: they inherit it
  curio::run(server(port, kernels));
}
