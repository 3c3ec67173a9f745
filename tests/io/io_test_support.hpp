// Helpers shared by the io and net tests: loopback listeners on ephemeral ports, connected TCP
// pairs, temporary directories for Unix sockets, and counting this process's open descriptors.
#pragma once

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <utility>

#include "core/test_support.hpp"

namespace curio_test {

// A TCP socket listening on 127.0.0.1 at a port chosen by the system (read it with
// getsockname().port()).
inline curio::Socket loopback_listener(int backlog = 16) {
  curio::Socket s(AF_INET, SOCK_STREAM);
  s.bind(curio::SocketAddress::ipv4("127.0.0.1", 0));
  s.listen(backlog);
  return s;
}

// A connected TCP pair over loopback: {client side, server side}.
inline curio::Task<std::pair<curio::Socket, curio::Socket>> tcp_pair() {
  curio::Socket listener = loopback_listener();
  curio::Socket client(AF_INET, SOCK_STREAM);
  auto connecting = curio::spawn(client.connect(listener.getsockname()));
  auto [server, peer] = co_await listener.accept();
  co_await connecting.join();
  co_return std::pair<curio::Socket, curio::Socket>(std::move(client), std::move(server));
}

// Sets an int-valued socket option through the raw descriptor (for buffer sizes).
inline void set_buffer_sizes(curio::Socket& s, int bytes) {
  s.setsockopt(SOL_SOCKET, SO_SNDBUF, bytes);
  s.setsockopt(SOL_SOCKET, SO_RCVBUF, bytes);
}

// Sends without waiting until the socket's send buffer (and the peer's receive buffer) are
// full. Returns how many bytes went out.
inline std::size_t fill_send_buffer(curio::Socket& s) {
  std::string chunk(65536, 'f');
  std::size_t total = 0;
  for (;;) {
    ssize_t n = ::send(s.fileno(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) return total;
    total += static_cast<std::size_t>(n);
  }
}

// Number of entries in /proc/self/fd (the directory stream's own descriptor included, the
// same at every call).
inline int open_fd_count() {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

// A fresh temporary directory, removed (with the socket file inside) when it goes away.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/curio-test-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    path_ = p ? p : "";
  }
  ~TempDir() {
    if (!path_.empty()) {
      ::unlink(file("sock").c_str());
      ::rmdir(path_.c_str());
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  bool ok() const { return !path_.empty(); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A repeating byte pattern (not periodic at any power of two), to check data arrives intact.
inline std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + i / 251) % 251);
  return s;
}

}  // namespace curio_test
