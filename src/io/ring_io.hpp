// src/io/ring_io.hpp: sockets on completions (io_uring kernels; private to src/io). A stream
// socket's reads come from one multishot recv into the kernel's provided buffers: the bytes go
// straight to the waiting reader, or are kept here until the next read (an idle connection
// holds no buffer: the recv waits in the OS kernel with none). A listener's multishot accept
// queues connections the same way. Other operations (send, connect, recvfrom...) are single ops
// awaited with the io_op trap; the one in flight per direction is recorded here so that closing
// the descriptor cancels it first.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "curio/core/traps.hpp"
#include "curio/io/detail/fd_handle.hpp"

namespace curio::detail {

struct RingRecvAwaiter;
struct RingAcceptAwaiter;

// The rarely used part of a socket's completion state, made when something has to wait in it
// and given back once a stream socket's is empty: an idle connection keeps only RingState.
struct RingBacklog {
  std::string pending;  // received bytes nobody read yet (from pos)
  std::size_t pos = 0;
  std::vector<int> accepted;  // accepted connections nobody took yet
  IoOp* reader_op = nullptr;  // a single-shot read-side op in flight (recvfrom)

  bool empty() const noexcept { return pending.size() == pos && accepted.empty() && !reader_op; }
};

// A socket's completion state: its multishot recv or accept (the IoRequest base, whose owner is
// the kernel the socket's ops run on) and what it delivered. 64 bytes, a frame-pool block: this
// is what an idle connection on completions keeps, as much as a poller registration on epoll.
struct RingState : IoRequest {
  enum class Mode : std::uint8_t { None, Recv, Accept };
  RingWaiter* waiter = nullptr;    // the task waiting for the multishot op
  IoOp* writer_op = nullptr;       // a send/connect in flight (cancelled by close)
  RingBacklog* backlog = nullptr;  // null while nothing waits unread
  int error = 0;                   // an errno the multishot op ended with, raised by the next read/accept
  Mode mode = Mode::None;
  bool eof : 1 = false;
  bool fallback : 1 = false;     // the OS kernel lacks the multishot op: this read/accept uses readiness
  bool delivered : 1 = false;    // the multishot op has completed at least once
  bool orphan : 1 = false;       // its FdHandle closed while the op was in flight: deleted by its last completion
  std::int8_t unix_domain = -1;  // AF_UNIX (1) or not (0); -1 until the first recv is armed
  std::uint8_t arrivals = 0;     // completions of the multishot recv since it was armed

  Kernel* kernel() const noexcept { return static_cast<Kernel*>(owner); }
  std::size_t buffered() const noexcept { return backlog ? backlog->pending.size() - backlog->pos : 0; }
  RingBacklog& backlog_or_make();
  void release_backlog_if_empty() noexcept;  // stream sockets only (a listener keeps its queue)
};

RingState* make_ring_state(int fd);
// Closes the state of a descriptor that is about to be closed: a task waiting on it gets EBADF,
// ops in flight are cancelled (the state lives on until their completions), queued connections
// are closed.
void ring_state_close(RingState* s) noexcept;

// Whether sockets use completions on io_uring kernels: yes unless the environment variable
// CURIO_URING_SOCKETS=0 (read once) asks for readiness through the ring, the path an OS kernel
// without the multishot ops falls back to (docs/io.md). Inline: every send asks.
bool read_ring_sockets_setting() noexcept;
inline bool ring_sockets_enabled() noexcept {
  static const bool enabled = read_ring_sockets_setting();
  return enabled;
}
// Whether this kernel runs socket operations of this kind on completions.
inline bool ring_socket_op(IoOpKind kind) noexcept { return ring_sockets_enabled() && io_op_supported(kind); }
// Sends on the ring are batched (a cycle's sends go to the OS kernel in one io_uring_enter), but
// each keeps its task's frame until its completion is reaped: when one reap wakes thousands of
// handlers (a burst), their thousands of send frames would exist at once, and the frame pool
// keeps its high-water mark for good. Past this many single-shot ops in flight on the kernel, a
// send is tried on the socket first, as on the readiness path, and goes to the ring only if
// the socket's buffer is full. (1,000 busy connections stay under it: docs/io.md.)
inline constexpr std::size_t kRingSendWindow = 1024;
// Whether a send on fd tries the socket first: past the window, and no send of this socket is
// in flight on the ring (its bytes must go first; the ring path then raises WriteResourceBusy).
inline bool ring_send_directly(const FdHandle& fd) noexcept {
  if (Traps::ops_awaited() < kRingSendWindow) return false;
  const RingState* st = fd.ring();
  return !st || !st->writer_op;
}

// Whether the multishot recv (provided-buffer rings: Linux 5.19; multishot recv: 6.0) and the
// multishot accept (5.19) were found missing: the opcode probe does not tell, so the first one
// that fails (registering the buffer ring, or -EINVAL where the plain call would not fail) says
// so, falls back to readiness and makes every later one use readiness (process-wide).
bool ring_multishot_missing(IoOpKind kind) noexcept;
// Tests (declared again in tests/uring): makes registering the provided-buffer ring fail as on
// Linux before 5.19 (on), so that stream reads fall back to readiness; off forgets the fallback.
void ring_pretend_no_provided_buffers(bool on) noexcept;
inline bool ring_sockets() noexcept {
  return ring_socket_op(IoOpKind::Recv) && !ring_multishot_missing(IoOpKind::Recv);
}
inline bool ring_accepts() noexcept {
  return ring_socket_op(IoOpKind::Accept) && !ring_multishot_missing(IoOpKind::Accept);
}

// Arms the multishot recv of st's socket if it is not in flight and registers w, Socket::recv's
// waiter, as its waiter. Returns true if the task suspended; false if not, with the error set on
// the task, or with fell_back (the OS kernel lacks the provided-buffer ring: use readiness, as
// every later read will).
bool ring_recv_suspend(FdHandle& fd, RingWaiter& w, std::coroutine_handle<> h, bool& fell_back);
// Hands the waiter that ring_recv_suspend registered its result: at most its cap of the n bytes
// at p, as a string that takes the place of w inside Socket::recv's awaiter (w is gone after it;
// defined in socket_recv.cpp). Returns how many it took: 0 if the string could not be allocated
// (then w is unchanged). So a read on completions costs one allocation, the string's.
std::size_t ring_recv_hand_over(RingWaiter& w, const char* p, std::size_t n) noexcept;
// Whether a read would not wait: bytes buffered, end of stream or an error.
inline bool ring_recv_ready(const RingState& st) noexcept { return st.buffered() > 0 || st.eof || st.error; }
// The buffered bytes, at most cap of them (moved out whole when they fit); empty at end of
// stream; raises the error the multishot recv ended with. Call only when ring_recv_ready().
std::string ring_recv_take(RingState& st, std::size_t cap);
// Whether some stream socket's multishot recv has worked in this process (not refused by an OS
// kernel without it): until then Socket::recv keeps its retry on readiness in a frame.
bool ring_recv_confirmed() noexcept;

// Reads into data[0..cap) or appends up to cap bytes to *str: from what is buffered, else waits
// for the multishot recv. Returns the byte count, 0 at end of stream; raises the recv error.
// A completion copies the bytes straight into the target while the task is suspended, except
// into the thread's read_scratch() (another task's completion in the same reap would overwrite
// them): those are kept in the socket and copied when the task resumes.
struct RingRecvAwaiter : RingWaiter {
  RingRecvAwaiter(FdHandle* f, char* d, std::string* s, std::size_t c) noexcept
      : fd(f), data(d), str(s), cap(c), direct(d != read_scratch().data()) {}
  FdHandle* fd;
  char* data = nullptr;
  std::string* str = nullptr;
  std::size_t cap = 0;
  bool direct = true;      // the completion may write into the target
  bool fell_back = false;  // nothing read: the OS kernel lacks the multishot recv, use readiness
  std::size_t got = 0;
  bool await_ready();
  bool await_suspend(std::coroutine_handle<> h);
  std::size_t await_resume();
  std::size_t take(const char* p, std::size_t n) noexcept;  // copies into the target
  // Its own undo: its address marks the waiter as one the completion may copy into directly.
  static void undo(FdWaitBase* p) noexcept;
};

// The next connection of a listener with a multishot accept: its descriptor (non-blocking,
// close-on-exec). Raises the accept error.
struct RingAcceptAwaiter : RingWaiter {
  explicit RingAcceptAwaiter(FdHandle* f) noexcept : fd(f) {}
  FdHandle* fd;
  int got = -1;
  bool fell_back = false;  // nothing accepted: the OS kernel lacks the multishot accept, use readiness
  bool await_ready();
  bool await_suspend(std::coroutine_handle<> h);
  int await_resume();
};

// Runs a single-shot op on fd (send, connect, recvfrom...) through the io_op trap and records it
// in the descriptor's state while in flight, so that close() cancels it. Returns res or -errno
// (-ECANCELED if the descriptor was closed meanwhile).
struct RingOpAwaiter : Traps::OpAwaiter {
  FdHandle* fd;
  RingState* st = nullptr;
  bool await_suspend(std::coroutine_handle<> h);
  int await_resume();
};
RingOpAwaiter ring_op(FdHandle& fd, IoOp& op);

}  // namespace curio::detail
