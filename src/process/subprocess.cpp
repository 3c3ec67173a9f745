// src/process/subprocess.cpp: posix_spawnp with file actions for the three standard streams,
// pidfd-based waiting, communicate() over a TaskGroup, and run()/check_output() on top.
#include "curio/process/subprocess.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "curio/core/cancellation.hpp"
#include "curio/core/task_group.hpp"
#include "curio/core/time.hpp"
#include "curio/io/detail/fd_handle.hpp"

extern char** environ;

namespace curio::subprocess {

namespace {

// A descriptor closed at the end of the scope (the child's ends of the pipes, temporary dups).
struct ScopedFd {
  int fd = -1;
  ScopedFd() = default;
  explicit ScopedFd(int f) noexcept : fd(f) {}
  ScopedFd(ScopedFd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  ScopedFd& operator=(ScopedFd&&) = delete;
  ~ScopedFd() {
    if (fd >= 0) ::close(fd);
  }
};

// RAII for the posix_spawn attribute and file-action objects.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    if (int e = ::posix_spawn_file_actions_init(&actions)) throw_system_error("posix_spawn_file_actions_init", e);
    if (int e = ::posix_spawnattr_init(&attr)) {
      ::posix_spawn_file_actions_destroy(&actions);
      throw_system_error("posix_spawnattr_init", e);
    }
  }
  ~SpawnSetup() {
    ::posix_spawnattr_destroy(&attr);
    ::posix_spawn_file_actions_destroy(&actions);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

void check(int err, const char* what) {
  if (err) throw_system_error(what, err);
}

// The returncode of a wait status: exit status, or -signal (as Python).
int decode_status(int status) noexcept {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return status;  // stopped/continued: not reported by waitpid without WUNTRACED
}

int open_pidfd(int pid) noexcept {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

// Everything that can be read from fd right now, without waiting (fd is non-blocking).
std::string drain_now(FileStream* s) {
  std::string out;
  if (!s || s->fileno() < 0) return out;
  std::array<char, 16384> buf;
  for (;;) {
    ssize_t n = ::read(s->fileno(), buf.data(), buf.size());
    if (n > 0) {
      out.append(buf.data(), static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;  // EOF, EAGAIN (a grandchild still holds the pipe) or an error: stop here
    }
  }
  return out;
}

std::string join_args(const std::vector<std::string>& args) {
  std::string s;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (i) s.append(" ");
    s.append(args[i]);
  }
  return s;
}

// Reads the stream until end of stream, appending each chunk to out as it arrives (so out
// holds everything read so far if the reader is cancelled).
Task<> read_into(FileStream& s, std::string& out) {
  for (;;) {
    std::string chunk = co_await s.read(65536);
    if (chunk.empty()) co_return;
    out.append(chunk);
  }
}

// Writes input and closes the stream. A child that exits without reading all of its input
// is not an error (Python ignores BrokenPipeError here too).
// Resumes at offset (advanced by what went out, also when cancelled), so a retried
// communicate() never sends a byte twice.
Task<> write_and_close(FileStream& s, const std::string& input, std::size_t& offset) {
  try {
    if (offset < input.size()) co_await s.write(std::string_view(input).substr(offset));
    offset = input.size();
  } catch (const SystemError& e) {
    if (e.error_number() != EPIPE) throw;
  } catch (CancelledError& e) {
    offset += e.bytes_written.value_or(0);
    throw;
  }
  s.close();
}

}  // namespace

// --- Popen ---

Popen::Popen(std::vector<std::string> args, PopenOptions options) : args_(std::move(args)) {
  if (args_.empty()) throw std::invalid_argument("curio::subprocess::Popen: empty argument list");
  if (options.stdin_mode.kind() == Redirect::Kind::Stdout || options.stdout_mode.kind() == Redirect::Kind::Stdout)
    throw std::invalid_argument("curio::subprocess::Popen: STDOUT is only valid for stderr_mode");

  SpawnSetup setup;
  std::vector<ScopedFd> temporaries;  // closed in the parent once the child is started
  temporaries.reserve(6);
  std::vector<std::pair<int, int>> made_blocking;  // (fd, old flags) of from_stream descriptors

  // A parent descriptor for the child, at 3 or above so that an earlier dup2 onto 0-2 cannot
  // overwrite it (matters when the parent's own 0-2 are closed or passed crosswise).
  auto high_fd = [&](int fd) -> int {
    if (fd >= 3) return fd;
    int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (d < 0) throw_system_error("fcntl(F_DUPFD_CLOEXEC)");
    temporaries.emplace_back(d);
    return d;
  };

  auto setup_stream = [&](const Redirect& r, int target, std::unique_ptr<FileStream>& parent_end) {
    switch (r.kind()) {
      case Redirect::Kind::Inherit:
        return;
      case Redirect::Kind::Pipe: {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) < 0) throw_system_error("pipe2");
        int parent = target == 0 ? p[1] : p[0];
        int child = target == 0 ? p[0] : p[1];
        try {
          parent_end = std::make_unique<FileStream>(parent);  // owns it from here (non-blocking)
        } catch (...) {
          // The FileStream closed `parent` itself if its constructor failed; closing it again
          // could close another thread's new descriptor. (Only a failed allocation, before
          // the constructor ran, would leave it open.)
          ::close(child);
          throw;
        }
        temporaries.emplace_back(child);
        check(::posix_spawn_file_actions_adddup2(&setup.actions, high_fd(child), target),
              "posix_spawn_file_actions_adddup2");
        return;
      }
      case Redirect::Kind::DevNull:
        check(::posix_spawn_file_actions_addopen(&setup.actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY,
                                                 0),
              "posix_spawn_file_actions_addopen");
        return;
      case Redirect::Kind::Stdout:
        check(::posix_spawn_file_actions_adddup2(&setup.actions, 1, 2), "posix_spawn_file_actions_adddup2");
        return;
      case Redirect::Kind::Stream:
      case Redirect::Kind::Fd: {
        int fd = r.kind() == Redirect::Kind::Stream && r.stream() ? r.stream()->fileno() : r.fileno();
        if (fd < 0) throw std::invalid_argument("curio::subprocess::Popen: redirection to a closed descriptor");
        if (r.kind() == Redirect::Kind::Stream && r.stream() && r.stream()->buffered() > 0)
          throw std::invalid_argument(
              "curio::subprocess::Popen: the stream given as a redirection has data buffered that the "
              "child would never see");
        if (r.kind() == Redirect::Kind::Stream) {
          // The stream is non-blocking for the kernel; the child expects an ordinary pipe.
          int flags = ::fcntl(fd, F_GETFL);
          if (flags < 0) throw_system_error("fcntl(F_GETFL)");
          if (flags & O_NONBLOCK) {
            if (::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) throw_system_error("fcntl(F_SETFL)");
            made_blocking.emplace_back(fd, flags);
          }
        }
        // dup2(fd, fd) clears FD_CLOEXEC in glibc's posix_spawn (POSIX 2024), as needed.
        check(::posix_spawn_file_actions_adddup2(&setup.actions, fd == target ? fd : high_fd(fd), target),
              "posix_spawn_file_actions_adddup2");
        return;
      }
    }
  };

  try {
    setup_stream(options.stdin_mode, 0, stdin_);
    setup_stream(options.stdout_mode, 1, stdout_);
    setup_stream(options.stderr_mode, 2, stderr_);
    if (options.close_fds)
      check(::posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3), "posix_spawn_file_actions_addclosefrom_np");
    if (options.cwd)
      check(::posix_spawn_file_actions_addchdir_np(&setup.actions, options.cwd->c_str()),
            "posix_spawn_file_actions_addchdir_np");

    // The kernel ignores SIGPIPE (FileStream) and may block signals: the child starts clean.
    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    if (options.start_new_session) flags |= POSIX_SPAWN_SETSID;
    sigset_t defaults, mask;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGXFSZ);
    sigemptyset(&mask);
    check(::posix_spawnattr_setsigdefault(&setup.attr, &defaults), "posix_spawnattr_setsigdefault");
    check(::posix_spawnattr_setsigmask(&setup.attr, &mask), "posix_spawnattr_setsigmask");
    check(::posix_spawnattr_setflags(&setup.attr, flags), "posix_spawnattr_setflags");

    std::vector<char*> argv;
    argv.reserve(args_.size() + 1);
    for (auto& a : args_) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    if (options.env) {
      envp.reserve(options.env->size() + 1);
      for (auto& e : *options.env) envp.push_back(e.data());
      envp.push_back(nullptr);
    }

    pid_t pid = -1;
    int err =
        ::posix_spawnp(&pid, argv[0], &setup.actions, &setup.attr, argv.data(), options.env ? envp.data() : environ);
    if (err) {
      std::string what = "posix_spawnp '";
      what.append(args_[0]).append("'");
      if (options.cwd) {
        struct stat st;
        if (::stat(options.cwd->c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
          what.append(" (cannot change to directory '").append(*options.cwd).append("')");
      }
      throw SystemError(err, what);
    }
    pid_ = pid;
  } catch (...) {
    for (auto [fd, old] : made_blocking) ::fcntl(fd, F_SETFL, old);
    throw;
  }
  // The child has its own copies now; a stream handed over is the child's alone.
  for (const Redirect* r : {&options.stdin_mode, &options.stdout_mode, &options.stderr_mode})
    if (r->kind() == Redirect::Kind::Stream && r->stream()) r->stream()->close();
}

Popen::Popen(Popen&& o) noexcept
    : args_(std::move(o.args_)),
      pid_(std::exchange(o.pid_, -1)),
      returncode_(o.returncode_),
      stdin_(std::move(o.stdin_)),
      stdout_(std::move(o.stdout_)),
      stderr_(std::move(o.stderr_)),
      communication_started_(o.communication_started_),
      input_(std::move(o.input_)),
      input_offset_(o.input_offset_) {}

Popen& Popen::operator=(Popen&& o) noexcept {
  if (this != &o) {
    stdin_.reset();
    stdout_.reset();
    stderr_.reset();
    reap_blocking();
    args_ = std::move(o.args_);
    pid_ = std::exchange(o.pid_, -1);
    returncode_ = o.returncode_;
    stdin_ = std::move(o.stdin_);
    stdout_ = std::move(o.stdout_);
    stderr_ = std::move(o.stderr_);
    communication_started_ = o.communication_started_;
    input_ = std::move(o.input_);
    input_offset_ = o.input_offset_;
  }
  return *this;
}

Popen::~Popen() {
  stdin_.reset();
  stdout_.reset();
  stderr_.reset();
  reap_blocking();
}

// The destructor's fallback: a child still running is killed, then reaped (SIGKILL cannot be
// caught, so the blocking waitpid returns as soon as the kernel has torn the child down).
void Popen::reap_blocking() noexcept {
  if (pid_ <= 0 || returncode_) return;
  try {
    if (try_reap()) return;
  } catch (...) {
    return;  // not our child any more (ECHILD is handled in try_reap)
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  returncode_ = r == pid_ ? decode_status(status) : 0;
}

// One non-blocking waitpid. True once the child has been reaped.
bool Popen::try_reap() {
  if (returncode_) return true;
  if (pid_ <= 0) throw RuntimeError("curio::subprocess::Popen: no child process (moved from)");
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      returncode_ = decode_status(status);
      return true;
    }
    if (r == 0) return false;
    if (errno == EINTR) continue;
    if (errno == ECHILD) {
      // Reaped behind our back (SIGCHLD set to SIG_IGN, or a waitpid(-1) elsewhere): the
      // status is lost. Python reports 0 in this case too.
      returncode_ = 0;
      return true;
    }
    throw_system_error("waitpid");
  }
}

std::optional<int> Popen::poll() {
  try_reap();
  return returncode_;
}

Task<int> Popen::wait() {
  if (try_reap()) co_return *returncode_;
  // A pidfd becomes readable when the child exits. Each call opens its own, so several tasks
  // may wait for the same child (the first to wake reaps it; the others find returncode_ set).
  int pidfd = open_pidfd(pid_);
  while (pidfd < 0 && errno == ESRCH) {
    // Reaped behind our back between try_reap and pidfd_open (SIGCHLD ignored): try_reap says so.
    if (try_reap()) co_return *returncode_;
    pidfd = open_pidfd(pid_);
  }
  if (pidfd < 0) {
    // No pidfd (old kernel, seccomp, or out of descriptors): poll instead.
    if (errno != ENOSYS && errno != EPERM && errno != EMFILE && errno != ENFILE) throw_system_error("pidfd_open");
    // Kernels before 5.3: poll with a growing interval (1 ms to 50 ms).
    auto interval = std::chrono::milliseconds(1);
    while (!try_reap()) {
      co_await curio::sleep(interval);
      if (interval < std::chrono::milliseconds(50)) interval *= 2;
    }
    co_return *returncode_;
  }
  detail::FdHandle handle(pidfd);
  while (!try_reap()) co_await handle.wait(detail::IoDirection::Read);
  co_return *returncode_;
}

void Popen::send_signal(int sig) {
  if (try_reap()) return;  // reaped: the pid may belong to someone else by now
  // Not yet reaped: the pid is still ours (at worst a zombie, for which kill() does nothing).
  if (::kill(pid_, sig) < 0 && errno != ESRCH) throw_system_error("kill");
}

void Popen::terminate() { send_signal(SIGTERM); }
void Popen::kill() { send_signal(SIGKILL); }

Task<Output> Popen::communicate(std::string_view input) {
  if (!input.empty() && !stdin_)
    throw RuntimeError("curio::subprocess::Popen::communicate: input given but stdin is not PIPE");
  if (communication_started_ && !input.empty())
    throw RuntimeError(
        "curio::subprocess::Popen::communicate: cannot send input after starting communication "
        "(call communicate() again without input to finish sending the first call's)");
  if (!communication_started_) {
    communication_started_ = true;
    input_.assign(input);
  }
  Output out;
  std::exception_ptr error;
  try {
    TaskGroup g;
    co_await g.scope([&](TaskGroup& group) -> Task<> {
      if (stdin_ && stdin_->fileno() >= 0) group.spawn(write_and_close(*stdin_, input_, input_offset_));
      if (stdout_ && stdout_->fileno() >= 0) group.spawn(read_into(*stdout_, out.stdout_data));
      if (stderr_ && stderr_->fileno() >= 0) group.spawn(read_into(*stderr_, out.stderr_data));
      co_return;
    });
    // join() never raises a member's error: the first real failure (not the cancellations
    // of the others that it caused) is ours.
    std::exception_ptr first;
    for (const auto& e : g.exceptions()) {
      if (e && !is_cancellation(e)) std::rethrow_exception(e);
      if (e && !first) first = e;
    }
    if (first) std::rethrow_exception(first);
    if (stdout_) stdout_->close();
    if (stderr_) stderr_->close();
    co_await wait();
  } catch (...) {
    error = std::current_exception();
  }
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (CancelledError& e) {
      if (stdout_) e.partial_stdout = std::move(out.stdout_data);
      if (stderr_) e.partial_stderr = std::move(out.stderr_data);
      throw;
    }
  }
  co_return out;
}

// --- CompletedProcess / CalledProcessError ---

namespace {
std::string called_process_message(int returncode, const std::vector<std::string>& cmd) {
  std::string m = "command '";
  m.append(join_args(cmd)).append("' ");
  if (returncode < 0) {
    m.append("died with signal ").append(std::to_string(-returncode));
    if (const char* name = ::sigabbrev_np(-returncode)) m.append(" (SIG").append(name).append(")");
  } else {
    m.append("returned non-zero exit status ").append(std::to_string(returncode));
  }
  return m;
}
}  // namespace

CalledProcessError::CalledProcessError(int returncode, std::vector<std::string> cmd, std::string output,
                                       std::string stderr_output)
    : CurioError(called_process_message(returncode, cmd)),
      returncode_(returncode),
      cmd_(std::move(cmd)),
      output_(std::move(output)),
      stderr_output_(std::move(stderr_output)) {}

void CompletedProcess::check_returncode() const {
  if (returncode != 0) throw CalledProcessError(returncode, args, stdout_data, stderr_data);
}

// --- run / check_output ---

namespace {

// run()'s options, owned (RunOptions only views the caller's strings).
struct RunSpec {
  PopenOptions popen;
  std::optional<std::string> input;
  bool check = false;
  std::optional<std::chrono::nanoseconds> timeout;
};

RunSpec make_spec(const RunOptions& options) {
  RunSpec spec;
  PopenOptions& po = spec.popen;
  po.stdin_mode = options.stdin_mode;
  po.stdout_mode = options.stdout_mode;
  po.stderr_mode = options.stderr_mode;
  if (options.cwd) po.cwd.emplace(*options.cwd);
  if (options.env) po.env.emplace(options.env->begin(), options.env->end());
  po.close_fds = options.close_fds;
  po.start_new_session = options.start_new_session;
  if (options.input) {
    if (options.stdin_mode.kind() != Redirect::Kind::Inherit)
      throw std::invalid_argument("curio::subprocess::run: stdin_mode and input may not both be used");
    po.stdin_mode = PIPE;
    spec.input.emplace(*options.input);
  }
  if (options.capture_output) {
    if (options.stdout_mode.kind() != Redirect::Kind::Inherit || options.stderr_mode.kind() != Redirect::Kind::Inherit)
      throw std::invalid_argument(
          "curio::subprocess::run: capture_output may not be used with stdout_mode or stderr_mode");
    po.stdout_mode = PIPE;
    po.stderr_mode = PIPE;
  }
  spec.check = options.check;
  spec.timeout = options.timeout;
  return spec;
}

Task<CompletedProcess> run_spec(std::vector<std::string> args, RunSpec spec) {
  Popen p(args, std::move(spec.popen));
  std::string_view input = spec.input ? std::string_view(*spec.input) : std::string_view();
  Output out;
  std::exception_ptr error;
  try {
    if (spec.timeout)
      out = co_await timeout_after(*spec.timeout, p.communicate(input));
    else
      out = co_await p.communicate(input);
  } catch (...) {
    error = std::current_exception();
  }
  if (error) {
    // Kill and reap the child before the exception leaves (shielded: a second cancellation
    // must not leave it running), then add what it wrote before it died.
    try {
      p.kill();
    } catch (...) {
    }
    co_await disable_cancellation([&p]() -> Task<> {
      try {
        co_await p.wait();
      } catch (const CurioError&) {
      } catch (const std::system_error&) {
      }
    });
    std::string rest_out = drain_now(p.stdout_stream());
    std::string rest_err = drain_now(p.stderr_stream());
    try {
      std::rethrow_exception(error);
    } catch (CancelledError& e) {
      if (p.stdout_stream()) {
        if (!e.partial_stdout) e.partial_stdout.emplace();
        e.partial_stdout->append(rest_out);
      }
      if (p.stderr_stream()) {
        if (!e.partial_stderr) e.partial_stderr.emplace();
        e.partial_stderr->append(rest_err);
      }
      throw;
    }
  }
  CompletedProcess done{std::move(args), *p.returncode(), std::move(out.stdout_data), std::move(out.stderr_data)};
  if (spec.check) done.check_returncode();
  co_return done;
}

Task<std::string> stdout_of(Task<CompletedProcess> run) {
  CompletedProcess r = co_await std::move(run);
  co_return std::move(r.stdout_data);
}

}  // namespace

// Plain functions (not coroutines): the options are checked and copied at the call.
Task<CompletedProcess> run(std::vector<std::string> args, const RunOptions& options) {
  return run_spec(std::move(args), make_spec(options));
}

Task<std::string> check_output(std::vector<std::string> args, const RunOptions& options) {
  if (options.stdout_mode.kind() != Redirect::Kind::Inherit || options.capture_output)
    throw std::invalid_argument(
        "curio::subprocess::check_output: stdout is captured; do not set stdout_mode or capture_output");
  RunOptions o = options;
  o.stdout_mode = PIPE;
  o.check = true;
  return stdout_of(run(std::move(args), o));
}

}  // namespace curio::subprocess
