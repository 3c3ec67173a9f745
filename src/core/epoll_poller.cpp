// src/core/epoll_poller.cpp: the epoll backend of the poller seam. One epoll_ctl(ADD) per
// descriptor lifetime (edge-triggered, both directions), one epoll_wait per poll.
#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>

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
  void submit(IoOp&) override { throw SystemError(ENOSYS, "curio: the epoll backend runs no I/O operations"); }
  void cancel(IoOp&) noexcept override {}
  void recycle(int) noexcept override {}

  void wait(int timeout_ms, std::vector<PollEvent>& out, std::vector<OpEvent>&) override {
    std::array<epoll_event, 256> events;
    int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) return;
      throw_system_error("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      std::uint32_t ev = events[i].events;
      out.push_back(PollEvent{
          static_cast<FdRegistration*>(events[i].data.ptr), (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0,
          (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0, (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)) != 0});
    }
  }

 private:
  int epoll_fd_ = -1;
};

}  // namespace

std::unique_ptr<Poller> make_epoll_poller(int inbox_fd) { return std::make_unique<EpollPoller>(inbox_fd); }

}  // namespace curio::detail
