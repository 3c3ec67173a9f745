// curio/io/socket_recv.hpp: SocketRecv, what Socket::recv returns. `co_await sock.recv(n)`
// gives up to n bytes, exactly as a Task would, but the operation runs inside the awaiting
// frame: a connection idle in recv holds this object in its handler's frame and nothing else
// (no coroutine frame of its own), and the kernel performs the read when the edge arrives.
// Like any awaitable it can be handed to spawn, timeout_after, all/any.
#pragma once

#include <coroutine>
#include <cstdint>
#include <string>

#include "curio/core/awaitable.hpp"
#include "curio/core/task.hpp"
#include "curio/core/traps.hpp"
#include "curio/io/detail/fd_handle.hpp"

namespace curio {

class Socket;
namespace detail {
std::size_t ring_recv_hand_over(RingWaiter& w, const char* p, std::size_t n) noexcept;
}

class SocketRecv : private detail::Traps::IoAttemptAwaiter {
 public:
  // Awaited at once (or moved into spawn/timeout_after first). The socket must outlive it.
  SocketRecv(SocketRecv&& o) noexcept;
  SocketRecv& operator=(SocketRecv&&) = delete;
  ~SocketRecv();

  // A read of at most maxsize bytes (clamped to the thread's 64 KiB read buffer) through the
  // poller, on any backend. Socket::recv makes one (or, with completion sockets on io_uring,
  // the other kind); there is no need to call this yourself.
  SocketRecv(Socket& socket, std::size_t maxsize, int flags) noexcept;

  // As a Task of its own (a frame, as recv was before it became an awaitable), for code that
  // stores it or passes it where a Task<std::string> is expected.
  operator Task<std::string>() && { return detail::as_task(std::move(*this)); }

  // Tries the read at once unless the last one drained the socket; otherwise registers the wait.
  bool await_ready();
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> h);
  std::string await_resume();

 private:
  friend class Socket;
  friend std::size_t detail::ring_recv_hand_over(detail::RingWaiter& w, const char* p, std::size_t n) noexcept;
  // The io_uring completion path on an OS kernel older than 6.0, until a multishot recv has
  // worked in this process: a coroutine, awaited inline, that retries on readiness if the OS
  // kernel refuses the multishot recv.
  explicit SocketRecv(Task<std::string> completion) noexcept;
  // The io_uring completion path once one has: frame-free too. The multishot recv's completion
  // makes the bytes into data_ in place of ring_ (kHandedOver) and wakes the task; bytes that
  // arrived while nobody waited are taken from the socket's state by await_resume.
  struct OnRing {};
  SocketRecv(Socket& socket, std::size_t maxsize, OnRing) noexcept;

  bool read_now(int fd) noexcept;                                         // one recv(2); false if it would block
  static bool read_on_edge(detail::Traps::IoAttemptAwaiter& a) noexcept;  // the attempt
  void use_readiness() noexcept;  // leaves the completion path (the OS kernel lacks it)
  [[noreturn]] void raise_error() const;

  static constexpr std::uint32_t kCompletion = ~std::uint32_t{0};  // maxsize_ of the coroutine path
  static constexpr std::int32_t kOnRing = -1;                      // flags_ of the frame-free completion path
  static constexpr std::int32_t kHandedOver = -2;  // flags_ once that path's completion put the bytes in data_

  Socket* socket_ = nullptr;
  std::uint32_t maxsize_ = 0;
  std::int32_t flags_ = 0;
  union {
    std::string data_;              // the readiness path: what the read returned
    Task<std::string> completion_;  // maxsize_ == kCompletion
    detail::RingWaiter ring_;       // flags_ == kOnRing (data_ once kHandedOver)
  };
};

}  // namespace curio
