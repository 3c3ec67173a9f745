// src/core/poller.hpp: the seam between the kernel loop and the operating system's I/O
// notification (private). The kernel registers each descriptor once (edge-triggered readiness),
// waits with a timeout, and gets back a batch of events that it dispatches to waiting tasks.
// A completion backend also runs whole operations (IoOp, curio/core/detail/io_op.hpp): submit,
// cancel, and completions returned by the same wait, dispatched by the kernel to each op's callback.
// Two backends implement it, each in its own file: epoll_poller.cpp and uring_poller.cpp.
// Nothing outside src/core includes this header, and nothing at all includes a backend's header.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "curio/core/detail/io_op.hpp"
#include "curio/core/kernel.hpp"

namespace curio::detail {

struct FdRegistration;

// One readiness report. reg == nullptr is the kernel's inbox eventfd.
struct PollEvent {
  FdRegistration* reg;
  bool readable;
  bool writable;
  bool hangup;  // hang-up, error or urgent data: a short read no longer proves the buffer drained
};

// One completion of a submitted IoRequest. buffer >= 0: a provided buffer that holds c.data; the
// kernel gives it back (recycle) right after the op's callback ran.
struct OpEvent {
  IoRequest* op;
  IoCompletion c;
  int buffer;
};

class Poller {
 public:
  virtual ~Poller() = default;
  virtual IoBackend backend() const noexcept = 0;
  // Starts edge-triggered readiness reports for reg.fd (both directions, writability possibly
  // only while want_write asks for it); raises SystemError.
  virtual void add(FdRegistration& reg) = 0;
  // A task now waits to write reg.fd (reg.writer is set; it saw EAGAIN). A backend may report
  // writability only from here on, once (io_uring: idle sockets, all writable, then post
  // nothing); epoll's standing edge-triggered interest needs nothing.
  virtual void want_write(FdRegistration&) noexcept {}
  // Stops them. After it returns no event names reg, even if the descriptor is closed at once.
  virtual void remove(FdRegistration& reg) noexcept = 0;
  // Waits up to timeout_ms (-1: no limit, 0: only what is already there) and appends the
  // readiness events to out and the op completions to ops. An interrupted wait (EINTR) returns
  // normally with what it has. Queued submissions go to the OS kernel in the same system call.
  virtual void wait(int timeout_ms, std::vector<PollEvent>& out, std::vector<OpEvent>& ops) = 0;

  // --- completions (epoll supports none: its layers use readiness for everything) ---
  virtual bool supports(IoOpKind) const noexcept { return false; }
  // Queues op (submitted by the next wait or flush). The op record must stay alive and
  // unchanged until its last completion (more == false) was dispatched. Raises SystemError.
  virtual void submit(IoRequest& op) = 0;
  // Asks the OS kernel to end op early. Its last completion still arrives: -ECANCELED, or its
  // real result if it completed first. Does nothing if op is not in flight.
  virtual void cancel(IoRequest& op) noexcept = 0;
  // Cancels every op in flight (kernel shutdown); their completions still arrive.
  virtual void cancel_all_ops() noexcept {}
  // Gives a provided buffer (OpEvent::buffer) back to the OS kernel.
  virtual void recycle(int buffer) noexcept = 0;
  // Ops submitted and not yet finished (their records must stay alive). Not virtual: a busy
  // kernel reads it every cycle (the virtual call cost the sleep(0) yield about 8%).
  std::size_t ops_in_flight() const noexcept { return in_flight_; }
  // The single-shot ones among them: each holds the frame of the task that awaits it.
  std::size_t ops_awaited() const noexcept { return awaited_; }
  // Provided receive buffers that may hold resident pages (in the OS kernel's ring, lent, or
  // handed back and not released yet): KernelStats::recv_buffers.
  virtual std::size_t recv_buffers() const noexcept { return 0; }
  // Polls that found completions past the full completion ring: KernelStats::ring_overflows.
  virtual std::size_t ring_overflows() const noexcept { return 0; }
  // The kernel is about to run on another thread than before (a Kernel may run on different
  // threads one after the other). Readiness seen before may be reported again.
  virtual void moved_to_this_thread() {}
  // A descriptor that polls readable while reports are waiting (Kernel::pollable_fd, for
  // embedding in another event loop), and a hand-over of queued requests to the OS kernel so
  // that they can fire while the kernel is not in wait().
  virtual int pollable_descriptor() = 0;
  virtual void flush() {}

 protected:
  std::size_t in_flight_ = 0;  // kept by a completion backend
  std::size_t awaited_ = 0;    // likewise
};

// A burst (10,000 connections ready in one poll) grows the vectors a poll fills to its size;
// kept, that capacity would cost tens of bytes per connection for good (docs/performance.md,
// "After a burst"). Past a thousand entries, a vector is given back once a poll
// fills less than a quarter of it (call it after the poll's entries were used).
template <class Entries>
void give_back_after_burst(Entries& v) noexcept {
  constexpr std::size_t kKeep = 1024;
  if (v.capacity() > kKeep && v.size() < v.capacity() / 4) Entries().swap(v);
}

// Each throws SystemError if the backend cannot be set up. inbox_fd is watched for reading.
std::unique_ptr<Poller> make_epoll_poller(int inbox_fd);
std::unique_ptr<Poller> make_uring_poller(int inbox_fd);

}  // namespace curio::detail
