// src/process/run_in_process.cpp: forking a worker and collecting its reply without blocking.
#include "curio/process/run_in_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "curio/io/detail/fd_handle.hpp"
#include "curio/io/stream.hpp"

namespace curio::detail {

std::string describe_current_exception() { return describe_exception(std::current_exception()); }

namespace {

void write_all(int fd, const std::string& data) noexcept {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    done += static_cast<std::size_t>(n);
  }
}

std::string exit_description(int status) {
  if (WIFSIGNALED(status)) {
    std::string out = "was killed by signal ";
    out.append(std::to_string(WTERMSIG(status))).append(" (").append(::strsignal(WTERMSIG(status))).append(")");
    return out;
  }
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

Task<std::string> run_forked(std::function<std::string()> body) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) throw_system_error("pipe2");
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw_system_error("fork", err);
  }
  if (pid == 0) {
    // Nothing may escape into the parent's code from here: the child ends in _exit, always.
    try {
      ::close(fds[0]);
      std::string reply = body();
      write_all(fds[1], reply);
    } catch (...) {
      ::_exit(127);
    }
    ::_exit(0);  // no atexit handlers or static destructors: they belong to the parent
  }
  ::close(fds[1]);
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  FdHandle exited(pidfd);  // readable once the worker has exited
  auto kill_worker = [&] {
    // Through the pidfd when there is one: it cannot hit a reused pid.
    if (pidfd < 0 || ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) < 0) ::kill(pid, SIGKILL);
  };
  std::optional<FileStream> reply_stream;
  try {
    reply_stream.emplace(fds[0]);
  } catch (...) {  // (the FileStream closed fds[0] already)
    kill_worker();
    ::waitpid(pid, nullptr, 0);
    throw;
  }
  FileStream& reply = *reply_stream;
  std::string data;
  int status = 0;
  bool reaped = false;
  try {
    data = co_await reply.readall();
    if (pidfd >= 0) co_await exited.wait(IoDirection::Read, /*after_would_block=*/false);
    reaped = ::waitpid(pid, &status, 0) == pid;
  } catch (...) {
    // Cancelled (or the kernel failed): the worker must not outlive the call, nor linger as a
    // zombie. After SIGKILL the wait is short.
    if (!reaped) {
      kill_worker();
      ::waitpid(pid, &status, 0);
    }
    throw;
  }
  if (!data.empty() && data[0] == 'V' && WIFEXITED(status) && WEXITSTATUS(status) == 0) co_return data.substr(1);
  if (!data.empty() && data[0] == 'E')
    throw ProcessError("curio: run_in_process: the function raised " + data.substr(1));
  throw ProcessError("curio: run_in_process: the worker process " + exit_description(status) + " without a result");
}

}  // namespace curio::detail
