// tools/curio-monitor.cpp: the monitor's client (curio's `python -m curio.monitor`).
//   curio-monitor [HOST:PORT | PORT]      default 127.0.0.1:48802
// Line editing (left/right, home/end, backspace, ctrl-U/K/W) and history (up/down) on a terminal;
// commands from a pipe are sent line by line. Plain `nc 127.0.0.1 48802` works too.
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

constexpr std::string_view kPrompt = "curio > ";

int connect_to(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    std::fprintf(stderr, "curio-monitor: cannot resolve %s: %s\n", host.c_str(), ::gai_strerror(rc));
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = res; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype, 0);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    ::close(fd);
    fd = -1;
  }
  int err = errno;
  ::freeaddrinfo(res);
  if (fd < 0)
    std::fprintf(stderr, "curio-monitor: cannot connect to %s:%s: %s (is the program running with CURIO_MONITOR=1?)\n",
                 host.c_str(), port.c_str(), std::strerror(err));
  return fd;
}

// Reads from the server until it shows its prompt (printed by the caller) or closes. Returns
// false when the connection is gone.
bool read_answer(int fd, std::string& pending) {
  char buf[4096];
  for (;;) {
    if (pending.size() >= kPrompt.size() &&
        pending.compare(pending.size() - kPrompt.size(), kPrompt.size(), kPrompt) == 0) {
      std::fwrite(pending.data(), 1, pending.size() - kPrompt.size(), stdout);
      std::fflush(stdout);
      pending.clear();
      return true;
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::fwrite(pending.data(), 1, pending.size(), stdout);
      std::fflush(stdout);
      return false;
    }
    pending.append(buf, static_cast<std::size_t>(n));
  }
}

bool send_line(int fd, const std::string& line) {
  std::string out = line + "\n";
  std::size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// A small line editor on a raw terminal.
class LineEditor {
 public:
  LineEditor() {
    if (::tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios raw = saved_;
      raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
      raw.c_cc[VMIN] = 1;
      raw.c_cc[VTIME] = 0;
      ok_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
  }
  ~LineEditor() {
    if (ok_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  // nullopt at end of input (ctrl-D on an empty line).
  std::optional<std::string> read_line() {
    std::string line;
    std::size_t cur = 0;
    std::size_t hist = history_.size();
    redraw(line, cur);
    for (;;) {
      int c = get();
      if (c < 0) return std::nullopt;
      if (c == '\n' || c == '\r') {
        std::fputs("\n", stdout);
        if (!line.empty() && (history_.empty() || history_.back() != line)) history_.push_back(line);
        return line;
      }
      if (c == 4) {  // ctrl-D
        if (line.empty()) return std::nullopt;
        if (cur < line.size()) line.erase(cur, 1);
      } else if (c == 127 || c == 8) {
        if (cur > 0) line.erase(--cur, 1);
      } else if (c == 1) {
        cur = 0;
      } else if (c == 5) {
        cur = line.size();
      } else if (c == 21) {  // ctrl-U
        line.erase(0, cur);
        cur = 0;
      } else if (c == 11) {  // ctrl-K
        line.erase(cur);
      } else if (c == 23) {  // ctrl-W
        std::size_t start = cur;
        while (start > 0 && line[start - 1] == ' ') --start;
        while (start > 0 && line[start - 1] != ' ') --start;
        line.erase(start, cur - start);
        cur = start;
      } else if (c == 27) {  // escape sequences: arrows, home, end, delete
        int a = get(), b = get();
        if (a != '[' && a != 'O') continue;
        if (b == 'D' && cur > 0) --cur;
        if (b == 'C' && cur < line.size()) ++cur;
        if (b == 'H') cur = 0;
        if (b == 'F') cur = line.size();
        if (b == 'A' && hist > 0) {
          line = history_[--hist];
          cur = line.size();
        }
        if (b == 'B' && hist < history_.size()) {
          ++hist;
          line = hist < history_.size() ? history_[hist] : std::string();
          cur = line.size();
        }
        if (b == '3' && get() == '~' && cur < line.size()) line.erase(cur, 1);
      } else if (c >= 32 && c < 127) {
        line.insert(cur++, 1, static_cast<char>(c));
      }
      redraw(line, cur);
    }
  }

 private:
  static int get() {
    unsigned char ch;
    for (;;) {
      ssize_t n = ::read(STDIN_FILENO, &ch, 1);
      if (n == 1) return ch;
      if (n < 0 && errno == EINTR) continue;
      return -1;
    }
  }
  static void redraw(const std::string& line, std::size_t cur) {
    std::printf("\r\x1b[K%.*s%s", static_cast<int>(kPrompt.size()), kPrompt.data(), line.c_str());
    if (cur < line.size()) std::printf("\x1b[%zuD", line.size() - cur);
    std::fflush(stdout);
  }
  termios saved_{};
  bool ok_ = false;
  std::vector<std::string> history_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", port = "48802";
  if (argc > 2 || (argc == 2 && (std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0))) {
    std::fprintf(stderr, "usage: curio-monitor [HOST:PORT | PORT]   (default 127.0.0.1:48802)\n");
    return argc > 2 ? 2 : 0;
  }
  if (argc == 2) {
    std::string a = argv[1];
    if (auto colon = a.rfind(':'); colon != std::string::npos) {
      host = a.substr(0, colon);
      port = a.substr(colon + 1);
      if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    } else {
      port = a;
    }
  }
  int fd = connect_to(host, port);
  if (fd < 0) return 1;
  std::string pending;
  if (!read_answer(fd, pending)) return 1;  // the banner
  bool tty = ::isatty(STDIN_FILENO);
  std::optional<LineEditor> editor;
  if (tty) editor.emplace();
  for (;;) {
    std::optional<std::string> line;
    if (editor) {
      line = editor->read_line();
    } else {
      std::string l;
      if (std::getline(std::cin, l)) line = l;
    }
    if (!line) line = "exit";
    if (!send_line(fd, *line)) break;
    if (!read_answer(fd, pending)) break;  // "exit" ends here: the server closes
  }
  ::close(fd);
  return 0;
}
