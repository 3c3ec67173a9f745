// src/core/epoll_poller.cpp: the epoll backend of the poller seam. One epoll_ctl(ADD) per
// descriptor lifetime (edge-triggered, both directions), one epoll_wait per poll, which takes every
// ready descriptor: room for as many events as there are registrations (as Python's selectors).
#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <vector>

#include "curio/core/traps.hpp"
#include "poller.hpp"

namespace curio::detail {
namespace {

class EpollPoller final : public Poller {
 public:
  explicit EpollPoller(int inbox_fd) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw_system_error("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // nullptr marks the inbox eventfd
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, inbox_fd, &ev) < 0) {
      int err = errno;
      ::close(epoll_fd_);
      throw_system_error("epoll_ctl(ADD eventfd)", err);
    }
  }
  ~EpollPoller() override { ::close(epoll_fd_); }

  IoBackend backend() const noexcept override { return IoBackend::Epoll; }

  void add(FdRegistration& reg) override {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
    ev.data.ptr = &reg;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, reg.fd, &ev) < 0) throw_system_error("epoll_ctl(ADD)");
  }

  void remove(FdRegistration& reg) noexcept override { ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, reg.fd, nullptr); }

  int pollable_descriptor() override { return epoll_fd_; }

  // No completions on epoll: layers ask supports() first and never submit.
  void submit(IoRequest&) override { throw SystemError(ENOSYS, "curio: the epoll backend runs no I/O operations"); }
  void cancel(IoRequest&) noexcept override {}
  void recycle(int) noexcept override {}

  void wait(int timeout_ms, std::vector<PollEvent>& out, std::vector<OpEvent>&) override {
    // Every ready descriptor before returning: the kernel expires timers right after this poll,
    // so an event left in epoll's ready list would let the deadline of a task whose data had
    // arrived fire first (with 10,000 connections that timed out clients that had sent in time,
    // docs/reliability.md). A full batch means more may be ready: ask again without waiting.
    // (A fixed array drained this way, rather than one sized to the registrations, costs no
    // memory per connection: 12 bytes each before.)
    for (;;) {
      int n = ::epoll_wait(epoll_fd_, events_.data(), static_cast<int>(events_.size()), timeout_ms);
      if (n < 0) {
        if (errno == EINTR) return;
        throw_system_error("epoll_wait");
      }
      for (int i = 0; i < n; ++i) {
        std::uint32_t ev = events_[i].events;
        out.push_back(PollEvent{
            static_cast<FdRegistration*>(events_[i].data.ptr), (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0,
            (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0, (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)) != 0});
      }
      if (static_cast<std::size_t>(n) < events_.size()) return;
      timeout_ms = 0;
    }
  }

 private:
  int epoll_fd_ = -1;
  std::array<epoll_event, 256> events_;  // one batch; wait() drains the ready list in batches
};

}  // namespace

std::unique_ptr<Poller> make_epoll_poller(int inbox_fd) { return std::make_unique<EpollPoller>(inbox_fd); }

}  // namespace curio::detail
