// libuv echo server for bench/memory, written the way libuv's own guide writes one (uvbook's
// tcp-echo-server): a malloc'd uv_tcp_t per connection, uv_read_start whose alloc callback hands
// out a buffer only when data has arrived, uv_write of that buffer, close on EOF or error.
//   echo_libuv_server PORT | --port PORT
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

struct WriteReq {
  uv_write_t req;
  uv_buf_t buf;
};

void on_close(uv_handle_t* handle) { std::free(handle); }

// Called by libuv when the socket is readable, just before it reads: an idle connection holds
// no buffer.
void alloc_buffer(uv_handle_t*, size_t suggested_size, uv_buf_t* buf) {
  buf->base = static_cast<char*>(std::malloc(suggested_size));
  buf->len = static_cast<decltype(buf->len)>(suggested_size);
}

void on_write(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteReq*>(req);
  if (status < 0) std::fprintf(stderr, "write: %s\n", uv_strerror(status));
  std::free(w->buf.base);
  std::free(w);
}

void on_read(uv_stream_t* client, ssize_t nread, const uv_buf_t* buf) {
  if (nread > 0) {
    auto* w = static_cast<WriteReq*>(std::malloc(sizeof(WriteReq)));
    w->buf = uv_buf_init(buf->base, static_cast<unsigned>(nread));
    uv_write(&w->req, client, &w->buf, 1, on_write);
    return;  // on_write frees the buffer
  }
  if (nread < 0) {
    if (nread != UV_EOF) std::fprintf(stderr, "read: %s\n", uv_err_name(static_cast<int>(nread)));
    uv_close(reinterpret_cast<uv_handle_t*>(client), on_close);
  }
  std::free(buf->base);  // nread == 0 (EAGAIN) or the connection is closing
}

void on_new_connection(uv_stream_t* server, int status) {
  if (status < 0) {
    std::fprintf(stderr, "accept: %s\n", uv_strerror(status));
    return;
  }
  auto* client = static_cast<uv_tcp_t*>(std::malloc(sizeof(uv_tcp_t)));
  uv_tcp_init(server->loop, client);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(client)) == 0)
    uv_read_start(reinterpret_cast<uv_stream_t*>(client), alloc_buffer, on_read);
  else
    uv_close(reinterpret_cast<uv_handle_t*>(client), on_close);
}

}  // namespace

int main(int argc, char** argv) {
  int port = 27106;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc)
      port = std::atoi(argv[++i]);
    else
      port = std::atoi(argv[i]);
  }
  uv_loop_t* loop = uv_default_loop();
  uv_tcp_t server;
  uv_tcp_init(loop, &server);
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", port, &addr);
  int r = uv_tcp_bind(&server, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (r == 0) r = uv_listen(reinterpret_cast<uv_stream_t*>(&server), 4096, on_new_connection);
  if (r != 0) {
    std::fprintf(stderr, "bind/listen on %d: %s\n", port, uv_strerror(r));
    return 1;
  }
  return uv_run(loop, UV_RUN_DEFAULT);
}
