// Where each byte of an idle curio connection goes: runs examples/echo_server's handler (the
// same code) in this process, with every operator new counted by size and the first caller of
// each size recorded; a forked child opens N idle connections. Prints the allocations that
// appeared per connection (with malloc's own overhead), the types' sizes, and the RSS growth.
//   echo_breakdown [--connections N]     (bench/memory/run.sh runs it; see docs/performance.md)
#include <cxxabi.h>
#include <execinfo.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <new>
#include <string>

#include "curio/core/detail/task_state.hpp"
#include "curio/curio.hpp"

namespace {

constexpr std::size_t kMaxTracked = 1 << 16;  // sizes at or above land in the last slot
std::array<std::atomic<long>, kMaxTracked + 1> live{};
std::atomic<bool> record_callers{false};
thread_local bool in_hook = false;
std::array<char*, kMaxTracked + 1> caller{};  // the first caller seen per size while recording

std::string demangle_frame(const char* sym) {
  std::string s = sym;
  auto open = s.find('('), plus = s.find('+', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || plus == std::string::npos || plus == open + 1) return s;
  std::string mangled = s.substr(open + 1, plus - open - 1);
  int status = 0;
  char* d = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : mangled;
  std::free(d);
  return out;
}

void note_caller(std::size_t slot) {
  if (caller[slot] || in_hook) return;
  in_hook = true;
  void* frames[12];
  int n = backtrace(frames, 12);
  char** syms = backtrace_symbols(frames, n);
  std::string chain;
  int shown = 0;
  for (int i = 2; i < n && shown < 3; ++i) {  // skip note_caller and operator new
    std::string f = syms ? demangle_frame(syms[i]) : "?";
    if (f.find("FramePool") != std::string::npos || f.find("operator new") != std::string::npos) continue;
    if (f.size() > 110) f = f.substr(0, 110) + "...";
    chain += (shown ? " <- " : "") + f;
    ++shown;
  }
  std::free(syms);
  caller[slot] = strdup(chain.c_str());
  in_hook = false;
}

}  // namespace

void* operator new(std::size_t n) {
  void* p = std::malloc(n + 16);
  if (!p) throw std::bad_alloc();
  *static_cast<std::size_t*>(p) = n;
  std::size_t slot = n < kMaxTracked ? n : kMaxTracked;
  live[slot].fetch_add(1, std::memory_order_relaxed);
  if (record_callers.load(std::memory_order_relaxed)) note_caller(slot);
  return static_cast<char*>(p) + 16;
}
void operator delete(void* p) noexcept {
  if (!p) return;
  char* base = static_cast<char*>(p) - 16;
  std::size_t n = *reinterpret_cast<std::size_t*>(base);
  live[n < kMaxTracked ? n : kMaxTracked].fetch_sub(1, std::memory_order_relaxed);
  std::free(base);
}
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete[](void* p) noexcept { operator delete(p); }
void operator delete[](void* p, std::size_t) noexcept { operator delete(p); }

// examples/echo_server.cpp's handler, verbatim.
curio::Task<> echo_client(curio::Socket client) {
  for (;;) {
    std::string data = co_await client.recv(100000);
    if (data.empty()) break;
    co_await client.sendall(data);
  }
}

namespace {

long rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string k;
  long v;
  while (f >> k)
    if (k == "VmRSS:" && f >> v) return v * 1024;
  return -1;
}
long open_fds() {
  long n = 0;
  for (auto& e : std::filesystem::directory_iterator("/proc/self/fd")) (void)e, ++n;
  return n;
}
// malloc's footprint of a request of n bytes (glibc: 8-byte header, 16-byte steps, 32 minimum).
std::size_t malloc_footprint(std::size_t n) { return std::max<std::size_t>(32, (n + 8 + 15) & ~std::size_t(15)); }

}  // namespace

int main(int argc, char** argv) {
  long n = 1000;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--connections") == 0) n = std::atol(argv[i + 1]);
  {
    void* f[2];
    backtrace(f, 2);
  }  // loads the unwinder before anything is counted

  curio::Socket listener = curio::tcp_server_socket("127.0.0.1", 0);
  std::uint16_t port = listener.getsockname().port();
  int go[2], done[2];
  if (::pipe(go) != 0 || ::pipe(done) != 0) return 1;
  pid_t child = ::fork();
  if (child == 0) {  // the client: n idle connections, held until the parent closes `go`
    ::close(go[1]);
    ::close(done[0]);
    char c;
    if (::read(go[0], &c, 1) != 1) _exit(1);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (long i = 0; i < n; ++i) {
      int s = ::socket(AF_INET, SOCK_STREAM, 0);
      if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) _exit(2);
    }
    if (::write(done[1], "x", 1) != 1) _exit(3);
    while (::read(go[0], &c, 1) > 0) {
    }
    _exit(0);
  }

  ::close(go[0]);
  ::close(done[1]);
  std::array<long, kMaxTracked + 1> before{};
  long rss_before = 0, fds_before = 0;
  auto main_task = [&]() -> curio::Task<> {
    curio::TaskHandle<void> server = curio::spawn(curio::run_server(std::move(listener), echo_client));
    // Warm up with one connection so lazily built structures exist before counting.
    {
      curio::Socket s = co_await curio::open_connection("127.0.0.1", port);
      co_await s.sendall("warm");
      co_await s.recv(16);
    }
    co_await curio::sleep(0.2);
    for (std::size_t i = 0; i <= kMaxTracked; ++i) before[i] = live[i].load();
    rss_before = rss_bytes();
    fds_before = open_fds();
    record_callers = true;
    if (::write(go[1], "g", 1) != 1) co_return;
    while (open_fds() < fds_before + n) co_await curio::sleep(0.02);
    co_await curio::sleep(0.3);  // every handler reaches its recv
    record_callers = false;
    long rss_after = rss_bytes();

    std::printf("curio echo_server breakdown, %ld idle connections (in-process count of operator new):\n\n", n);
    std::printf(
        "| bytes requested | blocks per connection | bytes per connection with malloc overhead | first caller |\n");
    std::printf("|---:|---:|---:|---|\n");
    double total = 0, total_req = 0;
    for (std::size_t i = 0; i <= kMaxTracked; ++i) {
      long d = live[i].load() - before[i];
      if (d <= 0) continue;
      double per = double(d) / double(n);
      double bytes = per * double(malloc_footprint(i + 16) - 16);  // our own 16-byte header excluded
      total += bytes;
      total_req += per * double(i);
      std::printf("| %zu%s | %.3f | %.1f | %s |\n", i, i == kMaxTracked ? "+" : "", per, bytes,
                  caller[i] ? caller[i] : "");
    }
    std::printf("\nrequested %.0f bytes per connection; %.0f with malloc's headers and rounding\n", total_req, total);
    std::printf("RSS growth in this process: %.0f bytes per connection (includes the counting header, 16 B/block)\n",
                double(rss_after - rss_before) / double(n));
    std::printf(
        "sizeof: TaskState %zu, Socket %zu, SocketAddress %zu, ClientHandler (std::function) %zu, std::string %zu\n",
        sizeof(curio::detail::TaskState), sizeof(curio::Socket), sizeof(curio::SocketAddress),
        sizeof(curio::ClientHandler), sizeof(std::string));
    std::fflush(stdout);
    ::close(go[1]);
    co_await server.cancel();
    co_return;
  };
  curio::run(main_task());
  ::waitpid(child, nullptr, 0);
}
