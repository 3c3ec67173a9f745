// Message passing between processes with a Channel (curio.channel): the parent accepts a
// worker process on a Unix socket, both prove they know the shared key (HMAC challenge), then
// the parent sends jobs as values and the worker answers each. Replace the Unix address by
// SocketAddress::ipv4(...) and the same program talks across machines.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "curio/curio.hpp"

using curio::Task;

struct Job {
  int id;
  std::string text;
};
struct Answer {
  int id;
  std::size_t words;
};

// Jobs and answers travel through user codecs ("id|text" and "id|words").
template <>
struct curio::ChannelCodec<Job> {
  static void encode(const Job& j, std::string& out) { out += std::to_string(j.id) + "|" + j.text; }
  static Job decode(std::string_view b) {
    auto bar = b.find('|');
    return Job{std::stoi(std::string(b.substr(0, bar))), std::string(b.substr(bar + 1))};
  }
};
template <>
struct curio::ChannelCodec<Answer> {
  static void encode(const Answer& a, std::string& out) { out += std::to_string(a.id) + "|" + std::to_string(a.words); }
  static Answer decode(std::string_view b) {
    auto bar = b.find('|');
    return Answer{std::stoi(std::string(b.substr(0, bar))), std::stoul(std::string(b.substr(bar + 1)))};
  }
};

static const char* kKey = "example shared key";

// The worker process: connect, then answer jobs until an empty one.
Task<> worker(curio::SocketAddress address) {
  curio::Channel ch(address);
  curio::Connection c = co_await ch.connect(std::string(kKey));
  for (;;) {
    Job job = co_await c.recv<Job>();
    if (job.text.empty()) break;
    std::size_t words = 0;
    bool in_word = false;
    for (char ch : job.text) {
      if (ch != ' ' && !in_word) ++words;
      in_word = ch != ' ';
    }
    Answer answer{job.id, words};  // named: GCC 12 mis-destroys a braced aggregate inside co_await
    co_await c.send(answer);
  }
}

Task<int> coordinator(curio::Channel& ch) {
  curio::Connection c = co_await curio::timeout_after(5.0, ch.accept(std::string(kKey)));
  std::printf("worker connected and authenticated\n");
  const char* texts[] = {"the quick brown fox", "jumps over", "the lazy dog again and again"};
  const std::size_t expected[] = {4, 2, 6};
  int failures = 0;
  for (int i = 0; i < 3; ++i) {
    Job job{i, texts[i]};
    co_await c.send(job);
    Answer a = co_await curio::timeout_after(5.0, c.recv<Answer>());
    std::printf("job %d: \"%s\" has %zu words\n", a.id, texts[i], a.words);
    if (a.id != i || a.words != expected[i]) ++failures;
  }
  Job done{-1, ""};
  co_await c.send(done);
  co_return failures;
}

int main() {
  char dir[] = "/tmp/curio-channel-XXXXXX";
  if (!::mkdtemp(dir)) return 2;
  std::string path = std::string(dir) + "/channel.sock";
  int failures = 1;
  {
    curio::Channel ch(curio::SocketAddress::unix_path(path));
    ch.bind();  // before the fork: the worker can connect at once
    pid_t pid = ::fork();
    if (pid == 0) {  // the worker: _exit, so the parent's Channel is never destroyed here
      try {
        curio::run(worker(ch.address()));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "worker: %s\n", e.what());
        ::_exit(1);
      }
      ::_exit(0);
    }
    if (pid < 0) return 2;
    try {
      failures = curio::run(coordinator(ch));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "coordinator: %s\n", e.what());
      ::kill(pid, SIGKILL);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
  }
  ::rmdir(dir);
  std::printf("%s\n", failures == 0 ? "all answers correct" : "FAILED");
  return failures == 0 ? 0 : 1;
}
