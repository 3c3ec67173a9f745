// src/parallel/parallel_server.cpp: tcp_server(..., {.kernels = n}). n new kernels, each with its
// own SO_REUSEPORT listener on the same port and its own run_server; the kernel that called
// tcp_server only waits for them (and stops them when it is cancelled).
#include "curio/core/cancellation.hpp"
#include "curio/net/network.hpp"
#include "parallel_run.hpp"

namespace curio::detail {

namespace {
Task<> serve_on_this_kernel(std::string host, std::uint16_t port, ClientHandler handler, ServerOptions options) {
  co_await run_server(tcp_server_socket(host, port, options), std::move(handler));
}
}  // namespace

Task<> tcp_server_on_kernels(std::string host, std::uint16_t port, ClientHandler handler, ServerOptions options) {
  Traps::current();  // AsyncOnlyError outside a task
  std::size_t n = options.kernels == 0 ? usable_cpu_count() : options.kernels;
  if (port == 0)
    throw RuntimeError(
        "curio::tcp_server: port 0 with several kernels would give each kernel a port of its own; "
        "reserve a port first (docs/parallel.md)");
  if (!handler) throw RuntimeError("curio::tcp_server: the handler is empty");
  options.kernels = 1;
  options.reuse_port = true;
  // Each kernel gets its own copies (made on its thread): the handler's captures are shared by
  // every kernel, so they must be safe to use from several threads.
  auto run = std::make_shared<ParallelRun>(
      n, [host, port, handler, options](std::size_t) { return serve_on_this_kernel(host, port, handler, options); },
      ParallelOptions{});
  run->start();
  std::exception_ptr cancelled;
  try {
    co_await remote_wait(run->finished());
  } catch (...) {
    cancelled = std::current_exception();
  }
  if (cancelled) {
    run->stop();
    co_await disable_cancellation(remote_wait(run->finished()));
    run->join();  // the threads are ending: finished() is their last act
    std::rethrow_exception(cancelled);
  }
  run->join();
  if (auto e = run->error()) std::rethrow_exception(e);
}

}  // namespace curio::detail
