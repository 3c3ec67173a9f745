// src/core/uring_poller.cpp: the io_uring backend of the poller seam (liburing). Readability comes
// from one multishot poll request per descriptor on the kernel's ring (edge-triggered, the same
// events epoll reports); a poll that the ring ends (no IORING_CQE_F_MORE) is re-armed at the end
// of the poll that read its last completion. Writability is polled only while a task waits for
// it (want_write: a one-shot poll). Completions past the full completion ring are taken in the
// same poll (see wait). Operations (IoRequest, IoOp) are requests on the same ring whose user_data is the op's
// address; a multishot recv takes its buffers from one provided-buffer ring per kernel, made on
// first use, whose size follows what the recvs use (see kBufCount). A non-blocking poll only reads the shared
// completion ring (no system call unless submissions are queued); a blocking one submits and waits in one
// io_uring_enter.
#include <liburing.h>
#include <poll.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "curio/core/traps.hpp"
#include "poller.hpp"

namespace curio::detail {
namespace {

// user_data of the ring's requests, told apart by the low 3 bits (an IoRequest is 8-aligned):
// 0 = a poll removal or a cancel (its completion is ignored), tag 0 otherwise = an IoRequest*,
// kInbox = the inbox's poll, tag kSlotTag = the standing poll of slots_[data >> 3], tag
// kWriteTag = its one-shot write poll.
constexpr std::uint64_t kIgnored = 0;
constexpr std::uint64_t kInbox = 2;
constexpr std::uint64_t kSlotTag = 1;
constexpr std::uint64_t kWriteTag = 3;
constexpr std::uint64_t kTagMask = 7;
constexpr std::uint64_t slot_data(std::uint32_t i) { return (std::uint64_t{i} << 3) | kSlotTag; }
constexpr std::uint64_t write_data(std::uint32_t i) { return (std::uint64_t{i} << 3) | kWriteTag; }

// The provided-buffer ring of multishot recvs. A buffer is lent only while bytes sit in it
// between a completion and its dispatch (the socket copies them out at once), so the count
// bounds the recv completions one reap can hold, not the connections: an exhausted ring ends a
// recv with ENOBUFS, which goes to the layer (it reads that socket with a plain recv).
//
// Resident memory follows use (decision, issue 10): the OS kernel takes provided buffers in
// FIFO order, so every buffer in the ring is touched (made resident) sooner or later. The
// buffers are one mapping of kBufCount ids (untouched pages cost nothing), but only the ids
// below limit_ circulate (in the ring or lent): kFirstBatch at first. A reap that found the ring
// dry (a recv ended with ENOBUFS) or lent at least half of limit_ doubles it, up to kBufCount:
// the next batch is provided at once. After kQuietNs in
// which no reap lent more than an eighth of limit_, limit_ drops to four times that peak (at
// least kFirstBatch): a recycled buffer at or above it is not provided again, and such buffers'
// pages are released at the next wait, one madvise(MADV_DONTNEED) per contiguous run of ids.
// Buffers above the new limit that still sit in the OS kernel's ring cannot be taken out of it,
// but their pages are released at the shrink all the same (dormant): the OS kernel writes into a
// provided buffer only in this thread (a recv completes in task work, which runs at the exit of
// this thread's system calls, never during the madvise), a page it writes later is simply
// faulted in again, and one it filled before (its completion not reaped yet) is left alone. A dormant buffer that comes
// out with bytes is parked when handed back. While the ring is grown, wait() sleeps at most until the quiet period
// ends, so a burst followed by silence gives its pages back within about two periods instead of holding them until
// traffic resumes.
constexpr unsigned kBufCount = 2048;  // a power of two
constexpr unsigned kBufSize = 4096;
constexpr unsigned kFirstBatch = 64;              // a power of two, at most kBufCount
constexpr std::int64_t kQuietNs = 1'000'000'000;  // how long use stays low before the ring shrinks
constexpr int kBufGroup = 1;

// The standing poll: reading, hang-up and urgent data (POLLERR and POLLHUP come anyway). Not
// POLLOUT: every idle socket is writable, so a standing write poll posts a completion each time
// it is armed, and a completion ring that overflowed (which ends multishot polls) was refilled
// at once by their re-arming: the overflow fed itself and real reports queued behind it
// (docs/reliability.md, "The io_uring finding").
constexpr unsigned kPollMask = POLLIN | POLLRDHUP | POLLPRI;

class UringPoller final : public Poller {
 public:
  explicit UringPoller(int inbox_fd) : inbox_fd_(inbox_fd) {
    setup_ring();
    probe_ops();
    arm(inbox_fd_, kInbox);
  }
  ~UringPoller() override {
    io_uring_queue_exit(&ring_);
    free_buffers();
  }

  IoBackend backend() const noexcept override { return IoBackend::IoUring; }

  // With cooperative task work (COOP_TASKRUN), a request's completion is run in the context of
  // the thread that submitted it, at its next transition into the OS kernel: a thread that now
  // sleeps elsewhere (e.g. joining the new one) may hold them back. Linux 6.18 was not seen to
  // (Backend.KernelRunOnAnotherThread... passes either way), but the contract does not promise
  // it, so a kernel that moves gets a fresh ring whose requests this thread submits: every live
  // descriptor is polled again (a new poll reports the current readiness, so no edge is lost)
  // and the old ring, with whatever it still held, is torn down.
  //
  // Operations in flight live in the ring (their records would never complete in a new one):
  // a kernel that moves while some are in flight keeps its ring.
  void moved_to_this_thread() override {
    if (in_flight_ > 0) return;
    io_uring old = ring_;
    try {
      setup_ring();
    } catch (...) {
      ring_ = old;  // keep the old ring (it still works, with the old thread's help)
      throw;
    }
    io_uring_queue_exit(&old);
    free_buffers();  // registered with the old ring; made again on first use
    arm(inbox_fd_, kInbox);
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
      Slot& s = slots_[i];
      bool pending = s.armed() || s.write_armed();
      s.set_write_armed(false);  // went with the old ring
      if (s.reg()) {
        s.set_armed(true);
        arm(s.reg()->fd, slot_data(i));
        if (s.reg()->writer) want_write(*s.reg());
      } else if (pending) {
        release_slot(i);  // its removals were pending in the old ring
      }
    }
  }

  void add(FdRegistration& reg) override {
    std::uint32_t i;
    if (free_head_ != kNone) {
      i = free_head_;
      free_head_ = slots_[i].next_free();
    } else {
      i = static_cast<std::uint32_t>(slots_.size());
      slots_.push_back(Slot::vacant(kNone));
    }
    slots_[i] = Slot::in_use(&reg);
    reg.poller_data = i;
    arm(reg.fd, slot_data(i));
  }

  void remove(FdRegistration& reg) noexcept override {
    auto i = static_cast<std::uint32_t>(reg.poller_data);
    Slot& s = slots_[i];
    s.clear_reg();
    if (!s.armed() && !s.write_armed()) {
      release_slot(i);
      return;
    }
    // The slot lives on until its polls' last completions say the requests are gone. Submit the
    // removals now: a request holds a reference to the file, so a close() right after this
    // must not be delayed until the next poll (the peer would not see the FIN).
    if (s.armed()) remove_poll(slot_data(i));
    if (s.write_armed()) remove_poll(write_data(i));
    io_uring_submit(&ring_);
  }

  // A task waits to write reg.fd (after EAGAIN): one one-shot writability poll, unless one is
  // in the ring already (it has not fired, or its completion is not dispatched yet: either way
  // it wakes this writer). A poll reports the state when it runs, so room made between the
  // EAGAIN and the poll's submission is not lost; one whose waiter gave up fires once, unread.
  void want_write(FdRegistration& reg) noexcept override {
    auto i = static_cast<std::uint32_t>(reg.poller_data);
    Slot& s = slots_[i];
    if (s.write_armed()) return;
    s.set_write_armed(true);
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_add(sqe, reg.fd, POLLOUT);
    io_uring_sqe_set_data64(sqe, write_data(i));
  }

  // The ring's descriptor polls readable while completions wait in it.
  int pollable_descriptor() override {
    flush();
    return ring_.ring_fd;
  }
  void flush() override {
    if (io_uring_sq_ready(&ring_) > 0) submit_or_throw(io_uring_submit(&ring_));
  }

  bool supports(IoOpKind kind) const noexcept override { return (supported_ >> static_cast<unsigned>(kind)) & 1u; }

  void submit(IoRequest& op) override {
    if (op.multishot && op.kind == IoOpKind::Recv && !buf_ring_) make_buffers();
    prep(op, get_sqe());
    op.in_flight = true;
    op.cancelling = false;
    ++in_flight_;
    if (!op.multishot) ++awaited_;
  }

  void cancel(IoRequest& op) noexcept override {
    if (!op.in_flight || op.cancelling) return;
    op.cancelling = true;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, reinterpret_cast<std::uintptr_t>(&op), 0);
    io_uring_sqe_set_data64(sqe, kIgnored);
  }

  // Cancels every request of the ring; the readiness polls among them are re-armed by reap.
  void cancel_all_ops() noexcept override {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, kIgnored);
  }

  void recycle(int buffer) noexcept override {
    auto bid = static_cast<unsigned>(buffer);
    --lent_;
    if (bid < limit_) {
      provide(bid, 0);
      io_uring_buf_ring_advance(buf_ring_, 1);
    } else {                                                // above the shrunk limit: its pages go at the next wait
      if (buf_state_[bid] == kCirculating) --circulating_;  // a dormant one was not counted
      buf_state_[bid] = kParked;
      parked_.push_back(bid);
    }
  }

  std::size_t recv_buffers() const noexcept override { return circulating_ + parked_.size(); }

  std::size_t ring_overflows() const noexcept override { return overflows_; }

  void wait(int timeout_ms, std::vector<PollEvent>& out, std::vector<OpEvent>& ops) override {
    if (!parked_.empty()) release_parked();
    if (limit_ > kFirstBatch) {
      std::int64_t now = coarse_now_ns();
      maybe_shrink(now);
      if (limit_ > kFirstBatch) timeout_ms = until_quiet_period_ends(timeout_ms, now);
    }
    if (timeout_ms == 0) {
      if (io_uring_sq_ready(&ring_) > 0) submit_or_throw(io_uring_submit(&ring_));
      // peek also enters the kernel if completions overflowed the ring, to flush them.
      io_uring_cqe* cqe;
      if (io_uring_peek_cqe(&ring_, &cqe) != 0) return;
    } else {
      io_uring_cqe* cqe = nullptr;
      __kernel_timespec ts{};
      if (timeout_ms > 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1'000'000;
      }
      int rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, timeout_ms > 0 ? &ts : nullptr, nullptr);
      if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
        throw SystemError(-rc, "io_uring_enter (wait)");
    }
    reap_all(out, ops);
    rearm_ended();
  }

 private:
  static constexpr std::uint32_t kNone = ~0u;
  // 16 bytes per registered descriptor (its number is reg->fd: a slot is only armed again while
  // its registration lives).
  // One registration's place, 8 bytes per connection (epoll's epoll_event is 12): the
  // registration (a frame-pool block, 16-byte aligned) with the two poll flags in the low bits
  // of its address; a free slot holds the index of the next free one instead.
  class Slot {
   public:
    static Slot in_use(FdRegistration* reg) noexcept {  // its standing poll about to be armed
      assert((reinterpret_cast<std::uintptr_t>(reg) & kLowBits) == 0);
      return Slot(reinterpret_cast<std::uintptr_t>(reg) | kArmed);
    }
    static Slot vacant(std::uint32_t next_free) noexcept { return Slot((std::uintptr_t{next_free} << 3) | kFree); }

    FdRegistration* reg() const noexcept {  // nullptr once removed
      return (bits_ & kFree) ? nullptr : reinterpret_cast<FdRegistration*>(bits_ & ~kLowBits);
    }
    void clear_reg() noexcept { bits_ &= kArmed | kWriteArmed; }
    bool armed() const noexcept { return (bits_ & (kFree | kArmed)) == kArmed; }  // its standing poll is in the ring
    bool write_armed() const noexcept { return (bits_ & (kFree | kWriteArmed)) == kWriteArmed; }  // its write poll is
    void set_armed(bool on) noexcept { bits_ = on ? bits_ | kArmed : bits_ & ~kArmed; }
    void set_write_armed(bool on) noexcept { bits_ = on ? bits_ | kWriteArmed : bits_ & ~kWriteArmed; }
    std::uint32_t next_free() const noexcept { return static_cast<std::uint32_t>(bits_ >> 3); }

   private:
    static constexpr std::uintptr_t kArmed = 1, kWriteArmed = 2, kFree = 4, kLowBits = 7;
    explicit Slot(std::uintptr_t bits) noexcept : bits_(bits) {}
    std::uintptr_t bits_;
  };
  static_assert(sizeof(Slot) == 8);

  // Throws SystemError if the ring cannot be set up or lacks what this backend uses.
  void setup_ring() {
    // Completions queue up here between polls: one per readiness edge, so size it for many
    // connections. Overflow beyond it is kept by the kernel (IORING_FEAT_NODROP, checked below).
    unsigned cq_entries = completion_ring_entries();
    unsigned sq_entries = std::min(256u, cq_entries);  // the OS kernel wants no more SQ than CQ
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = cq_entries;
    // Completions are posted by task work; without COOP_TASKRUN each one interrupts the thread
    // (an IPI, like a signal), which doubled the CPU per echoed message. Cooperative: they run
    // at our next system call, and TASKRUN_FLAG tells a non-blocking peek to enter for them.
    params.flags |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    int rc = io_uring_queue_init_params(sq_entries, &ring_, &params);
    if (rc == -EINVAL) {  // before Linux 5.19: interrupting task work it is
      params = io_uring_params{};
      params.flags = IORING_SETUP_CQSIZE;
      params.cq_entries = cq_entries;
      rc = io_uring_queue_init_params(sq_entries, &ring_, &params);
    }
    if (rc < 0) throw SystemError(-rc, "io_uring_setup failed (the io_uring backend is unavailable)");
    constexpr unsigned needed = IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG | IORING_FEAT_RSRC_TAGS;
    if ((params.features & needed) != needed) {
      io_uring_queue_exit(&ring_);
      throw SystemError(ENOSYS,
                        "io_uring lacks needed features (no-drop completions, wait with timeout, "
                        "multishot poll: Linux 5.13 or later)");
    }
  }

  // 8,192, or CURIO_URING_CQ_ENTRIES (a test knob, read at each ring's setup: a small ring makes
  // overflow easy to reach; docs/io.md). The OS kernel rounds it up to a power of two.
  static unsigned completion_ring_entries() noexcept {
    constexpr unsigned kDefault = 8192;
    const char* v = std::getenv("CURIO_URING_CQ_ENTRIES");
    if (!v || !*v) return kDefault;
    char* end = nullptr;
    unsigned long n = std::strtoul(v, &end, 10);
    if (*end != '\0' || n < 2 || n > 65536) return kDefault;
    return static_cast<unsigned>(n);
  }

  // Which op kinds this OS kernel runs (its probe of opcodes); the others stay on readiness.
  void probe_ops() {
    supported_ = 0;
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    if (!probe) return;
    auto mark = [&](IoOpKind kind, int opcode) {
      if (io_uring_opcode_supported(probe, opcode)) supported_ |= 1u << static_cast<unsigned>(kind);
    };
    mark(IoOpKind::Recv, IORING_OP_RECV);
    mark(IoOpKind::Send, IORING_OP_SEND);
    mark(IoOpKind::Accept, IORING_OP_ACCEPT);
    mark(IoOpKind::Connect, IORING_OP_CONNECT);
    mark(IoOpKind::Close, IORING_OP_CLOSE);
    mark(IoOpKind::Shutdown, IORING_OP_SHUTDOWN);
    mark(IoOpKind::RecvFrom, IORING_OP_RECVMSG);
    mark(IoOpKind::SendTo, IORING_OP_SENDMSG);
    mark(IoOpKind::Read, IORING_OP_READ);
    mark(IoOpKind::Write, IORING_OP_WRITE);
    mark(IoOpKind::Fsync, IORING_OP_FSYNC);
    io_uring_free_probe(probe);
  }

  // Reads the ring, then the completions that overflowed it, in this same poll: the kernel
  // expires deadlines right after the poll, so a report left for the next one can come after
  // the deadline of a task whose data had arrived. Bounded: polls that the overflow ended are
  // re-armed only after this (rearm_ended), so each request posts at most one completion past
  // the ring (its last) while the overflow lasts; re-arming them earlier refilled the overflow
  // from every socket still ready (a poll armed on a ready socket completes at once).
  void reap_all(std::vector<PollEvent>& out, std::vector<OpEvent>& ops) {
    reap(out, ops);
    if (!io_uring_cq_has_overflow(&ring_)) return;
    ++overflows_;
    // A safety net only: enough rounds for every request's completion to pass through the ring.
    std::size_t rounds = 2 + (2 * slots_.size() + in_flight_) / ring_.cq.ring_entries;
    while (io_uring_cq_has_overflow(&ring_) && rounds-- > 0) {
      int rc = io_uring_get_events(&ring_);  // moves overflowed completions into the ring
      if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) throw SystemError(-rc, "io_uring_enter (overflow)");
      reap(out, ops);
    }
  }

  // Arms again the polls whose last completion this poll read (submitted by the next wait).
  void rearm_ended() {
    for (std::uint64_t data : ended_) {
      if (data == kInbox) {
        arm(inbox_fd_, kInbox);
        continue;
      }
      auto i = static_cast<std::uint32_t>(data >> 3);
      Slot& s = slots_[i];
      if (!s.reg()) continue;  // removal cannot happen during a poll; kept for safety
      if ((data & kTagMask) == kWriteTag) {
        if (s.reg()->writer) want_write(*s.reg());
      } else if (!s.armed()) {
        s.set_armed(true);
        arm(s.reg()->fd, data);
      }
    }
    give_back_after_burst(ended_);
    ended_.clear();
  }

  void reap(std::vector<PollEvent>& out, std::vector<OpEvent>& ops) {
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      std::uint64_t data = io_uring_cqe_get_data64(cqe);
      bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
      int res = cqe->res;
      if (data == kIgnored) continue;
      if (data == kInbox) {
        out.push_back(PollEvent{nullptr, true, false, false});
        if (!more) ended_.push_back(kInbox);
        continue;
      }
      if ((data & kTagMask) == 0) {
        reap_op(*reinterpret_cast<IoRequest*>(data), res, cqe->flags, ops);
        continue;
      }
      auto i = static_cast<std::uint32_t>(data >> 3);
      Slot& s = slots_[i];
      if ((data & kTagMask) == kWriteTag) {
        reap_write(i, res, out);
        continue;
      }
      if (!more) s.set_armed(false);
      if (!s.reg()) {
        if (!s.armed() && !s.write_armed()) release_slot(i);
        continue;
      }
      if (res >= 0) {
        auto ev = static_cast<unsigned>(res);
        out.push_back(PollEvent{s.reg(), (ev & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) != 0,
                                (ev & (POLLOUT | POLLHUP | POLLERR)) != 0,
                                (ev & (POLLRDHUP | POLLHUP | POLLERR | POLLPRI)) != 0});
      } else if (res != -ECANCELED) {
        // The poll itself failed (e.g. EBADF): wake both sides so their retried system call
        // raises the real error; don't re-arm a request that would fail the same way.
        out.push_back(PollEvent{s.reg(), true, true, true});
        continue;
      }
      if (!more) ended_.push_back(data);
    }
    io_uring_cq_advance(&ring_, seen);
    if (buf_ring_) {
      // lent_ is this reap's buffers (the last reap's went back at its dispatch).
      if (lent_ > peak_lent_) peak_lent_ = lent_;
      if ((dry_recvs_ > 0 || lent_ * 2 >= limit_) && limit_ < kBufCount) {
        // Enough for what this reap met (its lent buffers plus its dry recvs), at least double.
        auto want = static_cast<unsigned>(std::min<std::size_t>(kBufCount, lent_ + dry_recvs_));
        grow_to(std::min(kBufCount, std::max(limit_ * 2, std::bit_ceil(want))));
      }
      dry_recvs_ = 0;
    }
  }

  // The one-shot write poll's completion (always its last).
  void reap_write(std::uint32_t i, int res, std::vector<PollEvent>& out) {
    Slot& s = slots_[i];
    s.set_write_armed(false);
    if (!s.reg()) {
      if (!s.armed()) release_slot(i);
      return;
    }
    if (res >= 0) {
      bool failed = (static_cast<unsigned>(res) & (POLLHUP | POLLERR)) != 0;
      out.push_back(PollEvent{s.reg(), failed, true, failed});
    } else if (res != -ECANCELED) {
      out.push_back(PollEvent{s.reg(), true, true, true});  // as for the standing poll
    } else if (s.reg()->writer) {
      ended_.push_back(write_data(i));  // cancelled (cancel_all_ops) while a task still waits
    }
  }

  void reap_op(IoRequest& op, int res, std::uint32_t flags, std::vector<OpEvent>& ops) {
    bool more = (flags & IORING_CQE_F_MORE) != 0;
    int buffer = (flags & IORING_CQE_F_BUFFER) ? static_cast<int>(flags >> IORING_CQE_BUFFER_SHIFT) : -1;
    if (!more && res == -ENOBUFS && op.multishot && op.kind == IoOpKind::Recv) {
      // The buffer ring ran dry: the recv ended without reading. Reported to the layer, which
      // reads the socket itself (io_op.hpp): re-armed here, it lost the buffers given back to the
      // recvs still armed, again and again (docs/io.md). The ring grows at the end of this reap.
      ++dry_recvs_;
      if (op.cancelling) res = -ECANCELED;  // the layer's cancel meets a recv that ended unread: its end
    }
    if (buffer >= 0) ++lent_;
    if (!more) {
      op.in_flight = false;
      op.cancelling = false;
      --in_flight_;
      if (!op.multishot) --awaited_;
    }
    const char* bytes = buffer >= 0 ? buf_base_ + std::size_t(buffer) * kBufSize : nullptr;
    ops.push_back(OpEvent{&op, IoCompletion{res, more, bytes}, buffer});
  }

  void prep(IoRequest& req, io_uring_sqe* sqe) {
    if (req.multishot) {  // a bare request: no pointer arguments (io_op.hpp)
      if (req.kind == IoOpKind::Recv) {
        io_uring_prep_recv_multishot(sqe, req.fd, nullptr, 0, req.flags);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = kBufGroup;
      } else {
        io_uring_prep_multishot_accept(sqe, req.fd, nullptr, nullptr, req.flags);
      }
      io_uring_sqe_set_data(sqe, &req);
      return;
    }
    auto& op = static_cast<IoOp&>(req);
    switch (op.kind) {
      case IoOpKind::Recv:
        io_uring_prep_recv(sqe, op.fd, op.buf, op.len, op.flags);
        break;
      case IoOpKind::Send:
        io_uring_prep_send(sqe, op.fd, op.buf, op.len, op.flags | MSG_NOSIGNAL);
        break;
      case IoOpKind::Accept:
        io_uring_prep_accept(sqe, op.fd, op.addr, op.addrlen, op.flags);
        break;
      case IoOpKind::Connect:
        io_uring_prep_connect(sqe, op.fd, op.addr, op.addr_size);
        break;
      case IoOpKind::Close:
        io_uring_prep_close(sqe, op.fd);
        break;
      case IoOpKind::Shutdown:
        io_uring_prep_shutdown(sqe, op.fd, op.flags);
        break;
      case IoOpKind::RecvFrom:
        io_uring_prep_recvmsg(sqe, op.fd, op.msg, static_cast<unsigned>(op.flags));
        break;
      case IoOpKind::SendTo:
        io_uring_prep_sendmsg(sqe, op.fd, op.msg, static_cast<unsigned>(op.flags | MSG_NOSIGNAL));
        break;
      case IoOpKind::Read:
        io_uring_prep_read(sqe, op.fd, op.buf, op.len, op.offset);
        break;
      case IoOpKind::Write:
        io_uring_prep_write(sqe, op.fd, op.buf, op.len, op.offset);
        break;
      case IoOpKind::Fsync:
        io_uring_prep_fsync(sqe, op.fd, op.flags == 1 ? IORING_FSYNC_DATASYNC : 0);
        break;
    }
    io_uring_sqe_set_data(sqe, &op);
  }

  // The buffer ring: descriptors page-aligned (mmap), the buffers in one block, touched only
  // as the OS kernel fills them.
  void make_buffers() {
    std::size_t ring_bytes = kBufCount * sizeof(io_uring_buf);
    void* r = ::mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (r == MAP_FAILED) throw_system_error("mmap (io_uring buffer ring)");
    void* b =
        ::mmap(nullptr, std::size_t{kBufCount} * kBufSize, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (b == MAP_FAILED) {
      int err = errno;
      ::munmap(r, ring_bytes);
      throw_system_error("mmap (io_uring buffers)", err);
    }
    auto* br = static_cast<io_uring_buf_ring*>(r);
    io_uring_buf_ring_init(br);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(br);
    reg.ring_entries = kBufCount;
    reg.bgid = kBufGroup;
    if (int rc = io_uring_register_buf_ring(&ring_, &reg, 0); rc < 0) {
      ::munmap(r, ring_bytes);
      ::munmap(b, std::size_t{kBufCount} * kBufSize);
      throw SystemError(-rc, "io_uring_register_buf_ring");
    }
    buf_ring_ = br;
    buf_base_ = static_cast<char*>(b);
    buf_state_.assign(kBufCount, kOut);
    grow_to(kFirstBatch);
    period_start_ns_ = coarse_now_ns();
  }
  void free_buffers() noexcept {
    if (!buf_ring_) return;
    ::munmap(buf_ring_, kBufCount * sizeof(io_uring_buf));
    ::munmap(buf_base_, std::size_t{kBufCount} * kBufSize);
    buf_ring_ = nullptr;
    buf_base_ = nullptr;
    buf_state_.clear();
    parked_.clear();
    limit_ = circulating_ = lent_ = peak_lent_ = 0;
    dry_recvs_ = 0;
  }

  // Puts buffer bid at offset `at` past the ring's tail (the caller advances the tail).
  void provide(unsigned bid, int at) noexcept {
    io_uring_buf_ring_add(buf_ring_, buf_base_ + std::size_t{bid} * kBufSize, kBufSize,
                          static_cast<unsigned short>(bid), io_uring_buf_ring_mask(kBufCount), at);
  }

  // Lets the ids below n circulate: those that are out (never provided, released) or parked
  // (not released yet) go into the ring; those still circulating stay where they are.
  void grow_to(unsigned n) noexcept {
    int added = 0;
    for (unsigned bid = limit_; bid < n; ++bid) {
      if (buf_state_[bid] == kCirculating) continue;
      if (buf_state_[bid] == kDormant) {  // still in the ring: providing it again would list it twice
        buf_state_[bid] = kCirculating;
        ++circulating_;
        continue;
      }
      buf_state_[bid] = kCirculating;
      ++circulating_;
      provide(bid, added++);
    }
    io_uring_buf_ring_advance(buf_ring_, added);
    limit_ = n;
    std::erase_if(parked_, [n](unsigned bid) { return bid < n; });  // circulating again
  }

  // At the end of a quiet period (no reap lent more than an eighth of limit_), lowers limit_ to
  // four times the period's peak (a power of two, at least kFirstBatch): a reap must then lend
  // twice that peak to grow it again.
  void maybe_shrink(std::int64_t now) noexcept {
    if (now - period_start_ns_ < kQuietNs) return;
    if (peak_lent_ * 8 < limit_) {
      unsigned old = limit_;
      limit_ = std::max(kFirstBatch, std::bit_ceil(peak_lent_ * 4));
      release_dormant(limit_, old);
    }
    period_start_ns_ = now;
    peak_lent_ = 0;
  }

  // The pages of the buffers in [from, to) that sit in the OS kernel's ring: one madvise per
  // contiguous run. Called between reaps, when nothing is lent (every lent buffer was recycled
  // by the dispatch that followed its reap). A recv runs in task work, and task work runs at
  // the exit of any of this thread's system calls (the dispatch's, or the previous madvise):
  // a buffer may have been filled since the last reap, its completion waiting in the CQ ring.
  // Such a buffer is left alone (found with no system call between the look and the madvise),
  // and nothing is released while completions overflowed out of sight.
  void release_dormant(unsigned from, unsigned to) noexcept {
    if (lent_ != 0 || io_uring_cq_has_overflow(&ring_)) return;
    auto releasable = [&](unsigned bid) { return buf_state_[bid] == kCirculating && !filled_unreaped(bid); };
    unsigned bid = from;
    while (bid < to) {
      if (!releasable(bid)) {
        ++bid;
        continue;
      }
      unsigned end = bid;
      while (end < to && releasable(end)) {
        buf_state_[end] = kDormant;
        --circulating_;
        ++end;
      }
      (void)::madvise(buf_base_ + std::size_t{bid} * kBufSize, std::size_t{end - bid} * kBufSize, MADV_DONTNEED);
      bid = end;
    }
  }

  // Whether a completion waiting in the CQ ring carries buffer bid.
  bool filled_unreaped(unsigned bid) noexcept {
    unsigned head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      if ((cqe->flags & IORING_CQE_F_BUFFER) && (cqe->flags >> IORING_CQE_BUFFER_SHIFT) == bid) return true;
    }
    return false;
  }

  // A wait while the ring is grown ends when the quiet period does, so that the shrink (and
  // the release of its pages) does not wait for the next completion.
  int until_quiet_period_ends(int timeout_ms, std::int64_t now) const noexcept {
    std::int64_t left_ns = period_start_ns_ + kQuietNs - now;
    int left_ms = left_ns <= 0 ? 1 : static_cast<int>(left_ns / 1'000'000 + 1);
    return timeout_ms < 0 || timeout_ms > left_ms ? left_ms : timeout_ms;
  }

  // Gives the pages of the parked buffers back to the operating system: one madvise per
  // contiguous run of ids. Their mapping stays; a buffer provided again later is zero-filled.
  void release_parked() noexcept {
    std::sort(parked_.begin(), parked_.end());
    std::size_t i = 0;
    while (i < parked_.size()) {
      std::size_t j = i + 1;
      while (j < parked_.size() && parked_[j] == parked_[j - 1] + 1) ++j;
      // Cannot fail on a private anonymous mapping we own; if it did, the pages merely stay.
      (void)::madvise(buf_base_ + std::size_t{parked_[i]} * kBufSize, (j - i) * kBufSize, MADV_DONTNEED);
      for (std::size_t k = i; k < j; ++k) buf_state_[parked_[k]] = kOut;
      i = j;
    }
    parked_.clear();
  }

  static std::int64_t coarse_now_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
  }

  void arm(int fd, std::uint64_t data) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_multishot(sqe, fd, kPollMask);
    io_uring_sqe_set_data64(sqe, data);
  }
  // A cancel, not IORING_OP_POLL_REMOVE: a removal fails (EALREADY) while the poll's wakeup
  // waits to be run, and a multishot poll then stays armed, holding the file after close() (the
  // peer never sees the FIN). A cancel marks the poll, and the pending wakeup ends it.
  void remove_poll(std::uint64_t data) noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, data, 0);
    io_uring_sqe_set_data64(sqe, kIgnored);
  }

  // A free submission entry; when the queue is full, submit what is there to make room.
  io_uring_sqe* get_sqe() noexcept {
    for (;;) {
      if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
      io_uring_submit(&ring_);
    }
  }

  static void submit_or_throw(int rc) {
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) throw SystemError(-rc, "io_uring_enter (submit)");
  }

  void release_slot(std::uint32_t i) noexcept {
    slots_[i] = Slot::vacant(free_head_);
    free_head_ = i;
  }

  io_uring ring_{};
  std::uint32_t supported_ = 0;  // bit per IoOpKind
  io_uring_buf_ring* buf_ring_ = nullptr;
  char* buf_base_ = nullptr;
  // Per buffer id: out (not provided; its pages are not resident), circulating (in the ring or
  // lent to a completion), parked (handed back above limit_, pages not released yet) or dormant
  // (in the ring above limit_, pages released).
  enum : std::uint8_t { kOut, kCirculating, kParked, kDormant };
  std::vector<std::uint8_t> buf_state_;
  std::vector<unsigned> parked_;
  unsigned limit_ = 0;        // ids below it circulate; ids above it are parked when handed back
  unsigned circulating_ = 0;  // ids in the ring or lent, but not dormant
  unsigned lent_ = 0;         // reaped with a buffer and not yet recycled
  unsigned peak_lent_ = 0;    // the highest lent_ at the end of a reap in this period
  unsigned dry_recvs_ = 0;    // recvs of this reap that ended with ENOBUFS
  std::int64_t period_start_ns_ = 0;
  std::size_t overflows_ = 0;  // ring_overflows()
  int inbox_fd_;
  std::vector<Slot> slots_;
  std::uint32_t free_head_ = kNone;
  std::vector<std::uint64_t> ended_;  // user_data of the polls this poll saw end: rearm_ended
};

}  // namespace

std::unique_ptr<Poller> make_uring_poller(int inbox_fd) { return std::make_unique<UringPoller>(inbox_fd); }

}  // namespace curio::detail
