// src/signal/signals.cpp: the signal dispatcher: one signalfd, one thread, fan-out to watchers.
#include "curio/signal/signals.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <thread>

#include "curio/core/errors.hpp"

namespace curio {

namespace {

class SignalDispatcher {
 public:
  SignalDispatcher() {
    sigemptyset(&mask_);
    fd_ = ::signalfd(-1, &mask_, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd_ < 0) throw_system_error("signalfd");
    // The thread must start with every signal blocked (a signal could arrive before its first
    // instruction), so block them here around its creation: it inherits this mask.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    std::thread([this] { run(); }).detach();
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }

  void install(detail::SignalWatch* w) {
    std::lock_guard lock(mu_);
    for (int s : w->signos) {
      if (s <= 0 || s >= NSIG || s == SIGKILL || s == SIGSTOP)
        throw RuntimeError("curio: signal " + std::to_string(s) + " cannot be watched");
    }
    w->thread = pthread_self();
    for (int s : w->signos) {
      // Block s in this thread (each installing thread, not only the first: a thread that
      // left it unblocked would take it the default way), remembering whether it already was.
      auto& b = blocks_[{w->thread, s}];
      if (b.watches++ == 0) {
        sigset_t one, old;
        sigemptyset(&one);
        sigaddset(&one, s);
        pthread_sigmask(SIG_BLOCK, &one, &old);
        b.was_blocked = sigismember(&old, s) == 1;
      }
      auto& list = watchers_[s];
      if (list.empty()) {
        sigaddset(&mask_, s);
        ::signalfd(fd_, &mask_, 0);
      }
      list.push_back(w);
    }
  }

  void remove(detail::SignalWatch* w) noexcept {
    std::lock_guard lock(mu_);
    for (int s : w->signos) {
      auto& list = watchers_[s];
      list.erase(std::remove(list.begin(), list.end(), w), list.end());
      if (list.empty()) {
        sigdelset(&mask_, s);
        ::signalfd(fd_, &mask_, 0);
      }
      auto it = blocks_.find({w->thread, s});
      if (it == blocks_.end() || --it->second.watches > 0) continue;
      bool restore = !it->second.was_blocked;
      blocks_.erase(it);
      // A thread's mask can only be changed by that thread: removed elsewhere, it stays blocked.
      if (!restore || !pthread_equal(w->thread, pthread_self())) continue;
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, s);
      if (list.empty()) {
        // Consume an instance still pending, so unblocking does not deliver it the default way
        // (which for SIGTERM or SIGINT would end the process).
        timespec zero{0, 0};
        while (::sigtimedwait(&one, nullptr, &zero) == s) {
        }
      }
      pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
    }
  }

 private:
  void run() {
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, -1) < 0) continue;
      // Read under the mutex (the descriptor is non-blocking): install/remove change the
      // signalfd's mask under it too.
      std::lock_guard lock(mu_);
      signalfd_siginfo info;
      while (::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        int s = static_cast<int>(info.ssi_signo);
        for (detail::SignalWatch* w : watchers_[s]) {
          if (w->queue) w->queue->try_put(int(s));
          if (w->event) w->event->set();
        }
      }
    }
  }

  std::mutex mu_;
  sigset_t mask_;
  int fd_ = -1;
  std::map<int, std::vector<detail::SignalWatch*>> watchers_;
  struct Block {
    int watches = 0;           // watches installed by that thread for that signal
    bool was_blocked = false;  // blocked there before the first of them
  };
  std::map<std::pair<pthread_t, int>, Block> blocks_;
};

SignalDispatcher& dispatcher() {
  static SignalDispatcher* d = new SignalDispatcher();  // lives as long as the process
  return *d;
}

}  // namespace

void block_signals(std::initializer_list<int> signos) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signos) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

namespace detail {
void install_watch(SignalWatch* w) { dispatcher().install(w); }
void remove_watch(SignalWatch* w) noexcept { dispatcher().remove(w); }
}  // namespace detail

SignalQueue::SignalQueue(std::vector<int> signos) {
  watch_.signos = std::move(signos);
  watch_.queue = &queue_;
  detail::install_watch(&watch_);
}
SignalQueue::~SignalQueue() { detail::remove_watch(&watch_); }

SignalEvent::SignalEvent(std::vector<int> signos) {
  watch_.signos = std::move(signos);
  watch_.event = &event_;
  detail::install_watch(&watch_);
}
SignalEvent::~SignalEvent() { detail::remove_watch(&watch_); }

}  // namespace curio
