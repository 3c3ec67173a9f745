// curio/core/detail/io_op.hpp: IoOp, one I/O operation handed to the kernel's poller to run to
// completion (io_uring), as opposed to a readiness wait. Backend-neutral: the layer above fills
// it in, awaits it with curio::detail::io_op() (traps.hpp), and never sees the ring.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

namespace curio::detail {

// What an IoOp runs. Each is the system call of the same name, with its result or -errno.
enum class IoOpKind : std::uint8_t {
  Recv,      // fd, buf, len, flags (MSG_*); multishot: into the kernel's provided buffers, and
             // -ENOBUFS (its last) if they ran out while bytes waited: the caller reads them itself
  Send,      // fd, buf, len, flags (MSG_NOSIGNAL is added)
  Accept,    // fd, addr (sockaddr out, may be null), addrlen; flags: SOCK_NONBLOCK|SOCK_CLOEXEC...
  Connect,   // fd, addr (sockaddr in), addr_size
  Close,     // fd
  Shutdown,  // fd, flags = how
  RecvFrom,  // fd, msg (msghdr: buffer and peer address), flags
  SendTo,    // fd, msg, flags
  Read,      // fd, buf, len, offset (kCurrentPosition: the file's position, which it advances)
  Write,     // fd, buf, len, offset
  Fsync,     // fd; flags = 1: data only (fdatasync)
};
inline constexpr std::size_t kIoOpKinds = 11;
inline constexpr std::uint64_t kCurrentPosition = ~std::uint64_t{0};

struct IoRequest;

// One completion of an op. For a multishot Recv, data points at the received bytes in a buffer
// the backend lends for the duration of the callback only (it is given back right after).
struct IoCompletion {
  int res;           // >= 0: the call's result; < 0: -errno (-ECANCELED after a cancel)
  bool more;         // a multishot op stays in flight: more completions follow
  const char* data;  // multishot Recv with res > 0: the bytes; else nullptr
};
// Runs on the kernel's thread inside its I/O dispatch: it may only record the result,
// reschedule tasks, and submit or cancel ops (no user code, no frees of other ops).
using IoOpCallback = void (*)(IoRequest& op, const IoCompletion& c) noexcept;

// What the poller submits, cancels and completes: the part every op has. A multishot op (Recv
// into the kernel's provided buffers, Accept without the peer's address) is only this, 32 bytes:
// a socket's multishot op lives as long as the connection, so its size is paid per idle
// connection. Any other op is an IoOp, which adds the call's pointer arguments.
struct IoRequest {
  IoOpKind kind = IoOpKind::Recv;
  bool multishot = false;   // Accept, Recv: one submission, a completion per connection/arrival
  bool in_flight = false;   // submitted and its last completion not yet dispatched (the backend's)
  bool cancelling = false;  // a cancel was requested and not yet answered by the last completion
  int fd = -1;
  int flags = 0;
  union {                   // the call's one 32-bit argument, here where the header has room for it
    std::uint32_t len = 0;  // Recv, Send, Read, Write
    socklen_t addr_size;    // Connect
  };
  IoOpCallback on_complete = nullptr;
  void* owner = nullptr;  // for on_complete
};
static_assert(sizeof(IoRequest) == 32);

// A single-shot op: the request and its pointer arguments (the kinds that use none leave them
// unset). 48 bytes: the arguments no kind uses together share storage.
struct IoOp : IoRequest {
  union {
    void* buf = nullptr;  // Recv, Send, Read, Write
    sockaddr* addr;       // Accept (may be null), Connect
    msghdr* msg;          // RecvFrom, SendTo
  };
  union {
    std::uint64_t offset = kCurrentPosition;  // Read, Write
    socklen_t* addrlen;                       // Accept: in/out (ignored while addr is null)
  };
};
static_assert(sizeof(IoOp) == 48);
}  // namespace curio::detail
