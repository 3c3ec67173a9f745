// src/core/uring_poller.cpp: the io_uring backend of the poller seam (liburing). Readiness comes
// from one multishot poll request per descriptor on the kernel's ring (edge-triggered, both
// directions, the same events epoll reports); a poll that the ring ends (no IORING_CQE_F_MORE)
// is re-armed. A non-blocking poll only reads the shared completion ring (no system call unless
// submissions are queued); a blocking one submits and waits in one io_uring_enter.
#include <liburing.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "curio/core/traps.hpp"
#include "poller.hpp"

namespace curio::detail {
namespace {

// user_data of the ring's requests: 0 = a poll removal (its completion is ignored), 1 = the
// inbox's poll, n >= 2 = the poll of slots_[n - 2].
constexpr std::uint64_t kIgnored = 0;
constexpr std::uint64_t kInbox = 1;
constexpr std::uint64_t kFirstSlot = 2;

constexpr unsigned kPollMask = POLLIN | POLLOUT | POLLRDHUP | POLLPRI;

class UringPoller final : public Poller {
 public:
  explicit UringPoller(int inbox_fd) : inbox_fd_(inbox_fd) {
    setup_ring();
    arm(inbox_fd_, kInbox);
  }
  ~UringPoller() override { io_uring_queue_exit(&ring_); }

  IoBackend backend() const noexcept override { return IoBackend::IoUring; }

  // With cooperative task work (COOP_TASKRUN), a request's completion is run in the context of
  // the thread that submitted it, at its next transition into the OS kernel: a thread that now
  // sleeps elsewhere (e.g. joining the new one) may hold them back. Linux 6.18 was not seen to
  // (Backend.KernelRunOnAnotherThread... passes either way), but the contract does not promise
  // it, so a kernel that moves gets a fresh ring whose requests this thread submits: every live
  // descriptor is polled again (a new poll reports the current readiness, so no edge is lost)
  // and the old ring, with whatever it still held, is torn down.
  void moved_to_this_thread() override {
    io_uring old = ring_;
    try {
      setup_ring();
    } catch (...) {
      ring_ = old;  // keep the old ring (it still works, with the old thread's help)
      throw;
    }
    io_uring_queue_exit(&old);
    arm(inbox_fd_, kInbox);
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
      Slot& s = slots_[i];
      if (s.reg) {
        s.armed = true;
        arm(s.fd, kFirstSlot + i);
      } else if (s.armed) {
        release_slot(i);  // its removal was pending in the old ring
      }
    }
  }

  void add(FdRegistration& reg) override {
    std::uint32_t i;
    if (free_head_ != kNone) {
      i = free_head_;
      free_head_ = slots_[i].next_free;
    } else {
      i = static_cast<std::uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    slots_[i] = Slot{&reg, reg.fd, true, kNone};
    reg.poller_data = i;
    arm(reg.fd, kFirstSlot + i);
  }

  void remove(FdRegistration& reg) noexcept override {
    auto i = static_cast<std::uint32_t>(reg.poller_data);
    Slot& s = slots_[i];
    s.reg = nullptr;
    if (!s.armed) {
      release_slot(i);
      return;
    }
    // The slot lives on until the poll's last completion says the request is gone. Submit the
    // removal now: the request holds a reference to the file, so a close() right after this
    // must not be delayed until the next poll (the peer would not see the FIN).
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_remove(sqe, kFirstSlot + i);
    io_uring_sqe_set_data64(sqe, kIgnored);
    io_uring_submit(&ring_);
  }

  // The ring's descriptor polls readable while completions wait in it.
  int pollable_descriptor() override {
    flush();
    return ring_.ring_fd;
  }
  void flush() override {
    if (io_uring_sq_ready(&ring_) > 0) submit_or_throw(io_uring_submit(&ring_));
  }

  void wait(int timeout_ms, std::vector<PollEvent>& out) override {
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
    reap(out);
  }

 private:
  static constexpr std::uint32_t kNone = ~0u;
  struct Slot {
    FdRegistration* reg = nullptr;  // nullptr once removed
    int fd = -1;
    bool armed = false;  // a poll request for it is in the ring
    std::uint32_t next_free = kNone;
  };

  // Throws SystemError if the ring cannot be set up or lacks what this backend uses.
  void setup_ring() {
    // Completions queue up here between polls: one per readiness edge, so size it for many
    // connections. Overflow beyond it is kept by the kernel (IORING_FEAT_NODROP, checked below).
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = 8192;
    // Completions are posted by task work; without COOP_TASKRUN each one interrupts the thread
    // (an IPI, like a signal), which doubled the CPU per echoed message. Cooperative: they run
    // at our next system call, and TASKRUN_FLAG tells a non-blocking peek to enter for them.
    params.flags |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    int rc = io_uring_queue_init_params(256, &ring_, &params);
    if (rc == -EINVAL) {  // before Linux 5.19: interrupting task work it is
      params = io_uring_params{};
      params.flags = IORING_SETUP_CQSIZE;
      params.cq_entries = 8192;
      rc = io_uring_queue_init_params(256, &ring_, &params);
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

  void reap(std::vector<PollEvent>& out) {
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
        if (!more) arm(inbox_fd_, kInbox);
        continue;
      }
      auto i = static_cast<std::uint32_t>(data - kFirstSlot);
      Slot& s = slots_[i];
      if (!more) s.armed = false;
      if (!s.reg) {
        if (!s.armed) release_slot(i);
        continue;
      }
      if (res >= 0) {
        auto ev = static_cast<unsigned>(res);
        out.push_back(PollEvent{s.reg, (ev & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) != 0,
                                (ev & (POLLOUT | POLLHUP | POLLERR)) != 0,
                                (ev & (POLLRDHUP | POLLHUP | POLLERR | POLLPRI)) != 0});
      } else if (res != -ECANCELED) {
        // The poll itself failed (e.g. EBADF): wake both sides so their retried system call
        // raises the real error; don't re-arm a request that would fail the same way.
        out.push_back(PollEvent{s.reg, true, true, true});
        continue;
      }
      if (!s.armed) {
        s.armed = true;
        arm(s.fd, data);
      }
    }
    io_uring_cq_advance(&ring_, seen);
  }

  void arm(int fd, std::uint64_t data) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_multishot(sqe, fd, kPollMask);
    io_uring_sqe_set_data64(sqe, data);
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
    slots_[i] = Slot{};
    slots_[i].next_free = free_head_;
    free_head_ = i;
  }

  io_uring ring_{};
  int inbox_fd_;
  std::vector<Slot> slots_;
  std::uint32_t free_head_ = kNone;
};

}  // namespace

std::unique_ptr<Poller> make_uring_poller(int inbox_fd) { return std::make_unique<UringPoller>(inbox_fd); }

}  // namespace curio::detail
