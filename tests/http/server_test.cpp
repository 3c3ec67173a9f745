// examples/http_server driven over loopback: keep-alive, pipelining, Content-Length and chunked
// bodies, Connection: close, Expect: 100-continue, each limit and its status code, the static
// route, and the idle and per-request (slowloris) timeouts. The server runs as its own process
// (started once for the suite) with --idle-timeout 0.5 --request-timeout 0.5; the clients here
// are plain blocking sockets with a 5 s receive timeout, so a hung server fails a test instead
// of hanging it.
// Timing tolerance: a timeout of 0.5 s must fire after at least 0.3 s (the kernel timer is
// exact; 0.2 s is slack for the test's own clock) and before 4 s (a loaded 2-core machine).
#ifdef CURIO_HTTP_SERVER_PATH  // set by tests/CMakeLists.txt when the examples are built
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

pid_t server_pid = -1;
int server_port = 0;
std::string static_dir;
std::string server_log;  // the server's stderr: a handler that crashed is reported there

// A response as the client sees it.
struct Reply {
  int status = 0;
  std::string head;  // status line and fields
  std::string body;
};

class Client {
 public:
  Client() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(server_port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ADD_FAILURE() << "connect failed";
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;

  void send(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ADD_FAILURE() << "send failed";
        return;
      }
      off += static_cast<std::size_t>(n);
    }
  }
  bool try_send(const std::string& data) { return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) > 0; }
  // false at end of stream or on the receive timeout.
  // EINTR is retried: a blocking socket with SO_RCVTIMEO returns it instead of restarting, and
  // the io_uring kernels that earlier tests in this process ran leave task work behind them
  // (the ring's teardown) that interrupts this thread's next blocking call.
  bool more() {
    char b[65536];
    ssize_t n;
    do n = ::recv(fd_, b, sizeof b, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    buf_.append(b, static_cast<std::size_t>(n));
    return true;
  }
  // The next response (status 0 if the connection ended first). head_request: no body follows.
  Reply read(bool head_request = false) {
    Reply r;
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!more()) return r;
    r.head = buf_.substr(0, end + 4);
    buf_.erase(0, end + 4);
    r.status = std::atoi(r.head.c_str() + 9);
    std::size_t cl = r.head.find("Content-Length: ");
    std::size_t n = cl == std::string::npos || head_request ? 0 : std::stoul(r.head.substr(cl + 16));
    while (buf_.size() < n)
      if (!more()) return Reply{};
    r.body = buf_.substr(0, n);
    buf_.erase(0, n);
    return r;
  }
  // True if the server closed the connection (end of stream with nothing more sent).
  bool closed() {
    if (!buf_.empty()) return false;
    char b;
    ssize_t n;
    do n = ::recv(fd_, &b, 1, 0);
    while (n < 0 && errno == EINTR);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }
  // Closes with a reset (SO_LINGER 0) instead of a FIN.
  void reset() {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  std::string buf_;
};

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}
std::string post(const std::string& path, const std::string& body, const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra +
         "\r\n" + body;
}

std::string server_log_text() {
  std::ifstream log(server_log);
  return std::string((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Starts examples/http_server with args (stdout: the line naming its port; stderr: to
// server_log); returns its pid and sets port from that line (0 if the line has none).
pid_t start_http_server(std::vector<std::string> args, int& port) {
  int out[2];
  if (::pipe(out) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  posix_spawn_file_actions_addopen(&fa, 2, server_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  args.insert(args.begin(), CURIO_HTTP_SERVER_PATH);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  std::string line;
  char c;
  while (::read(out[0], &c, 1) == 1 && c != '\n') line += c;
  ::close(out[0]);
  std::size_t colon = line.rfind(':');
  port = colon == std::string::npos ? 0 : std::atoi(line.c_str() + colon + 1);
  return pid;
}

class HttpServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char dir[] = "/tmp/curio-http-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    static_dir = dir;
    std::ofstream(static_dir + "/hello.txt") << "static content\n";
    server_log = static_dir + "/server.log";
    server_pid = start_http_server(
        {"--port", "0", "--static", static_dir, "--idle-timeout", "0.5", "--request-timeout", "0.5"}, server_port);
    ASSERT_GT(server_pid, 0);
    ASSERT_GT(server_port, 0) << "the server did not name its port";
  }
  static void TearDownTestSuite() {
    if (server_pid > 0) {
      ::kill(server_pid, SIGTERM);
      ::waitpid(server_pid, nullptr, 0);
    }
    std::remove((static_dir + "/hello.txt").c_str());
    std::remove(server_log.c_str());
    ::rmdir(static_dir.c_str());
  }
};

}  // namespace

// --- routes ---

TEST_F(HttpServer, RootAnswersTheFixedBody) {
  Client c;
  c.send(get("/"));
  Reply r = c.read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Hello, World!\n");
  EXPECT_NE(r.head.find("Date: "), std::string::npos);
}

TEST_F(HttpServer, HeadAnswersTheLengthWithoutABody) {
  Client c;
  c.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n" + get("/"));
  Reply r = c.read(true);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.head.find("Content-Length: 14"), std::string::npos);
  EXPECT_EQ(c.read().body, "Hello, World!\n");  // the next response starts right after the head
}

TEST_F(HttpServer, EchoReturnsAContentLengthBody) {
  Client c;
  c.send(post("/echo", "some bytes\r\nhere"));
  Reply r = c.read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "some bytes\r\nhere");
}

TEST_F(HttpServer, EchoReturnsADecodedChunkedBody) {
  Client c;
  c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  c.send("7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n");
  Reply r = c.read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello, world");
}

TEST_F(HttpServer, StaticFileIsServed) {
  Client c;
  c.send(get("/static/hello.txt"));
  Reply r = c.read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "static content\n");
  EXPECT_NE(r.head.find("Content-Type: text/plain"), std::string::npos);
}

TEST_F(HttpServer, StaticNamesOutsideTheDirectoryAre404) {
  Client c;
  for (const char* p :
       {"/static/../server_test", "/static/.hidden", "/static/a/b", "/static/missing.txt", "/static/"}) {
    c.send(get(p));
    EXPECT_EQ(c.read().status, 404) << p;
  }
}

TEST_F(HttpServer, UnknownPathIs404AndKeepsTheConnection) {
  Client c;
  c.send(get("/nothing-here"));
  EXPECT_EQ(c.read().status, 404);
  c.send(get("/"));
  EXPECT_EQ(c.read().status, 200);
}

// --- connection management ---

TEST_F(HttpServer, KeepAliveServesManyRequestsOnOneConnection) {
  Client c;
  for (int i = 0; i < 50; ++i) {
    c.send(post("/echo", "request " + std::to_string(i)));
    ASSERT_EQ(c.read().body, "request " + std::to_string(i));
  }
}

TEST_F(HttpServer, PipelinedRequestsAreAnsweredInOrder) {
  Client c;
  std::string batch;
  for (int i = 0; i < 20; ++i) batch += (i % 3 == 1) ? get("/missing") : post("/echo", std::to_string(i));
  c.send(batch);
  for (int i = 0; i < 20; ++i) {
    Reply r = c.read();
    if (i % 3 == 1) {
      EXPECT_EQ(r.status, 404) << i;
    } else {
      EXPECT_EQ(r.status, 200) << i;
      EXPECT_EQ(r.body, std::to_string(i));
    }
  }
}

TEST_F(HttpServer, ConnectionCloseEndsTheConnectionAfterTheResponse) {
  Client c;
  c.send(get("/", "Connection: close\r\n") + get("/"));
  Reply r = c.read();
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.head.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(c.closed());  // the pipelined second request is not answered
}

TEST_F(HttpServer, Http10ClosesUnlessAskedToKeepAlive) {
  Client a;
  a.send("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(a.read().status, 200);
  EXPECT_TRUE(a.closed());
  Client b;
  b.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  Reply r = b.read();
  EXPECT_NE(r.head.find("HTTP/1.0 200"), std::string::npos);
  EXPECT_NE(r.head.find("Connection: keep-alive"), std::string::npos);
  b.send("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(b.read().status, 200);
}

TEST_F(HttpServer, ExpectContinueGets100BeforeTheBodyIsSent) {
  Client c;
  c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  Reply interim = c.read(true);
  EXPECT_EQ(interim.status, 100);
  c.send("data");
  Reply r = c.read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "data");
}

TEST_F(HttpServer, ExpectContinueOnARouteWithoutBodiesGetsTheFinalAnswerAndClose) {
  Client c;
  c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(c.read().status, 405);
}

TEST_F(HttpServer, BodyOfARequestToARouteWithoutBodiesIsDroppedNotParsed) {
  Client c;
  c.send("GET /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 19\r\n\r\nGET /x HTTP/1.1\r\n\r\n" + get("/"));
  EXPECT_EQ(c.read().status, 405);
  EXPECT_EQ(c.read().status, 200);  // the body was not taken for a request
}

TEST_F(HttpServer, ClientVanishingMidRequestDoesNotDisturbOthers) {
  {
    Client gone;
    gone.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc");
  }
  Client c;
  c.send(get("/"));
  EXPECT_EQ(c.read().status, 200);
}

TEST_F(HttpServer, ClientsResettingInAnyStateAreNotReportedAsCrashes) {
  for (int i = 0; i < 5; ++i) {
    Client idle;  // reset while the server waits for a request
    idle.send(get("/"));
    idle.read();
    idle.reset();
    Client mid;  // reset in the middle of a request
    mid.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\nab");
    mid.reset();
    Client closing;  // reset while the server lingers after Connection: close
    closing.send(get("/", "Connection: close\r\n"));
    closing.read();
    closing.reset();
  }
  Client c;  // the server still serves, and said nothing
  c.send(get("/"));
  EXPECT_EQ(c.read().status, 200);
  EXPECT_EQ(server_log_text(), "");
}

TEST_F(HttpServer, EndlessEmptyLinesCloseTheConnectionWithoutACrashReport) {
  Client c;
  std::string blank;
  for (int i = 0; i < 5000; ++i) blank += "\r\n";
  c.try_send(blank);
  EXPECT_TRUE(c.closed());
  Client d;  // the server goes on
  d.send(get("/"));
  EXPECT_EQ(d.read().status, 200);
  EXPECT_EQ(server_log_text().find("Crash"), std::string::npos);
}

// --- limits and status codes ---

TEST_F(HttpServer, HeadersOver8KiBAre431AndClose) {
  Client c;
  c.send(get("/", "X-Big: " + std::string(9000, 'a') + "\r\n"));
  Reply r = c.read();
  EXPECT_EQ(r.status, 431);
  EXPECT_NE(r.head.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(c.closed());
}

TEST_F(HttpServer, RequestLineOver8KiBIs431) {
  Client c;
  c.send("GET /" + std::string(8300, 'p') + " HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(c.read().status, 431);
}

TEST_F(HttpServer, HeadersJustUnder8KiBAreAccepted) {
  Client c;
  std::string req = get("/", "X-Big: " + std::string(8000, 'a') + "\r\n");
  ASSERT_LE(req.size(), 8192u);
  c.send(req);
  EXPECT_EQ(c.read().status, 200);
}

TEST_F(HttpServer, MalformedRequestIs400) {
  for (const char* bad :
       {"GET / HTTP/1.1\r\nHost : t\r\n\r\n", "GET /\r\n\r\n", "GET / HTTP/1.1\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"}) {
    Client c;
    c.send(bad);
    EXPECT_EQ(c.read().status, 400) << bad;
  }
}

TEST_F(HttpServer, MalformedChunkedBodyIs400) {
  Client c;
  c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  EXPECT_EQ(c.read().status, 400);
}

TEST_F(HttpServer, UnknownMethodIs501) {
  Client c;
  c.send("BREW / HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(c.read().status, 501);
}

TEST_F(HttpServer, MethodARouteDoesNotTakeIs405WithAllow) {
  Client c;
  c.send("DELETE / HTTP/1.1\r\nHost: t\r\n\r\n");
  Reply r = c.read();
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.head.find("Allow: GET, HEAD"), std::string::npos);
  c.send(get("/echo"));
  r = c.read();
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.head.find("Allow: POST, PUT"), std::string::npos);
}

TEST_F(HttpServer, BodyOver1MiBIs413) {
  Client c;
  c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n");
  EXPECT_EQ(c.read().status, 413);
}

TEST_F(HttpServer, UnsupportedVersionIs505) {
  Client c;
  c.send("GET / HTTP/2.0\r\nHost: t\r\n\r\n");
  EXPECT_EQ(c.read().status, 505);
}

// --- timeouts (0.5 s each in this suite; tolerance in the header comment) ---

TEST_F(HttpServer, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  Client c;
  c.send(get("/"));
  ASSERT_EQ(c.read().status, 200);
  auto t = Clock::now();
  EXPECT_TRUE(c.closed());
  double s = seconds_since(t);
  EXPECT_GE(s, 0.3);
  EXPECT_LT(s, 4.0);
}

TEST_F(HttpServer, RequestNotCompletedInTimeIs408) {
  Client c;
  auto t = Clock::now();
  c.send("GET / HTTP/1.1\r\nHost: t\r\n");  // the head never ends
  Reply r = c.read();
  double s = seconds_since(t);
  EXPECT_EQ(r.status, 408);
  EXPECT_GE(s, 0.3);
  EXPECT_LT(s, 4.0);
  EXPECT_TRUE(c.closed());
}

TEST_F(HttpServer, SlowlorisTrickleCannotExtendTheRequestTimeout) {
  Client c;
  auto t = Clock::now();
  c.send("GET / HTTP/1.1\r\n");
  // A byte every 100 ms keeps the connection busy but never finishes the head.
  std::thread trickle([&] {
    for (int i = 0; i < 30 && seconds_since(t) < 3.5; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!c.try_send("X")) break;  // the server closed the connection
    }
  });
  Reply r = c.read();
  double s = seconds_since(t);
  trickle.join();
  EXPECT_EQ(r.status, 408);
  EXPECT_LT(s, 3.0);  // before the trickle (up to 3.5 s) would have ended on its own
}

TEST_F(HttpServer, SlowBodyIs408) {
  Client c;
  c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(c.read().status, 408);
}

// --- --kernels N ---

// With --kernels 2 two kernels accept on the same port (SO_REUSEPORT): every connection is
// served, whichever kernel the Linux kernel hands it to.
TEST(HttpServerKernels, TwoKernelsServeEveryConnectionOnOnePort) {
  int probe = ::socket(AF_INET, SOCK_STREAM, 0);  // a free port (released just before the start)
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(probe);
  std::string port = std::to_string(ntohs(a.sin_port));
  char dir[] = "/tmp/curio-http-kernels-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  server_log = std::string(dir) + "/server.log";
  int said_port = 0;
  pid_t pid = start_http_server({"--port", port, "--kernels", "2"}, said_port);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(said_port, std::atoi(port.c_str()));
  server_port = said_port;
  // The kernels bind their listeners after the line is printed: wait until one accepts (5 s).
  for (auto t = Clock::now(); seconds_since(t) < 5;) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  {
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 20; ++i) clients.push_back(std::make_unique<Client>());
    for (int i = 0; i < 20; ++i) {
      clients[i]->send(post("/echo", "client " + std::to_string(i)));
      EXPECT_EQ(clients[i]->read().body, "client " + std::to_string(i));
    }
  }
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) || WIFSIGNALED(status));
  EXPECT_EQ(server_log_text().find("Crash"), std::string::npos) << server_log_text();
  std::remove(server_log.c_str());
  ::rmdir(dir);
}

TEST(HttpServerKernels, KernelsWithoutAFixedPortIsAUsageError) {
  char dir[] = "/tmp/curio-http-kernels-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  server_log = std::string(dir) + "/server.log";
  int said_port = 0;
  pid_t pid = start_http_server({"--port", "0", "--kernels", "2"}, said_port);
  ASSERT_GT(pid, 0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(server_log_text().find("--kernels needs a fixed --port"), std::string::npos) << server_log_text();
  std::remove(server_log.c_str());
  ::rmdir(dir);
}

#endif  // CURIO_HTTP_SERVER_PATH
