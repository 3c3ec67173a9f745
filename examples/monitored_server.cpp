// The echo server with the monitor on: connect with `curio-monitor` (or `nc 127.0.0.1 48802`)
// and type ps, where ID, cancel ID... Each connection's task is named after its connection id,
// a TaskLocal that its log lines show. A client that sends "hog" makes its task hog the kernel
// thread for 3 s, to see that ps and where still answer (and show it RUNNING).
//   monitored_server [--port N] [--monitor-port M]   (defaults 25000 and 48802; 0 picks one)
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "curio/curio.hpp"

using namespace std::chrono_literals;

curio::TaskLocal<std::string> connection_id{"-"};

void log(const char* what) {
  std::printf("[%s] %s\n", connection_id.get().c_str(), what);
  std::fflush(stdout);
}

curio::Task<> echo_client(curio::Socket client, curio::SocketAddress) {
  static int connections = 0;
  connection_id.set("conn-" + std::to_string(++connections));
  curio::current_task().set_name(connection_id.get());  // what ps shows
  log("connected");
  for (;;) {
    std::string data = co_await client.recv(100000);  // `where` shows this line
    if (data.empty()) break;
    if (data == "hog\n") {  // a demo of a task that blocks the kernel: the monitor still answers
      log("hogging the kernel thread for 3 s");
      auto until = std::chrono::steady_clock::now() + 3s;
      while (std::chrono::steady_clock::now() < until) {
      }
    }
    co_await client.sendall(data);
  }
  log("closed");
}

// Something to look at besides the connections: a daemon that wakes up every second.
curio::Task<> heartbeat() {
  for (;;) co_await curio::sleep(1s);
}

int main(int argc, char** argv) {
  std::uint16_t port = 25000, monitor_port = curio::kMonitorPort;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0) port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--monitor-port") == 0) monitor_port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
  }
  curio::run(
      [](std::uint16_t port) -> curio::Task<> {
        auto where = curio::monitor_address();
        std::printf("echo server on 127.0.0.1:%u, monitor on %s:%u\n", port, where->host.c_str(), where->port);
        std::fflush(stdout);
        curio::spawn(heartbeat(), {.daemon = true, .name = "heartbeat"});
        co_await curio::tcp_server("127.0.0.1", port, echo_client);
      }(port),
      {.monitor = true, .monitor_port = monitor_port});
}
