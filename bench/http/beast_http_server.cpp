// The C++ peer of examples/http_server for bench/http/run.sh: Boost.Beast 1.81, one thread, one
// io_context, a C++20 coroutine per connection (Beast's own async idiom). GET / answers the same
// 14-byte body with the same fields (Server, Date, Content-Type, Content-Length) and keep-alive.
//   beast_http_server [--port N]     (127.0.0.1, default 18082)
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

static const char* http_date() {
  static std::time_t last = 0;
  static char text[64];
  std::time_t now = std::time(nullptr);
  if (now != last) {
    std::tm tm;
    gmtime_r(&now, &tm);
    std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    last = now;
  }
  return text;
}

static asio::awaitable<void> session(tcp::socket socket) {
  beast::flat_buffer buffer;
  socket.set_option(tcp::no_delay(true));
  try {
    for (;;) {
      http::request<http::string_body> req;
      co_await http::async_read(socket, buffer, req, asio::use_awaitable);
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.set(http::field::server, "beast");
      res.set(http::field::date, http_date());
      res.set(http::field::content_type, "text/plain");
      res.keep_alive(req.keep_alive());
      res.body() = "Hello, World!\n";
      res.prepare_payload();
      co_await http::async_write(socket, res, asio::use_awaitable);
      if (!res.keep_alive()) break;
    }
  } catch (const std::exception&) {
    // end of stream or reset: the client is gone
  }
  beast::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
}

static asio::awaitable<void> listen(tcp::acceptor acceptor) {
  for (;;) {
    tcp::socket s = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(acceptor.get_executor(), session(std::move(s)), asio::detached);
  }
}

int main(int argc, char** argv) {
  unsigned short port = 18082;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--port") == 0) port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
  asio::io_context ioc{1};
  tcp::acceptor acceptor(ioc);
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  acceptor.open(ep.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(4096);
  std::printf("beast http server on 127.0.0.1:%u\n", port);
  std::fflush(stdout);
  asio::co_spawn(ioc, listen(std::move(acceptor)), asio::detached);
  ioc.run();
}
