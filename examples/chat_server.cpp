// A chat server: every line a client sends is broadcast to every connected client. Each client
// has an outgoing Queue drained by its own writer task, so one slow client never stalls the
// others (its queue is bounded: if it falls too far behind it is disconnected).
//   chat_server [--port N]      (127.0.0.1, default 25000); try it with several `nc 127.0.0.1 25000`
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>

#include "curio/curio.hpp"

using curio::Task;

namespace {

using Outbox = curio::Queue<std::string>;
std::set<Outbox*> clients;

void broadcast(const std::string& line) {
  for (Outbox* out : clients)
    if (!out->try_put(line)) out->close();  // too far behind: its writer ends, so does it
}

Task<> writer(curio::SocketStream& stream, Outbox& out) {
  try {
    for (;;) co_await stream.write(co_await out.get());
  } catch (const curio::QueueClosed&) {
  }
}

Task<> chat_client(curio::Socket sock, curio::SocketAddress address) {
  auto stream = sock.as_stream();
  Outbox out(256);
  clients.insert(&out);
  broadcast(address.to_string() + " joined\n");
  curio::TaskGroup g(curio::GroupWait::Any);  // whichever side ends first ends the client
  try {
    co_await g.scope([&]() -> Task<> {
      g.spawn(writer(stream, out));
      g.spawn([&]() -> Task<> {
        while (auto line = co_await stream.next_line(4096)) broadcast(address.to_string() + ": " + *line);
      });
      co_return;
    });
  } catch (const curio::TaskError& e) {
    // A reset (ConnectionError in the reader or the writer) is how a chat client often leaves.
    clients.erase(&out);
    if (!curio::is_connection_error(e.cause())) throw;
  } catch (...) {
    clients.erase(&out);
    throw;
  }
  clients.erase(&out);
  broadcast(address.to_string() + " left\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 25000;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--port") == 0) port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
  std::printf("chat server on 127.0.0.1:%u\n", port);
  std::fflush(stdout);
  curio::run(curio::tcp_server("127.0.0.1", port, chat_client));
}
