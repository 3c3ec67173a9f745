// Load generator for the echo benchmarks: one thread, raw epoll, pinned to its own CPU.
// Ping-pong: each connection sends --size bytes, waits for all of them to come back, repeats.
// Usage: echo_loadgen --port P --conns N --size S --seconds T [--cpu 1] [--idle 1]
// Prints one line: conns=N size=S msgs_per_sec=X p50_us=Y p99_us=Z   (or "ready" when idle)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "common.hpp"

namespace {
std::int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

struct Conn {
  int fd = -1;
  std::size_t received = 0;
  std::int64_t sent_at = 0;
};
}  // namespace

int main(int argc, char** argv) {
  echo_bench::raise_fd_limit();
  echo_bench::pin_to_cpu(static_cast<int>(echo_bench::arg(argc, argv, "--cpu", -1)));
  const int port = static_cast<int>(echo_bench::arg(argc, argv, "--port", 25000));
  const int nconns = static_cast<int>(echo_bench::arg(argc, argv, "--conns", 100));
  const std::size_t size = static_cast<std::size_t>(echo_bench::arg(argc, argv, "--size", 64));
  const double seconds = static_cast<double>(echo_bench::arg(argc, argv, "--seconds", 3));
  const bool idle = echo_bench::arg(argc, argv, "--idle", 0) != 0;

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(static_cast<std::size_t>(nconns));
  std::vector<char> out(size, 'x'), in(std::max<std::size_t>(size, 65536));
  int one = 1;

  // Blocking connects in order keep the server's accept queue from overflowing.
  for (int i = 0; i < nconns; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
      std::fprintf(stderr, "loadgen: connect %d failed: %s\n", i, std::strerror(errno));
      return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conns[static_cast<std::size_t>(i)].fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }

  std::vector<std::uint32_t> rtts_us;
  rtts_us.reserve(1 << 22);
  std::int64_t start = now_ns();
  const std::int64_t warmup_end = start + (idle ? 0 : 300'000'000);
  const std::int64_t end = warmup_end + static_cast<std::int64_t>(seconds * 1e9);
  std::uint64_t messages = 0;
  for (auto& c : conns) {
    c.sent_at = now_ns();
    if (send(c.fd, out.data(), size, MSG_NOSIGNAL) != static_cast<ssize_t>(size)) return 1;
  }
  std::vector<epoll_event> events(1024);
  int pending_first = idle ? nconns : 0;  // idle: wait for every first echo, then hold
  while (true) {
    std::int64_t now = now_ns();
    if (!idle && now >= end) break;
    if (idle && pending_first == 0) break;
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    for (int i = 0; i < n; ++i) {
      Conn& c = conns[events[i].data.u32];
      ssize_t r = recv(c.fd, in.data(), in.size(), MSG_DONTWAIT);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        std::fprintf(stderr, "loadgen: connection closed by the server\n");
        return 1;
      }
      c.received += static_cast<std::size_t>(r);
      if (c.received < size) continue;
      c.received = 0;
      std::int64_t t = now_ns();
      if (idle) {
        --pending_first;
        continue;
      }
      if (t >= warmup_end) {
        ++messages;
        rtts_us.push_back(static_cast<std::uint32_t>((t - c.sent_at) / 1000));
      }
      c.sent_at = t;
      send(c.fd, out.data(), size, MSG_NOSIGNAL);
    }
  }
  if (idle) {
    std::printf("ready\n");
    std::fflush(stdout);
    struct timespec ts {
      static_cast<time_t>(seconds), 0
    };
    nanosleep(&ts, nullptr);
    return 0;
  }
  std::sort(rtts_us.begin(), rtts_us.end());
  auto pct = [&](double p) {
    return rtts_us.empty() ? 0u : rtts_us[static_cast<std::size_t>(p * (rtts_us.size() - 1))];
  };
  std::printf("conns=%d size=%zu msgs_per_sec=%.0f p50_us=%u p99_us=%u\n", nconns, size, messages / seconds, pct(0.5),
              pct(0.99));
  return 0;
}
