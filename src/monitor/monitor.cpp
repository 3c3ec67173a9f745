// src/monitor/monitor.cpp: the monitor console and the per-kernel probes that feed it.
//
// Data sharing (see docs/monitor.md): a probe is an Activation. On the kernel thread it keeps, per
// task, an Entry written only at task boundaries: created/terminated link/unlink the entry under
// the probe's mutex (spawn and exit only), suspended() rewrites the entry's fields (state, wait,
// frames) under a per-entry seqlock made of atomics, running() publishes "task N running since T"
// in two atomics. The console thread takes the probe's mutex (so no entry is freed under it) and
// reads entries through the seqlock. The kernel thread never waits for the console, and a task
// that hogs the kernel thread holds no lock: ps and where answer, showing it RUNNING for so long.
#include "curio/monitor/monitor.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/monitor_hook.hpp"
#include "core/task_extras.hpp"
#include "curio/core/activation.hpp"
#include "curio/core/traps.hpp"
#include "curio/core/where.hpp"
#include "curio/thread/universal_queue.hpp"

namespace curio {
namespace detail {
namespace {

constexpr std::size_t kEntryFrames = 16;  // frames kept per task (the innermost ones past that)
constexpr std::size_t kMaxClients = 16;
constexpr std::size_t kMaxLine = 4096;

// One task as the console sees it. Fields below `seq` are written by the kernel thread inside
// the seqlock (release stores) and read by the console (acquire loads, retried if seq moved).
struct Entry {
  std::uint64_t id = 0;
  std::uint64_t parent_id = 0;
  bool daemon = false;
  TaskState* task = nullptr;  // kernel thread only (the agent's cancel)
  std::string name;           // written under the probe's mutex
  Entry* prev = nullptr;
  Entry* next = nullptr;

  std::atomic<std::uint32_t> seq{0};
  std::atomic<std::uint8_t> state{static_cast<std::uint8_t>(TaskStatus::Initial)};
  std::atomic<std::uint64_t> cycles{0};
  std::atomic<std::int64_t> until{kNoDeadline};
  std::atomic<std::int64_t> timeout{kNoDeadline};
  std::atomic<std::int32_t> fd{-1};
  std::atomic<std::uint64_t> join_id{0};
  std::atomic<const void*> object{nullptr};
  std::atomic<std::uint32_t> depth{0};    // frames stored
  std::atomic<std::uint32_t> omitted{0};  // outer frames beyond kEntryFrames
  struct AtomicFrame {
    std::atomic<const char*> function{nullptr};
    std::atomic<const char*> file{nullptr};
    std::atomic<std::uint32_t> line{0};
  } frames[kEntryFrames];
};

// A consistent copy of an entry.
struct Snapshot {
  std::uint64_t id = 0, parent_id = 0;
  std::string name;
  bool daemon = false;
  TaskStatus state = TaskStatus::Initial;
  std::uint64_t cycles = 0;
  std::int64_t until = kNoDeadline, timeout = kNoDeadline;
  int fd = -1;
  std::uint64_t join_id = 0;
  const void* object = nullptr;
  std::vector<Frame> frames;
  std::uint32_t omitted = 0;
  std::optional<double> running_for;
  std::size_t kernel = 0;
};

// GCC 12 warns (-Wmaybe-uninitialized) that the shared_ptr inside the optional<Command> of a
// UniversalQueue getter may be read before it is set: a false positive of its optional/union
// analysis at -O2 (the optional is engaged before any read). Silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
struct Command {
  std::uint64_t task_id = 0;
  std::shared_ptr<std::promise<std::string>> reply;
};

class Probe;

// The process's console: one listening socket, one thread, every monitored kernel.
class Hub {
 public:
  static Hub& get() {
    static Hub* hub = new Hub;  // never destroyed: kernels may outlive static destruction order
    return *hub;
  }
  std::size_t attach(Probe* p, const std::string& host, std::uint16_t port);
  void detach(Probe* p);
  std::optional<MonitorAddress> address() {
    std::lock_guard lock(mu_);
    if (listen_fd_ < 0) return std::nullopt;
    return address_;
  }
  std::string execute(std::string_view line, bool* quit);

 private:
  void start(const std::string& host, std::uint16_t port);  // lifecycle_mu_ held
  void stop();                                              // lifecycle_mu_ held
  void serve();
  std::vector<Snapshot> snapshot_all();  // mu_ held
  std::string cmd_ps();
  std::string cmd_where(std::uint64_t id);
  std::string cmd_cancel(std::uint64_t id);
  std::string cmd_parents(std::uint64_t id);
  std::string cmd_stats();
  std::string cmd_signal(std::string_view name);

  std::mutex lifecycle_mu_;  // start/stop of the console thread
  std::mutex mu_;            // probes_, address_ (the console holds it while it reads)
  std::vector<Probe*> probes_;
  std::size_t next_kernel_ = 0;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  MonitorAddress address_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

std::int64_t mono_now() noexcept { return now_ns(); }

class Probe final : public Activation {
 public:
  Probe(const std::string& host, std::uint16_t port) : host_(host), port_(port) {}
  ~Probe() override {
    if (attached_) Hub::get().detach(this);
    std::lock_guard lock(mu_);
    while (head_) {
      Entry* e = head_;
      head_ = e->next;
      delete e;
    }
  }

  void activate(Kernel& k) override {
    kernel_ = &k;
    index_ = Hub::get().attach(this, host_, port_);
    attached_ = true;
  }

  void created(TaskView v) override {
    auto* e = new Entry;
    e->id = v.id();
    e->parent_id = v.parent_id();
    e->daemon = v.daemon();
    e->task = v.state_ptr();
    {
      std::lock_guard lock(mu_);
      e->name = std::string(v.name());
      e->prev = tail_;
      (tail_ ? tail_->next : head_) = e;
      tail_ = e;
      ++count_;
    }
    v.state_ptr()->extras_or_make().observer = e;
    if (!agent_started_) start_agent();
  }

  void running(TaskView v) override {
    running_since_.store(mono_now(), std::memory_order_relaxed);
    running_id_.store(v.id(), std::memory_order_release);
  }

  void suspended(TaskView v) override {
    running_id_.store(0, std::memory_order_release);
    TaskState* t = v.state_ptr();
    KernelStats st = t->kernel->stats();
    ready_.store(st.ready, std::memory_order_relaxed);
    timers_.store(st.timers, std::memory_order_relaxed);
    fds_.store(st.fds, std::memory_order_relaxed);
    Entry* e = entry_of(t);
    if (!e) return;
    if (v.name() != e->name) {  // renamed with set_name()
      std::lock_guard lock(mu_);
      e->name = std::string(v.name());
    }
    frames_of(t, frames_);
    wait_of(t, wait_);
    std::int64_t timeout = t->terminated ? kNoDeadline : Traps::timeout_deadline(t);
    std::uint32_t s = e->seq.load(std::memory_order_relaxed);
    e->seq.store(s + 1, std::memory_order_relaxed);
    constexpr auto rel = std::memory_order_release;
    e->state.store(static_cast<std::uint8_t>(t->status), rel);
    e->cycles.store(t->cycles, rel);
    e->until.store(wait_.until ? to_ns(*wait_.until) : kNoDeadline, rel);
    e->timeout.store(timeout, rel);
    e->fd.store(wait_.fd, rel);
    e->join_id.store(wait_.task_id, rel);
    e->object.store(wait_.object, rel);
    std::size_t n = std::min(frames_.size(), kEntryFrames);
    std::size_t skip = frames_.size() - n;  // keep the innermost frames
    for (std::size_t i = 0; i < n; ++i) {
      const Frame& f = frames_[skip + i];
      e->frames[i].function.store(f.function.data(), rel);
      e->frames[i].file.store(f.file.data(), rel);
      e->frames[i].line.store(f.line, rel);
    }
    e->depth.store(static_cast<std::uint32_t>(n), rel);
    e->omitted.store(static_cast<std::uint32_t>(skip), rel);
    e->seq.store(s + 2, std::memory_order_release);
  }

  void terminated(TaskView v) override {
    Entry* e = entry_of(v.state_ptr());
    if (!e) return;
    detail::extras_of(v.state_ptr())->observer = nullptr;
    std::lock_guard lock(mu_);
    (e->prev ? e->prev->next : head_) = e->next;
    (e->next ? e->next->prev : tail_) = e->prev;
    --count_;
    delete e;
  }

  // --- console side (any thread; Hub::mu_ held) ---
  void snapshot(std::vector<Snapshot>& out) {
    std::lock_guard lock(mu_);
    std::uint64_t running = running_id_.load(std::memory_order_acquire);
    std::int64_t since = running_since_.load(std::memory_order_relaxed);
    for (Entry* e = head_; e; e = e->next) {
      Snapshot s;
      read(*e, s);
      s.kernel = index_;
      if (s.id == running) {
        s.state = TaskStatus::Running;
        s.running_for = static_cast<double>(std::max<std::int64_t>(0, mono_now() - since)) / 1e9;
        s.frames.clear();
      }
      out.push_back(std::move(s));
    }
  }
  void stats(std::string& out) {
    std::size_t tasks;
    {
      std::lock_guard lock(mu_);
      tasks = count_;
    }
    char buf[256];
    std::snprintf(buf, sizeof buf, "kernel %zu: tasks %zu, ready %zu, timers %zu, fds %zu%s\n", index_, tasks,
                  ready_.load(std::memory_order_relaxed), timers_.load(std::memory_order_relaxed),
                  fds_.load(std::memory_order_relaxed),
                  running_id_.load(std::memory_order_relaxed) ? " (a task is running)" : "");
    out += buf;
  }
  bool has_task(std::uint64_t id) {
    std::lock_guard lock(mu_);
    for (Entry* e = head_; e; e = e->next)
      if (e->id == id) return true;
    return false;
  }
  // Hands a cancel to the kernel's agent task; the reply comes when the kernel runs it.
  void post(Command c) { commands_->put_sync(std::move(c)); }

 private:
  static Entry* entry_of(TaskState* t) noexcept {
    return t->extras ? static_cast<Entry*>(detail::extras_of(t)->observer) : nullptr;
  }

  static void read(Entry& e, Snapshot& s) {
    s.id = e.id;
    s.parent_id = e.parent_id;
    s.daemon = e.daemon;
    s.name = e.name;
    constexpr auto acq = std::memory_order_acquire;
    for (int attempt = 0; attempt < 1000; ++attempt) {
      std::uint32_t s1 = e.seq.load(acq);
      if (s1 & 1) {
        std::this_thread::yield();
        continue;
      }
      s.state = static_cast<TaskStatus>(e.state.load(acq));
      s.cycles = e.cycles.load(acq);
      s.until = e.until.load(acq);
      s.timeout = e.timeout.load(acq);
      s.fd = e.fd.load(acq);
      s.join_id = e.join_id.load(acq);
      s.object = e.object.load(acq);
      std::uint32_t n = std::min<std::uint32_t>(e.depth.load(acq), kEntryFrames);
      s.omitted = e.omitted.load(acq);
      s.frames.clear();
      for (std::uint32_t i = 0; i < n; ++i) {
        const char* fn = e.frames[i].function.load(acq);
        const char* file = e.frames[i].file.load(acq);
        std::uint32_t line = e.frames[i].line.load(acq);
        s.frames.push_back(Frame{fn ? fn : "?", file ? file : "?", line});
      }
      if (e.seq.load(std::memory_order_relaxed) == s1) return;
    }
  }

  // The in-kernel daemon that carries out cancels (curio's monitor does the same): cancelling
  // is a kernel operation, so it happens on the kernel's thread, when the kernel is free.
  void start_agent() {
    agent_started_ = true;
    commands_ = std::make_shared<UniversalQueue<Command>>();
    spawn(*kernel_, agent(this, commands_), SpawnOptions{true, "curio.monitor"});
  }
  static Task<> agent(Probe* self, std::shared_ptr<UniversalQueue<Command>> q) {
    for (;;) {
      Command c = co_await q->get();
      TaskState* target = nullptr;
      {
        std::lock_guard lock(self->mu_);
        for (Entry* e = self->head_; e; e = e->next)
          if (e->id == c.task_id) target = e->task;
      }
      std::string answer;
      if (!target) {
        answer = "No task " + std::to_string(c.task_id) + " (it has ended)";
      } else if (target == Traps::current()) {
        answer = "Task " + std::to_string(c.task_id) + " is the monitor's own agent: not cancelled";
      } else {
        AnyTaskHandle h{TaskRef(target)};
        bool was_alive = co_await h.cancel(false);
        answer = was_alive ? "Cancelled task " + std::to_string(c.task_id) + " '" + std::string(h.name()) + "'"
                           : "Task " + std::to_string(c.task_id) + " had already ended";
      }
      c.reply->set_value(std::move(answer));
    }
  }

  std::string host_;
  std::uint16_t port_;
  Kernel* kernel_ = nullptr;
  std::size_t index_ = 0;
  bool attached_ = false;
  bool agent_started_ = false;
  std::shared_ptr<UniversalQueue<Command>> commands_;
  std::vector<Frame> frames_;  // kernel thread scratch
  WaitInfo wait_;

  std::mutex mu_;  // entries list and names (taken on spawn/exit and by the console)
  Entry* head_ = nullptr;
  Entry* tail_ = nullptr;
  std::size_t count_ = 0;

  std::atomic<std::uint64_t> running_id_{0};
  std::atomic<std::int64_t> running_since_{0};
  std::atomic<std::size_t> ready_{0}, timers_{0}, fds_{0};
};

// --- Hub ----------------------------------------------------------------------------------

std::size_t Hub::attach(Probe* p, const std::string& host, std::uint16_t port) {
  std::lock_guard life(lifecycle_mu_);
  if (listen_fd_ < 0) start(host, port);
  std::lock_guard lock(mu_);
  probes_.push_back(p);
  return next_kernel_++;
}

void Hub::detach(Probe* p) {
  std::lock_guard life(lifecycle_mu_);
  bool last;
  {
    std::lock_guard lock(mu_);
    std::erase(probes_, p);
    last = probes_.empty();
  }
  if (last) stop();
}

void Hub::start(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0)
    throw RuntimeError("curio monitor: cannot resolve '" + host + "': " + ::gai_strerror(rc));
  int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ::freeaddrinfo(res);
    throw_system_error("curio monitor: socket");
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, res->ai_addr, res->ai_addrlen) < 0 || ::listen(fd, 8) < 0) {
    int err = errno;
    ::freeaddrinfo(res);
    ::close(fd);
    throw_system_error("curio monitor: bind/listen " + host + ":" + service, err);
  }
  ::freeaddrinfo(res);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  std::uint16_t bound = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                                 : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    ::close(fd);
    throw_system_error("curio monitor: eventfd");
  }
  {
    std::lock_guard lock(mu_);
    listen_fd_ = fd;
    wake_fd_ = wake;
    address_ = MonitorAddress{host, bound};
  }
  stopping_.store(false);
  // The console thread takes no asynchronous signals, like every thread curio starts: a signal
  // a SignalQueue watches (blocked only in the threads that exist when it is made) would
  // otherwise be delivered here and take its default action (SIGTERM, SIGUSR2: the process
  // ends). The thread inherits the mask set around its creation.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  try {
    thread_ = std::thread([this] { serve(); });
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void Hub::stop() {
  stopping_.store(true);
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
  std::lock_guard lock(mu_);
  ::close(listen_fd_);
  ::close(wake_fd_);
  listen_fd_ = wake_fd_ = -1;
}

bool send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

constexpr std::string_view kPrompt = "curio > ";

void Hub::serve() {
  struct Client {
    int fd;
    std::string buf;
  };
  std::vector<Client> clients;
  int listen_fd, wake_fd;
  {
    std::lock_guard lock(mu_);
    listen_fd = listen_fd_;
    wake_fd = wake_fd_;
  }
  while (!stopping_.load()) {
    std::vector<pollfd> fds{{listen_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    for (auto& c : clients) fds.push_back({c.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents) break;
    for (std::size_t i = clients.size(); i-- > 0;) {
      if (!fds[i + 2].revents) continue;
      Client& c = clients[i];
      char chunk[1024];
      ssize_t n = ::recv(c.fd, chunk, sizeof chunk, 0);
      bool close_it = n <= 0;
      if (n > 0) c.buf.append(chunk, static_cast<std::size_t>(n));
      std::size_t nl;
      while (!close_it && (nl = c.buf.find('\n')) != std::string::npos) {
        std::string line = c.buf.substr(0, nl);
        c.buf.erase(0, nl + 1);
        bool quit = false;
        std::string answer = execute(line, &quit);
        if (quit) {
          send_all(c.fd, answer);
          close_it = true;
        } else if (!send_all(c.fd, answer + std::string(kPrompt))) {
          close_it = true;
        }
      }
      if (!close_it && c.buf.size() > kMaxLine) {
        send_all(c.fd, "Line too long (limit 4096 bytes): connection closed\n");
        close_it = true;
      }
      if (close_it) {
        ::close(c.fd);
        clients.erase(clients.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    if (fds[0].revents & POLLIN) {
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        timeval tv{2, 0};  // a client that stops reading cannot stall the console for long
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (clients.size() >= kMaxClients) {
          send_all(fd, "curio monitor: too many clients\n");
          ::close(fd);
        } else {
          send_all(fd, "curio-cpp monitor (pid " + std::to_string(::getpid()) + "). Type help for commands.\n" +
                           std::string(kPrompt));
          clients.push_back({fd, {}});
        }
      }
    }
  }
  for (auto& c : clients) ::close(c.fd);
}

std::vector<Snapshot> Hub::snapshot_all() {
  std::vector<Snapshot> all;
  for (Probe* p : probes_) p->snapshot(all);
  return all;
}

std::string fmt_rel(std::int64_t at_ns) {
  if (at_ns == kNoDeadline) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.3fs", static_cast<double>(at_ns - mono_now()) / 1e9);
  return buf;
}

WaitInfo wait_info(const Snapshot& s) {
  WaitInfo w;
  w.state = s.state;
  w.fd = s.fd;
  if (s.until != kNoDeadline) w.until = to_time_point(s.until);
  w.task_id = s.join_id;
  w.object = s.object;
  return w;
}

TaskTrace to_trace(const Snapshot& s) {
  TaskTrace t;
  t.id = s.id;
  t.parent_id = s.parent_id;
  t.name = s.name;
  t.state = s.state;
  t.cycles = s.cycles;
  t.daemon = s.daemon;
  t.frames = s.frames;
  t.wait = wait_info(s);
  if (s.timeout != kNoDeadline) t.timeout = to_time_point(s.timeout);
  t.running_for_seconds = s.running_for;
  return t;
}

std::string Hub::cmd_ps() {
  std::vector<Snapshot> all = snapshot_all();
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-6s %-6s %-13s %-8s %-9s %-20s %s\n", "Kernel", "Task", "State", "Cycles", "Timeout",
                "Name", "Waits on");
  out += buf;
  out += std::string(90, '-') + "\n";
  for (const Snapshot& s : all) {
    std::string waits;
    if (s.running_for) {
      std::snprintf(buf, sizeof buf, "running for %.3fs", *s.running_for);
      waits = buf;
    } else {
      waits = wait_info(s).describe();
    }
    std::snprintf(buf, sizeof buf, "%-6zu %-6llu %-13s %-8llu %-9s %-20.20s %s\n", s.kernel,
                  static_cast<unsigned long long>(s.id), to_string(s.state), static_cast<unsigned long long>(s.cycles),
                  fmt_rel(s.timeout).c_str(), s.name.c_str(), waits.c_str());
    out += buf;
  }
  return out;
}

std::string Hub::cmd_where(std::uint64_t id) {
  for (const Snapshot& s : snapshot_all()) {
    if (s.id != id) continue;
    std::string out = "Kernel " + std::to_string(s.kernel) + ": " + to_trace(s).to_string();
    if (s.omitted) out += "  (" + std::to_string(s.omitted) + " outer frames not kept)\n";
    return out;
  }
  return "No task " + std::to_string(id) + "\n";
}

std::string Hub::cmd_parents(std::uint64_t id) {
  std::vector<Snapshot> all = snapshot_all();
  std::string out;
  for (int hops = 0; id != 0 && hops < 1000; ++hops) {
    auto it = std::find_if(all.begin(), all.end(), [&](const Snapshot& s) { return s.id == id; });
    if (it == all.end()) {
      out += "Task " + std::to_string(id) + " (ended)\n";
      break;
    }
    out += "Task " + std::to_string(it->id) + " '" + it->name + "' (kernel " + std::to_string(it->kernel) + ", " +
           to_string(it->state) + ")\n";
    id = it->parent_id;
  }
  return out.empty() ? "No task\n" : out;
}

std::string Hub::cmd_cancel(std::uint64_t id) {
  Probe* owner = nullptr;
  for (Probe* p : probes_)
    if (p->has_task(id)) owner = p;
  if (!owner) return "No task " + std::to_string(id) + "\n";
  auto reply = std::make_shared<std::promise<std::string>>();
  auto answer = reply->get_future();
  owner->post(Command{id, reply});
  if (answer.wait_for(std::chrono::seconds(1)) != std::future_status::ready)
    return "Cancel of task " + std::to_string(id) +
           " requested; the kernel is busy and will deliver it when it is free\n";
  return answer.get() + "\n";
}

std::string Hub::cmd_stats() {
  std::string out;
  for (Probe* p : probes_) p->stats(out);
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  char buf[128];
  std::snprintf(buf, sizeof buf, "process: pid %d, resident memory %.1f MiB, %zu monitored kernel(s)\n", ::getpid(),
                static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0),
                probes_.size());
  out += buf;
  return out;
}

std::string Hub::cmd_signal(std::string_view name) {
  std::string n(name);
  if (n.rfind("SIG", 0) == 0) n.erase(0, 3);
  int sig = 0;
  auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), sig);
  if (ec != std::errc() || p != n.data() + n.size()) {
    sig = 0;
    for (int s = 1; s < NSIG; ++s) {
      const char* abbrev = ::sigabbrev_np(s);
      if (abbrev && n == abbrev) sig = s;
    }
  }
  if (sig <= 0 || sig >= NSIG) return "Unknown signal '" + std::string(name) + "'\n";
  if (::kill(::getpid(), sig) < 0) return "kill failed: " + std::string(std::strerror(errno)) + "\n";
  const char* abbrev = ::sigabbrev_np(sig);
  return "Sent SIG" + std::string(abbrev ? abbrev : "?") + " to process " + std::to_string(::getpid()) + "\n";
}

constexpr std::string_view kHelp =
    "Commands:\n"
    "  ps             list every task: kernel, id, state, cycles, timeout, name, what it waits on\n"
    "  where ID       the task's async stack (root first, file:line of each co_await)\n"
    "  cancel ID      cancel the task (delivered at its current or next blocking operation)\n"
    "  signal NAME    send a Unix signal (TERM, SIGINT, 15...) to this process\n"
    "  parents ID     the task and its parents\n"
    "  stats          per kernel: tasks, ready queue, timers, fds; process memory\n"
    "  help           this text\n"
    "  exit, quit     close the connection\n";

std::string Hub::execute(std::string_view line, bool* quit) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  std::string_view cmd = line.substr(0, line.find(' '));
  std::string_view arg = cmd.size() < line.size() ? line.substr(cmd.size() + 1) : std::string_view{};
  while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
  auto id_arg = [&](std::uint64_t& id) {
    auto [p, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), id);
    return ec == std::errc() && p == arg.data() + arg.size() && !arg.empty();
  };
  if (quit) *quit = false;
  if (cmd.empty()) return "";
  if (cmd == "exit" || cmd == "quit") {
    if (quit) *quit = true;
    return "Bye\n";
  }
  if (cmd == "help") return std::string(kHelp);
  std::lock_guard lock(mu_);
  if (cmd == "ps") return cmd_ps();
  if (cmd == "stats") return cmd_stats();
  if (cmd == "signal") return arg.empty() ? "Usage: signal NAME\n" : cmd_signal(arg);
  if (cmd == "where" || cmd == "cancel" || cmd == "parents") {
    std::uint64_t id = 0;
    if (!id_arg(id)) return "Usage: " + std::string(cmd) + " ID (a task id from ps)\n";
    if (cmd == "where") return cmd_where(id);
    if (cmd == "cancel") return cmd_cancel(id);
    return cmd_parents(id);
  }
  return "Unknown command '" + std::string(cmd) + "'. Type help.\n";
}

}  // namespace

bool monitor_requested_by_env(std::string& host, std::uint16_t& port) {
  const char* v = std::getenv("CURIO_MONITOR");
  if (!v || !*v || std::strcmp(v, "0") == 0) return false;
  std::string s(v);
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  std::string port_part = s;
  if (auto colon = s.rfind(':'); colon != std::string::npos) {
    host = s.substr(0, colon);
    port_part = s.substr(colon + 1);
  }
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port_part.data(), port_part.data() + port_part.size(), value);
  if (ec != std::errc() || p != port_part.data() + port_part.size() || value > 65535 || host.empty())
    throw RuntimeError("curio: CURIO_MONITOR='" + s + "' is not 1, PORT or HOST:PORT");
  port = static_cast<std::uint16_t>(value);
  return true;
}

std::shared_ptr<Activation> make_monitor_probe(Kernel&, const std::string& host, std::uint16_t port) {
  return std::make_shared<Probe>(host, port);
}

}  // namespace detail

std::optional<MonitorAddress> monitor_address() { return detail::Hub::get().address(); }

std::string monitor_command(std::string_view line) {
  if (!monitor_address()) throw RuntimeError("curio::monitor_command: no monitor console is open");
  return detail::Hub::get().execute(line, nullptr);
}

}  // namespace curio
