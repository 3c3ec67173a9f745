// An HTTP/1.1 server in plain task code: one task per connection, read top to bottom.
//   http_server [--port N] [--static DIR] [--idle-timeout S] [--request-timeout S] [--kernels N]
// Listens on 127.0.0.1 (default port 8080; --port 0 picks a free one and prints it). With
// --kernels N (0: one per CPU), N kernels on N threads serve, each accepting on its own
// SO_REUSEPORT listener (tcp_server's kernels option; needs a fixed port). Routes:
//   GET|HEAD /             a fixed small body ("Hello, World!\n")
//   POST|PUT /echo         the request body back (Content-Length or chunked; Expect: 100-continue)
//   GET|HEAD /static/NAME  the file NAME of DIR (only [A-Za-z0-9._-], no leading dot)
// Keep-alive and pipelining (answered in order); Connection: close. Limits: a request head over
// 8 KiB is 431, a body over 1 MiB 413, a malformed request 400, an unknown method 501, a known
// one a route does not take 405. A keep-alive connection idle for --idle-timeout seconds
// (default 30) is closed; a request must arrive whole within --request-timeout seconds of its
// first byte (default 10; else 408), so a slowloris client cannot hold a task forever.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>

#include "curio/curio.hpp"

using curio::Task;
namespace http = curio::http;

struct Options {
  std::uint16_t port = 8080;
  std::string static_dir;  // "" : /static/ serves nothing (404)
  double idle_timeout = 30;
  double request_timeout = 10;
  std::size_t kernels = 1;
} options;

constexpr std::string_view kHello = "Hello, World!\n";

struct Response {
  int status = 200;
  std::string body;
  std::string_view content_type = "text/plain";
  std::string extra_headers;  // complete lines, e.g. "Allow: GET, HEAD\r\n"
  bool head_only = false;     // HEAD: Content-Length of the body, but no body
  bool close = false;         // the connection ends after this response
};

// "Date: ..." is required of an origin server with a clock (RFC 9110 6.6.1); formatted once a
// second, per kernel thread (with --kernels N each thread keeps its own copy).
std::string_view http_date() {
  thread_local std::time_t last = 0;
  thread_local char text[64];
  std::time_t now = std::time(nullptr);
  if (now != last) {
    std::tm tm;
    gmtime_r(&now, &tm);
    std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    last = now;
  }
  return text;
}

std::string serialize(const Response& r, bool keep_alive, int version_minor) {
  std::string out;
  out.reserve(160 + r.body.size());
  out += version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  out += http::reason_phrase(r.status);
  out += "\r\nServer: curio\r\nDate: ";
  out += http_date();
  out += "\r\nContent-Type: ";
  out += r.content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(r.body.size());
  out += "\r\n";
  if (!keep_alive)
    out += "Connection: close\r\n";
  else if (version_minor == 0)
    out += "Connection: keep-alive\r\n";
  out += r.extra_headers;
  out += "\r\n";
  if (!r.head_only) out += r.body;
  return out;
}

// An error answer; close: after it the connection ends (the request could not be framed or read).
Response error(int status, std::string message, bool close = true) {
  Response r;
  r.status = status;
  r.body = std::move(message) + "\n";
  r.close = close;
  return r;
}

Response method_not_allowed(std::string_view allow) {
  Response r = error(405, "method not allowed", false);
  r.extra_headers = "Allow: " + std::string(allow) + "\r\n";
  return r;
}

bool safe_file_name(std::string_view name) {
  if (name.empty() || name.front() == '.') return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

std::string_view content_type_of(std::string_view name) {
  if (name.ends_with(".html")) return "text/html";
  if (name.ends_with(".txt")) return "text/plain";
  if (name.ends_with(".json")) return "application/json";
  return "application/octet-stream";
}

Task<Response> static_file(std::string_view name) {
  if (options.static_dir.empty() || !safe_file_name(name)) co_return error(404, "not found", false);
  try {
    curio::AsyncFile f = co_await curio::aopen(options.static_dir + "/" + std::string(name), "rb");
    Response r;
    r.body = co_await f.read();
    r.content_type = content_type_of(name);
    co_await f.close();
    co_return r;
  } catch (curio::SystemError&) {
    co_return error(404, "not found", false);  // missing, unreadable, or a directory
  }
}

// One request, from its parsed head to the response (without sending it). Reads the body.
Task<Response> handle(const http::RequestHead& req, http::RequestReader& reader, curio::SocketStream& stream) {
  if (!http::is_standard_method(req.method())) co_return error(501, "method not implemented");
  std::string_view path = req.path();
  bool get = req.method() == "GET" || req.method() == "HEAD";

  if (path == "/echo" && (req.method() == "POST" || req.method() == "PUT")) {
    if (req.content_length() > reader.limits().max_body) co_return error(413, "body too large");  // before 100
    if (req.expects_continue()) co_await stream.write("HTTP/1.1 100 Continue\r\n\r\n");
    Response r;
    r.body = co_await reader.read_body(req);
    r.content_type = "application/octet-stream";
    co_return r;
  }

  // Everything else takes no body: one that is announced is read and dropped (bounded by the
  // body limit), or, if the client waits for 100-continue, refused by closing after the answer.
  bool close = false;
  if (req.has_body()) {
    if (req.expects_continue())
      close = true;
    else
      co_await reader.read_body(req);
  }
  Response r;
  if (path == "/") {
    if (!get) co_return method_not_allowed("GET, HEAD");
    r.body = kHello;
  } else if (path == "/echo") {
    co_return method_not_allowed("POST, PUT");
  } else if (path.starts_with("/static/")) {
    if (!get) co_return method_not_allowed("GET, HEAD");
    r = co_await static_file(path.substr(8));
  } else {
    r = error(404, "not found", false);
  }
  r.head_only = req.method() == "HEAD";
  r.close = r.close || close;
  co_return r;
}

// One connection: requests one after another until the client closes, asks to close, goes
// idle, or sends something the server must refuse.
Task<> serve_client(curio::Socket client, curio::SocketAddress) {
  client.set_nodelay();  // each response goes out in one write; no Nagle delay behind it
  curio::SocketStream stream(client);
  http::RequestReader reader(stream);
  try {
    for (;;) {
      // Between requests: the keep-alive idle timeout (nothing is owed to a silent client).
      std::optional<bool> more = co_await curio::ignore_after(options.idle_timeout, reader.wait_request());
      if (!more || !*more) break;

      Response r;
      int version_minor = 1;
      bool keep_alive = false;
      try {
        // From its first byte, the whole request must arrive within the request timeout.
        co_await curio::timeout_after(options.request_timeout, [&]() -> Task<> {
          http::RequestHead req = co_await reader.read_head();
          version_minor = req.version_minor();
          keep_alive = req.keep_alive();
          r = co_await handle(req, reader, stream);
        }());
      } catch (http::HttpError& e) {
        r = error(e.status(), e.what());
      } catch (curio::TaskTimeout&) {
        r = error(408, "request not received in time");
      }
      keep_alive = keep_alive && !r.close;
      co_await stream.write(serialize(r, keep_alive, version_minor));
      if (!keep_alive) break;
    }
    // A lingering close: stop sending, then drop what the client still sends for a moment,
    // so that closing with unread bytes does not reset the connection before it read the answer.
    try {
      client.shutdown(SHUT_WR);
    } catch (curio::SystemError&) {
      co_return;  // ENOTCONN: the client already reset the connection
    }
    co_await curio::ignore_after(1.0, [&]() -> Task<> {
      for (std::size_t dropped = 0; dropped < (1u << 20);) {
        std::string data = co_await stream.read();
        if (data.empty()) break;
        dropped += data.size();
      }
    }());
  } catch (curio::EofError&) {
    // The client went away in the middle of a request: nobody to answer.
  } catch (http::HttpError&) {
    // Over 8 KiB of empty lines before a request (wait_request): not HTTP; closed unanswered.
  } catch (curio::SystemError&) {
    // Reset, broken pipe, not connected: the client is gone; nothing to report.
  }
}

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view flag = argv[i];
    if (flag == "--port")
      options.port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    else if (flag == "--static")
      options.static_dir = argv[i + 1];
    else if (flag == "--idle-timeout")
      options.idle_timeout = std::atof(argv[i + 1]);
    else if (flag == "--request-timeout")
      options.request_timeout = std::atof(argv[i + 1]);
    else if (flag == "--kernels")
      options.kernels = static_cast<std::size_t>(std::atoi(argv[i + 1]));
    else {
      std::fprintf(stderr,
                   "usage: %s [--port N] [--static DIR] [--idle-timeout S] [--request-timeout S] [--kernels N]\n",
                   argv[0]);
      return 2;
    }
  }
  if (options.kernels != 1) {
    // Every kernel binds its own listener to the same port, so the port must be known up front.
    if (options.port == 0) {
      std::fprintf(stderr, "%s: --kernels needs a fixed --port\n", argv[0]);
      return 2;
    }
    if (options.kernels == 0) options.kernels = curio::usable_cpu_count();
    std::printf("http server on 127.0.0.1:%u (%zu kernels)\n", options.port, options.kernels);
    std::fflush(stdout);
    curio::run(curio::tcp_server("127.0.0.1", options.port, serve_client, {.kernels = options.kernels}));
    return 0;
  }
  curio::Socket listener = curio::tcp_server_socket("127.0.0.1", options.port);
  std::printf("http server on 127.0.0.1:%u\n", listener.getsockname().port());
  std::fflush(stdout);
  curio::run(curio::run_server(std::move(listener), serve_client));
}
