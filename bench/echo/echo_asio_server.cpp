// The peer: Boost.Asio 1.81 echo server with C++20 coroutines, one io_context, one thread.
// Usage: echo_asio_server --port 25002 [--cpu 0]
#include <boost/asio.hpp>

#include "common.hpp"

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

awaitable<void> echo(tcp::socket socket) {
  char data[1024];
  try {
    for (;;) {
      std::size_t n = co_await socket.async_read_some(asio::buffer(data), use_awaitable);
      co_await asio::async_write(socket, asio::buffer(data, n), use_awaitable);
    }
  } catch (const std::exception&) {
  }
}

awaitable<void> listener(unsigned short port) {
  auto executor = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(executor, {asio::ip::address_v4::loopback(), port});
  acceptor.listen(4096);
  for (;;) {
    tcp::socket socket = co_await acceptor.async_accept(use_awaitable);
    socket.set_option(tcp::no_delay(true));
    asio::co_spawn(executor, echo(std::move(socket)), asio::detached);
  }
}

int main(int argc, char** argv) {
  echo_bench::raise_fd_limit();
  echo_bench::pin_to_cpu(static_cast<int>(echo_bench::arg(argc, argv, "--cpu", -1)));
  auto port = static_cast<unsigned short>(echo_bench::arg(argc, argv, "--port", 25002));
  asio::io_context ctx(1);
  asio::co_spawn(ctx, listener(port), asio::detached);
  ctx.run();
}
