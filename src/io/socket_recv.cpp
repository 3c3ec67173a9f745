// src/io/socket_recv.cpp: Socket::recv without a coroutine frame. The read is tried at once
// unless the last one drained the socket; otherwise the awaiter waits on the poller as an
// IoAttemptAwaiter, and the kernel's I/O dispatch runs attempt() when the edge arrives: the
// read lands in the thread's scratch buffer and is copied into data_ there and then (the next
// dispatch reuses the buffer), and a stale edge (EAGAIN) just keeps the task waiting.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <new>

#include "curio/io/socket.hpp"
#include "ring_io.hpp"

namespace curio {

using detail::IoDirection;

SocketRecv::SocketRecv(Socket& socket, std::size_t maxsize, int flags) noexcept
    : socket_(&socket),
      maxsize_(static_cast<std::uint32_t>(std::min(maxsize, detail::read_scratch().size()))),
      flags_(flags),
      data_() {}

SocketRecv::SocketRecv(Task<std::string> completion) noexcept
    : maxsize_(kCompletion), completion_(std::move(completion)) {}

SocketRecv::SocketRecv(Socket& socket, std::size_t maxsize, OnRing) noexcept
    : socket_(&socket),
      maxsize_(static_cast<std::uint32_t>(std::min(maxsize, detail::read_scratch().size()))),
      flags_(kOnRing),
      ring_() {}

namespace detail {

// The completion found Socket::recv's awaiter waiting (ring_recv_suspend registered its ring_):
// the bytes become its data_ right there, so they need no buffer in the socket's state on the
// way (one allocation per read instead of two, and none kept by a burst of woken readers).
std::size_t ring_recv_hand_over(RingWaiter& w, const char* p, std::size_t n) noexcept {
  // ring_ is a member of the awaiter's union; the awaiter is not standard-layout, but offsetof
  // works on it as on any class without virtual bases (conditionally supported: GCC, Clang).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
  constexpr std::size_t kRingAt = offsetof(SocketRecv, ring_);
#pragma GCC diagnostic pop
  auto& r = *reinterpret_cast<SocketRecv*>(reinterpret_cast<char*>(&w) - kRingAt);
  std::size_t k = std::min<std::size_t>(n, r.maxsize_);
  try {
    std::string bytes(p, k);
    r.ring_.~RingWaiter();
    new (&r.data_) std::string(std::move(bytes));
  } catch (...) {
    return 0;
  }
  r.flags_ = SocketRecv::kHandedOver;
  return k;
}

}  // namespace detail

SocketRecv::SocketRecv(SocketRecv&& o) noexcept
    : IoAttemptAwaiter(o), socket_(o.socket_), maxsize_(o.maxsize_), flags_(o.flags_) {
  if (maxsize_ == kCompletion)
    new (&completion_) Task<std::string>(std::move(o.completion_));
  else if (flags_ == kOnRing)
    new (&ring_) detail::RingWaiter(o.ring_);
  else
    new (&data_) std::string(std::move(o.data_));
}

SocketRecv::~SocketRecv() {
  if (maxsize_ == kCompletion)
    completion_.~Task();
  else if (flags_ == kOnRing)
    ring_.~RingWaiter();
  else
    data_.~basic_string();
}

void SocketRecv::use_readiness() noexcept {
  ring_.~RingWaiter();
  flags_ = 0;
  new (&data_) std::string();
}

bool SocketRecv::read_now(int fd) noexcept {
  std::span<char> buf = detail::read_scratch();
  for (;;) {
    ssize_t n = ::recv(fd, buf.data(), maxsize_, flags_);
    if (n >= 0) {
      // A short read from a stream socket drained it: the next read waits for an edge first.
      if (socket_->stream_ && n > 0 && static_cast<std::uint32_t>(n) < maxsize_ && !(flags_ & MSG_PEEK))
        socket_->fd_.drained(IoDirection::Read);
      try {
        data_.assign(buf.data(), static_cast<std::size_t>(n));
      } catch (...) {
        error = ENOMEM;
      }
      return true;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (detail::would_block(err)) return false;
    error = err;
    return true;
  }
}

bool SocketRecv::await_ready() {
  if (maxsize_ == kCompletion) return false;
  detail::FdHandle& fd = socket_->fd_;
  if (flags_ == kOnRing) {
    if (fd.fd() < 0) {
      error = EBADF;
      return true;
    }
    if (maxsize_ == 0) return true;
    ring_.st = &fd.ring_or_make();
    return detail::ring_recv_ready(*ring_.st);
  }
  if (fd.may_be_ready(IoDirection::Read) && read_now(fd.fd())) return true;
  // Would block: wait for the next edge (registers the descriptor on its first wait).
  static_cast<IoAwaiter&>(*this) = fd.wait(IoDirection::Read, true);
  has_attempt = true;
  attempt = &SocketRecv::read_on_edge;
  return false;
}

std::coroutine_handle<> SocketRecv::await_suspend(std::coroutine_handle<> h) {
  if (maxsize_ == kCompletion) return completion_.operator co_await().await_suspend(h);  // runs it inline
  if (flags_ == kOnRing) {
    bool fell_back = false;
    if (detail::ring_recv_suspend(socket_->fd_, ring_, h, fell_back)) return std::noop_coroutine();
    if (!fell_back) return h;  // a cancellation was pending, or the socket is busy: await_resume raises
    use_readiness();           // no provided-buffer ring in this OS kernel: this read waits for readiness
    if (await_ready()) return h;
  }
  if (IoAwaiter::await_suspend(h)) return std::noop_coroutine();
  return h;  // not suspended (a cancellation was pending, or the socket is closed): await_resume raises
}

bool SocketRecv::read_on_edge(detail::Traps::IoAttemptAwaiter& a) noexcept {
  auto& self = static_cast<SocketRecv&>(a);
  if (self.read_now(self.reg->fd)) return true;
  self.reg->readable = false;  // a stale edge: wait for the next one
  return false;
}

std::string SocketRecv::await_resume() {
  if (maxsize_ == kCompletion) return completion_.operator co_await().await_resume();
  if (flags_ == kOnRing) {
    if (ring_.task) detail::Traps::rethrow_trap_error(ring_.task);
    if (error) raise_error();
    if (maxsize_ == 0) return {};
    if (socket_->fd_.ring() != ring_.st) throw SystemError(EBADF, "recv: the socket was closed");
    if (ring_.st->fallback && !detail::ring_recv_ready(*ring_.st))
      // Only the first multishot recv of a process can be refused, and that one runs in a frame
      // that retries on readiness (Socket::recv); a refusal after one worked is the OS kernel's.
      throw SystemError(EINVAL, "recv: the OS kernel refused the multishot recv it had accepted before");
    return detail::ring_recv_take(*ring_.st, maxsize_);
  }
  // The readiness path, or the completion path after ring_recv_hand_over (kHandedOver).
  if (task) detail::Traps::rethrow_trap_error(task);
  if (error) raise_error();
  return std::move(data_);
}

void SocketRecv::raise_error() const {
  if (error == ENOMEM) throw std::bad_alloc();
  throw_system_error("recv", error);
}

}  // namespace curio
