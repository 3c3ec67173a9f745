// The I/O backend under a kernel: KernelOptions, CURIO_BACKEND, auto-selection and the
// behaviour both backends must share (each test names the backend it runs on explicitly, so
// these run on both whatever CURIO_BACKEND the suite runs under).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "core/test_support.hpp"
#include "support/uring.hpp"

using namespace curio_test;
using curio::IoBackend;
using curio::Kernel;
using curio::KernelOptions;
using curio::Task;

namespace {

// Sets CURIO_BACKEND for one test and restores the suite's value afterwards.
class BackendEnv {
 public:
  explicit BackendEnv(const char* value) {
    if (const char* old = std::getenv("CURIO_BACKEND")) saved_ = old;
    if (value)
      ::setenv("CURIO_BACKEND", value, 1);
    else
      ::unsetenv("CURIO_BACKEND");
  }
  ~BackendEnv() {
    if (saved_)
      ::setenv("CURIO_BACKEND", saved_->c_str(), 1);
    else
      ::unsetenv("CURIO_BACKEND");
  }

 private:
  std::optional<std::string> saved_;
};

// An echo of three messages over a socketpair, a sleep and an EOF, on the kernel given.
Task<std::string> echo_round_trip() {
  auto [a, b] = curio::Socket::pair();
  auto echo = curio::spawn([&b = b]() -> Task<> {
    for (;;) {
      std::string data = co_await b.recv();
      if (data.empty()) co_return;
      co_await b.sendall(data);
    }
  });
  std::string got;
  for (const char* msg : {"one ", "two ", "three"}) {
    co_await curio::sleep(1ms);
    co_await a.sendall(msg);
    got += co_await a.recv();
  }
  a.shutdown(SHUT_WR);
  co_await echo.join();
  co_return got;
}

}  // namespace

TEST(Backend, NamesAreTheEnvironmentVariablesValues) {
  EXPECT_EQ(curio::to_string(IoBackend::Epoll), "epoll");
  EXPECT_EQ(curio::to_string(IoBackend::IoUring), "io_uring");
  EXPECT_EQ(curio::to_string(IoBackend::Auto), "auto");
}

TEST(Backend, EpollOptionGivesAnEpollKernel) {
  Kernel k(KernelOptions{.backend = IoBackend::Epoll});
  EXPECT_EQ(k.backend(), IoBackend::Epoll);
}

TEST(Backend, IoUringOptionGivesAnIoUringKernelOrAClearError) {
  try {
    Kernel k(KernelOptions{.backend = IoBackend::IoUring});
    EXPECT_EQ(k.backend(), IoBackend::IoUring);
  } catch (const curio::SystemError& e) {
    // Explicit io_uring never falls back silently.
    EXPECT_NE(std::string(e.what()).find("io_uring backend was requested"), std::string::npos) << e.what();
  }
}

TEST(Backend, AutoPicksIoUringWhereTheRingWorksElseEpoll) {
  BackendEnv env(nullptr);
  Kernel k;
  EXPECT_EQ(k.backend(), io_uring_works() ? IoBackend::IoUring : IoBackend::Epoll);
}

TEST(Backend, EnvironmentVariableChoosesTheBackendOfADefaultKernel) {
  {
    BackendEnv env("epoll");
    EXPECT_EQ(Kernel().backend(), IoBackend::Epoll);
  }
  if (io_uring_works()) {
    BackendEnv env("io_uring");
    EXPECT_EQ(Kernel().backend(), IoBackend::IoUring);
  }
  {
    BackendEnv env("auto");
    EXPECT_NE(Kernel().backend(), IoBackend::Auto);
  }
}

TEST(Backend, ExplicitOptionOutranksTheEnvironmentVariable) {
  BackendEnv env("io_uring");
  EXPECT_EQ(Kernel(KernelOptions{.backend = IoBackend::Epoll}).backend(), IoBackend::Epoll);
}

TEST(Backend, UnknownEnvironmentValueRaisesRuntimeErrorNamingIt) {
  BackendEnv env("kqueue");
  try {
    Kernel k;
    FAIL() << "a kernel was made with CURIO_BACKEND=kqueue";
  } catch (const curio::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("CURIO_BACKEND"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("kqueue"), std::string::npos) << e.what();
  }
}

TEST(Backend, EchoWorksOnEpoll) {
  Kernel k(KernelOptions{.backend = IoBackend::Epoll});
  EXPECT_EQ(k.run(echo_round_trip()), "one two three");
}

TEST(Backend, EchoWorksOnIoUring) {
  if (!io_uring_works()) GTEST_SKIP() << "io_uring cannot be set up here";
  Kernel k(KernelOptions{.backend = IoBackend::IoUring});
  EXPECT_EQ(k.run(echo_round_trip()), "one two three");
}

// The io_uring poll request holds a reference to the socket: closing a registered socket must
// still reach the peer at once, not at the kernel's next poll.
TEST(Backend, ClosingARegisteredSocketReachesThePeerAtOnceOnEachBackend) {
  for (IoBackend backend : {IoBackend::Epoll, IoBackend::IoUring}) {
    if (backend == IoBackend::IoUring && !io_uring_works()) continue;
    Kernel k(KernelOptions{.backend = backend});
    auto main = []() -> Task<ssize_t> {
      auto [a, b] = curio::Socket::pair();
      // Register a with the poller through a recv that times out.
      EXPECT_THROW(co_await curio::timeout_after(1ms, a.recv()), curio::TaskTimeout);
      a.close();
      char c;
      co_return ::recv(b.fileno(), &c, 1, MSG_DONTWAIT);  // no poll in between
    };
    EXPECT_EQ(k.run(main()), 0) << "backend " << curio::to_string(backend);
  }
}

// A descriptor number reused after a close (the poll request of the old one may still be in
// the ring) gets its own readiness, and the old one's reports go nowhere.
TEST(Backend, ManyRegistrationsClosedAndReopenedKeepWorkingOnEachBackend) {
  for (IoBackend backend : {IoBackend::Epoll, IoBackend::IoUring}) {
    if (backend == IoBackend::IoUring && !io_uring_works()) continue;
    Kernel k(KernelOptions{.backend = backend});
    auto main = []() -> Task<int> {
      int rounds = 0;
      for (int i = 0; i < 300; ++i) {
        auto [a, b] = curio::Socket::pair();
        auto reader = curio::spawn(a.recv());
        co_await curio::sleep(0s);
        co_await b.sendall("x");
        if (co_await reader.join() == "x") ++rounds;
      }
      co_return rounds;
    };
    EXPECT_EQ(k.run(main()), 300) << "backend " << curio::to_string(backend);
  }
}

// A kernel may run on one thread and then on another while the first one sleeps (here in
// join) and a third thread writes: its sockets' readiness must still arrive (io_uring may run a
// completion through the thread that submitted the request, so the ring is rebuilt).
TEST(Backend, KernelRunOnAnotherThreadKeepsItsSocketsWorkingOnEachBackend) {
  for (IoBackend backend : {IoBackend::Epoll, IoBackend::IoUring}) {
    if (backend == IoBackend::IoUring && !io_uring_works()) continue;
    Kernel k(KernelOptions{.backend = backend});
    auto [a, b] = curio::Socket::pair();
    k.run([](curio::Socket& a) -> Task<> {  // registers a on this thread
      EXPECT_THROW(co_await curio::timeout_after(1ms, a.recv()), curio::TaskTimeout);
    }(a));
    std::string got;
    std::thread other([&, &a = a, &b = b] {
      got = k.run([](curio::Socket& a, curio::Socket& b) -> Task<std::string> {
        std::thread writer([fd = b.fileno()] {
          std::this_thread::sleep_for(5ms);
          [[maybe_unused]] auto n = ::send(fd, "moved", 5, MSG_NOSIGNAL);
        });
        std::string data = co_await curio::timeout_after(2s, a.recv());
        writer.join();
        co_return data;
      }(a, b));
    });
    other.join();
    EXPECT_EQ(got, "moved") << "backend " << curio::to_string(backend);
    k.shutdown();
  }
}
