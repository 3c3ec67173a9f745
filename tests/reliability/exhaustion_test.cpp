// Resource exhaustion: a server at its open-file limit (RLIMIT_NOFILE lowered in a forked child
// process, so the test process keeps its own limit) keeps serving the clients it has, backs off
// on EMFILE without spinning, logs that once per interval, and accepts again when descriptors
// free up.
// Timing tolerance: the exhausted phase lasts 1.5 s; a spinning accept loop would burn ~1.5 s of
// CPU in it, the back-off (10 ms doubling to 1 s: ~8 wakeups) a few ms; the test allows 300 ms
// (loose, for ASan on a loaded 2-core machine). Waiting for replies is bounded by 5 s polls; the
// "not accepted yet" probe waits 300 ms.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "io/io_test_support.hpp"

using namespace curio_test;
using curio::Socket;
using curio::SocketAddress;
using curio::Task;

namespace {

constexpr int kSlots = 4;  // client descriptors the child can open at its limit

std::atomic<int> exhausted_logs{0}, accepting_logs{0};

// The child's handler: "ping" -> "pong", "stats" -> CPU time and log counts.
Task<> child_handler(Socket client, SocketAddress) {
  curio::SocketStream s(client);
  while (auto line = co_await s.next_line()) {
    if (*line == "ping\n") {
      co_await s.write("pong\n");
    } else if (*line == "stats\n") {
      rusage ru{};
      ::getrusage(RUSAGE_SELF, &ru);
      long long cpu_us =
          (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1'000'000LL + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
      co_await s.write(std::to_string(cpu_us) + " " + std::to_string(exhausted_logs.load()) + " " +
                       std::to_string(accepting_logs.load()) + "\n");
    }
  }
}

[[noreturn]] void child_main(int port_pipe) {
  curio::set_log_handler([](const curio::LogRecord& r) {
    if (r.kind == "server-fd-exhausted") ++exhausted_logs;
    if (r.kind == "server-accepting") ++accepting_logs;
  });
  curio::Kernel kernel;  // its epoll and eventfd exist before the limit is computed
  Socket listener = loopback_listener(64);
  std::uint16_t port = listener.getsockname().port();
  if (::write(port_pipe, &port, sizeof port) != sizeof port) ::_exit(4);
  ::close(port_pipe);  // before the count; nothing is accepted before kernel.run below
  int highest = 0;
  for (int fd = 0; fd < 4096; ++fd)
    if (::fcntl(fd, F_GETFD) >= 0) highest = fd;
  // Fill the gaps below the highest descriptor, so exactly kSlots remain under the limit.
  for (int fd = 0; fd < highest; ++fd)
    if (::fcntl(fd, F_GETFD) < 0 && ::open("/dev/null", O_RDONLY) < 0) ::_exit(2);
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = static_cast<rlim_t>(highest + 1 + kSlots);
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) ::_exit(3);
  try {
    kernel.run(curio::run_server(std::move(listener), child_handler));
  } catch (...) {
    ::_exit(5);
  }
  ::_exit(0);
}

struct Client {
  int fd = -1;
  explicit Client(std::uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ADD_FAILURE() << "connect failed";
  }
  ~Client() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  void send(const std::string& s) { ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), (ssize_t)s.size()); }
  // One line, or "" if none arrives within timeout_ms.
  std::string line(int timeout_ms = 5000) {
    std::string out;
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (out.empty() || out.back() != '\n') {
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count());
      if (left <= 0) return "";
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, left) <= 0) return "";
      char c;
      if (::recv(fd, &c, 1, 0) != 1) return "";
      out.push_back(c);
    }
    return out;
  }
};

struct Stats {
  long long cpu_us = 0;
  int exhausted = 0, accepting = 0;
};
Stats stats(Client& c) {
  c.send("stats\n");
  Stats s;
  std::string l = c.line();
  std::sscanf(l.c_str(), "%lld %d %d", &s.cpu_us, &s.exhausted, &s.accepting);
  return s;
}

struct ChildServer {
  pid_t pid = -1;
  std::uint16_t port = 0;
  ChildServer() {
    int p[2];
    if (::pipe(p) != 0) throw std::runtime_error("pipe");
    pid = ::fork();
    if (pid == 0) {
      ::close(p[0]);
      child_main(p[1]);
    }
    ::close(p[1]);
    if (::read(p[0], &port, sizeof port) != sizeof port) ADD_FAILURE() << "child did not start";
    ::close(p[0]);
  }
  ~ChildServer() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

}  // namespace

#if defined(__has_feature)
#if __has_feature(undefined_behavior_sanitizer) || __has_feature(address_sanitizer)
#define CURIO_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CURIO_TEST_SANITIZED 1
#endif

TEST(ReliabilityExhaustion, ServerAtItsFdLimitKeepsServingBacksOffAndAcceptsAgain) {
#ifdef CURIO_TEST_SANITIZED
  // UBSan's vptr check probes memory through pipe(2), which fails at the descriptor limit and
  // turns the EMFILE exception into a false "invalid vptr" abort. Runs in the release preset.
  GTEST_SKIP() << "needs a build without sanitizers (the release preset runs it)";
#endif
  ChildServer server;
  std::vector<std::unique_ptr<Client>> served;
  for (int i = 0; i < kSlots; ++i) {
    served.push_back(std::make_unique<Client>(server.port));
    served.back()->send("ping\n");
    ASSERT_EQ(served.back()->line(), "pong\n") << "client " << i;
  }
  // At the limit already: accept4 needs a free descriptor before it looks at the backlog, so
  // the server is backing off from here on.
  Stats before = stats(*served[0]);

  // Beyond the limit: these wait in the backlog, their ping unanswered.
  std::vector<std::unique_ptr<Client>> waiting;
  for (int i = 0; i < 3; ++i) {
    waiting.push_back(std::make_unique<Client>(server.port));
    waiting.back()->send("ping\n");
  }
  EXPECT_EQ(waiting[0]->line(300), "");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));

  // Existing clients are still served while the server is exhausted.
  for (auto& c : served) {
    c->send("ping\n");
    EXPECT_EQ(c->line(), "pong\n");
  }
  Stats during = stats(*served[0]);
  EXPECT_EQ(during.exhausted, 1) << "logged once per interval, not once per retry";
  std::printf("exhausted for 1.5 s: server CPU %lld us, %d log line(s)\n", during.cpu_us - before.cpu_us,
              during.exhausted);
  EXPECT_LT(during.cpu_us - before.cpu_us, 300'000) << "the accept loop must back off, not spin";

  // Free three descriptors: the waiting clients are accepted and answered.
  for (int i = 1; i < kSlots; ++i) served[i]->close();
  for (auto& c : waiting) EXPECT_EQ(c->line(), "pong\n");
  Stats after = stats(*served[0]);
  EXPECT_EQ(after.accepting, 1);
}
