// Shared test harness (header only; tests/support has no .cpp, so it is no test binary of its
// own): many concurrent clients in a forked child process, for tests whose connections would
// exceed one process's open-file limit. The child runs its own kernel (fork before either side
// starts one), the parent serves and waits for the child from a task.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>

#include "curio/curio.hpp"

namespace curio_test {

// Raises the soft limit on open files to the hard limit; returns the new soft limit.
inline rlim_t raise_open_file_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  ::getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

// n tasks meet here: arrive() returns once all n have arrived.
class ClientBarrier {
 public:
  explicit ClientBarrier(int n) : n_(n) {}
  curio::Task<> arrive() {
    if (++arrived_ == n_) all_.set();
    co_await all_.wait();
  }

 private:
  int n_;
  int arrived_ = 0;
  curio::Event all_;
};

// Runs client(i, connected) for i in [0, n) at once, within limit: each client connects, calls
// co_await connected.arrive() (so that all n are connected at the same time), makes its
// exchange and returns whether it succeeded; it then stays connected until every client has
// finished. Returns how many succeeded (an exception is a failure, printed to stderr).
template <class Client>
curio::Task<int> run_clients_together(int n, curio::Clock::duration limit, Client client) {
  ClientBarrier connected(n);
  ClientBarrier finished(n);
  int ok = 0;
  auto one = [&](int i) -> curio::Task<> {
    bool good = false;
    try {
      good = co_await client(i, connected);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "client %d: %s\n", i, e.what());
    }
    if (good) ++ok;
    co_await finished.arrive();
  };
  try {
    co_await curio::timeout_after(limit, [&]() -> curio::Task<> {
      curio::TaskGroup group;
      co_await group.scope([&]() -> curio::Task<> {
        for (int i = 0; i < n; ++i) group.spawn(one(i));
        co_return;
      });
    });
  } catch (const curio::TaskTimeout&) {
  }
  co_return ok;
}

// Forks a child that closes listener (only the parent accepts), runs run() (a Task<int>: how
// many clients succeeded) in its own kernel and exits 0 if that is expected, 1 if fewer, 2 if
// its kernel raised. Returns the child's pid in the parent (or -1).
template <class Run>
pid_t fork_client_process(curio::Socket& listener, int expected, Run run) {
  pid_t child = ::fork();
  if (child != 0) return child;
  int code = 3;
  try {
    listener.close();
    int ok = curio::run(run());
    code = ok == expected ? 0 : 1;
  } catch (...) {
    code = 2;
  }
  ::_exit(code);  // no atexit handlers, no gtest output from the child
}

struct ChildEnd {
  int status = -1;
  bool killed = false;  // it did not end within the limit
};

// From a task: polls the child every 10 ms until it ends, or kills it once limit has passed.
inline curio::Task<ChildEnd> wait_for_child(pid_t child, curio::Clock::duration limit) {
  ChildEnd end;
  auto deadline = curio::clock() + limit;
  for (;;) {
    if (::waitpid(child, &end.status, WNOHANG) == child) break;
    if (curio::clock() > deadline) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &end.status, 0);
      end.killed = true;
      break;
    }
    co_await curio::sleep(std::chrono::milliseconds(10));
  }
  co_return end;
}

}  // namespace curio_test
