// Load generator for the TLS benchmarks: one thread, raw epoll and non-blocking OpenSSL, pinned
// to its own CPU. TLS 1.3, TLS_AES_128_GCM_SHA256, no session resumption (full handshakes).
//   echo:       each connection sends --size bytes, waits for all of them to come back, repeats
//   handshakes: --handshakes 1: each of --conns slots connects, handshakes, makes one 64 B echo,
//               sends close_notify and closes, then starts again
//   idle:       --idle 1: connect --conns (10 at a time), handshake, one echo each, print "ready",
//               hold --seconds
// Usage: tls_loadgen --port P --conns N --size S --seconds T [--cpu C] [--handshakes 1] [--idle 1]
// Prints: conns=N size=S msgs_per_sec=X p50_us=Y p99_us=Z  (handshakes: handshakes_per_sec=X)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
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

enum class State { Handshake, Send, Receive };

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  State state = State::Handshake;
  std::size_t received = 0;
  std::int64_t sent_at = 0;
  bool polling_out = false;
};

sockaddr_in server_addr;
SSL_CTX* ctx;
int ep;

void watch(Conn& c, std::uint32_t index, bool out) {
  epoll_event ev{};
  ev.events = EPOLLIN | (out ? EPOLLOUT : 0u);
  ev.data.u32 = index;
  epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
  c.polling_out = out;
}

bool open_conn(Conn& c, std::uint32_t index) {
  c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c.fd < 0 || connect(c.fd, reinterpret_cast<const sockaddr*>(&server_addr), sizeof server_addr) < 0) {
    std::fprintf(stderr, "tls_loadgen: connect failed: %s\n", std::strerror(errno));
    return false;
  }
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
  c.ssl = SSL_new(ctx);
  SSL_set_fd(c.ssl, c.fd);
  SSL_set_connect_state(c.ssl);
  c.state = State::Handshake;
  c.received = 0;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = index;
  epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
  c.polling_out = false;
  return true;
}

void close_conn(Conn& c) {
  SSL_shutdown(c.ssl);  // close_notify (not waiting for the server's)
  SSL_free(c.ssl);
  close(c.fd);  // also removes it from epoll
  c.ssl = nullptr;
  c.fd = -1;
}

// Handles an SSL result: true to go on, false to wait for the socket.
bool retry_later(Conn& c, std::uint32_t index, int r) {
  int err = SSL_get_error(c.ssl, r);
  if (err == SSL_ERROR_WANT_READ) {
    if (c.polling_out) watch(c, index, false);
    return false;
  }
  if (err == SSL_ERROR_WANT_WRITE) {
    if (!c.polling_out) watch(c, index, true);
    return false;
  }
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  std::fprintf(stderr, "tls_loadgen: TLS error %d: %s\n", err, buf);
  std::exit(1);
}
}  // namespace

int main(int argc, char** argv) {
  echo_bench::raise_fd_limit();
  echo_bench::pin_to_cpu(static_cast<int>(echo_bench::arg(argc, argv, "--cpu", -1)));
  const int port = static_cast<int>(echo_bench::arg(argc, argv, "--port", 25443));
  const int nconns = static_cast<int>(echo_bench::arg(argc, argv, "--conns", 100));
  const bool handshakes = echo_bench::arg(argc, argv, "--handshakes", 0) != 0;
  const std::size_t size = handshakes ? 64 : static_cast<std::size_t>(echo_bench::arg(argc, argv, "--size", 64));
  const double seconds = static_cast<double>(echo_bench::arg(argc, argv, "--seconds", 3));
  const bool idle = echo_bench::arg(argc, argv, "--idle", 0) != 0;

  server_addr.sin_family = AF_INET;
  server_addr.sin_port = htons(static_cast<uint16_t>(port));
  server_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(static_cast<std::size_t>(nconns));
  std::vector<char> out(size, 'x'), in(65536);

  std::vector<std::uint32_t> rtts_us;
  rtts_us.reserve(1 << 22);
  // Echo loads: the warm-up starts once every connection finished its first handshake, so the
  // 1,000 handshakes of the set-up are not counted as (slow) echoes.
  constexpr std::int64_t kNever = INT64_MAX / 2;
  int established = 0;
  std::int64_t warmup_end = kNever;
  std::int64_t end = kNever;
  auto start_window = [&] {
    warmup_end = now_ns() + (idle ? 0 : 300'000'000);
    end = warmup_end + static_cast<std::int64_t>(seconds * 1e9);
  };
  if (handshakes) start_window();
  std::uint64_t done = 0;  // echoes (or handshakes) completed after the warm-up
  int pending_first = idle ? nconns : 0;

  // Drives one connection as far as it goes without waiting.
  auto step = [&](std::uint32_t index) {
    Conn& c = conns[index];
    for (;;) {
      if (c.state == State::Handshake) {
        int r = SSL_do_handshake(c.ssl);
        if (r != 1 && !retry_later(c, index, r)) return;
        if (r == 1) {
          c.state = State::Send;
          if (!handshakes && ++established == nconns) start_window();
        }
      } else if (c.state == State::Send) {
        if (c.received == 0) c.sent_at = now_ns();
        int r = SSL_write(c.ssl, out.data(), static_cast<int>(size));
        if (r <= 0 && !retry_later(c, index, r)) return;
        if (r > 0) {
          c.state = State::Receive;
          c.received = 0;
          if (c.polling_out) watch(c, index, false);
        }
      } else {
        int r = SSL_read(c.ssl, in.data(), static_cast<int>(in.size()));
        if (r <= 0) {
          if (!retry_later(c, index, r)) return;
          continue;
        }
        c.received += static_cast<std::size_t>(r);
        if (c.received < size) continue;
        std::int64_t t = now_ns();
        if (idle) {
          --pending_first;
          c.state = State::Handshake;  // parked: no more traffic
          c.received = 0;
          return;
        }
        if (t >= warmup_end && t < end) {
          ++done;
          if (!handshakes) rtts_us.push_back(static_cast<std::uint32_t>((t - c.sent_at) / 1000));
        }
        c.received = 0;
        if (handshakes) {
          close_conn(c);
          if (!open_conn(c, index)) std::exit(1);
        } else {
          c.state = State::Send;
        }
      }
    }
  };
  // Idle: connections are made 10 at a time, so the server's memory afterwards is what idle
  // connections hold, not the peak of 2,000 handshakes in flight at once (freed, but scattered
  // through the heap).
  int opened = 0;
  const int batch = idle ? 10 : nconns;
  auto open_more = [&] {
    int target = std::min(nconns, opened + batch);
    for (int i = opened; i < target; ++i)
      if (!open_conn(conns[static_cast<std::size_t>(i)], static_cast<std::uint32_t>(i))) std::exit(1);
    int first = opened;
    opened = target;
    for (int i = first; i < target; ++i) step(static_cast<std::uint32_t>(i));
  };
  open_more();
  std::vector<epoll_event> events(1024);
  while (true) {
    if (!idle && now_ns() >= end) break;
    if (idle && pending_first == 0) break;
    if (idle && nconns - pending_first == opened) open_more();
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    for (int i = 0; i < n; ++i) {
      std::uint32_t index = events[i].data.u32;
      if (idle && conns[index].state == State::Handshake && SSL_is_init_finished(conns[index].ssl)) {
        SSL_read(conns[index].ssl, in.data(), static_cast<int>(in.size()));  // session tickets
        continue;
      }
      step(index);
    }
  }
  if (idle) {
    std::printf("ready\n");
    std::fflush(stdout);
    timespec ts{static_cast<time_t>(seconds), 0};
    nanosleep(&ts, nullptr);
    return 0;
  }
  if (handshakes) {
    std::printf("conns=%d handshakes_per_sec=%.0f\n", nconns, done / seconds);
    return 0;
  }
  std::sort(rtts_us.begin(), rtts_us.end());
  auto pct = [&](double p) {
    return rtts_us.empty() ? 0u : rtts_us[static_cast<std::size_t>(p * (rtts_us.size() - 1))];
  };
  std::printf("conns=%d size=%zu msgs_per_sec=%.0f p50_us=%u p99_us=%u\n", nconns, size, done / seconds, pct(0.5),
              pct(0.99));
  return 0;
}
