// curio/process/subprocess.hpp: child processes with asynchronous pipes (curio.subprocess).
//
//   using namespace curio::subprocess;
//   std::vector<std::string> ls{"ls", "-l"};
//   CompletedProcess r = co_await run(ls, {.capture_output = true, .check = true});
//   std::vector<std::string> uname{"uname", "-r"};
//   std::string version = co_await check_output(uname);     // "6.1.0-...\n"
//
//   Popen p({"sort"}, {.stdin_mode = PIPE, .stdout_mode = PIPE});
//   auto [out, err] = co_await p.communicate("b\na\n");      // out == "a\nb\n"
//
// (GCC 12 rejects a braced list inside a co_await expression, "array used as initializer":
// write co_await run(ls) with a named vector, not co_await run({"ls", "-l"}). Clang accepts both.)
//
// Children are started with posix_spawnp. Their pipes are curio FileStreams, and wait() sleeps
// on a pidfd registered with the kernel's poller: nothing here blocks the kernel (except the
// destructor of a Popen whose child is still running, which kills and reaps it; see ~Popen).
// A child gets SIGPIPE back at its default action and an empty signal mask, and (close_fds)
// no descriptor of the parent other than its stdin, stdout and stderr.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "curio/core/errors.hpp"
#include "curio/core/task.hpp"
#include "curio/io/stream.hpp"

namespace curio::subprocess {

// Where a child's stdin, stdout or stderr goes. Use the constants INHERIT (the default), PIPE,
// DEVNULL and STDOUT (stderr only), or from_fd / from_stream.
class Redirect {
 public:
  enum class Kind : unsigned char { Inherit, Pipe, DevNull, Stdout, Fd, Stream };

  constexpr Redirect() noexcept = default;
  constexpr explicit Redirect(Kind kind) noexcept : kind_(kind) {}

  // An open descriptor of the parent (borrowed: the parent keeps it open). The child shares
  // its open file description, O_NONBLOCK included.
  static constexpr Redirect from_fd(int fd) noexcept {
    Redirect r(Kind::Fd);
    r.fd_ = fd;
    return r;
  }
  // Hands a curio stream's descriptor to the child (for pipelines: another Popen's
  // stdout_stream()). Popen makes the descriptor blocking for the child and closes the
  // parent's stream once the child is started, so the first child gets SIGPIPE if the second
  // one exits early (Python's recommended p1.stdout.close()).
  static Redirect from_stream(FileStream& stream) noexcept {
    Redirect r(Kind::Stream);
    r.stream_ = &stream;
    r.fd_ = stream.fileno();
    return r;
  }

  constexpr Kind kind() const noexcept { return kind_; }
  constexpr int fileno() const noexcept { return fd_; }
  constexpr FileStream* stream() const noexcept { return stream_; }

 private:
  Kind kind_ = Kind::Inherit;
  int fd_ = -1;
  FileStream* stream_ = nullptr;
};

inline constexpr Redirect INHERIT{Redirect::Kind::Inherit};
inline constexpr Redirect PIPE{Redirect::Kind::Pipe};
inline constexpr Redirect DEVNULL{Redirect::Kind::DevNull};
inline constexpr Redirect STDOUT{Redirect::Kind::Stdout};  // stderr_mode only: into stdout

struct PopenOptions {
  Redirect stdin_mode = INHERIT;
  Redirect stdout_mode = INHERIT;
  Redirect stderr_mode = INHERIT;
  std::optional<std::string> cwd{};               // the child's working directory
  std::optional<std::vector<std::string>> env{};  // "K=V" entries; nullopt: the parent's environment
  bool close_fds = true;                          // the child inherits no other descriptor of the parent
  bool start_new_session = false;                 // setsid() in the child
};

// stdout and stderr of a finished communicate().
struct Output {
  std::string stdout_data;
  std::string stderr_data;
};

// A child process. Move-only. Not thread-safe: use it from one kernel's thread.
class Popen {
 public:
  // Starts args[0] (searched in PATH unless it contains '/') with arguments args.
  // SystemError("posix_spawnp 'prog'") if it cannot be started (errno ENOENT when not found);
  // std::invalid_argument for empty args or contradictory options.
  explicit Popen(std::vector<std::string> args, PopenOptions options = {});
  Popen(Popen&& o) noexcept;
  Popen& operator=(Popen&& o) noexcept;
  Popen(const Popen&) = delete;
  Popen& operator=(const Popen&) = delete;
  // Closes the pipes. If the child is still running and was never reaped: SIGKILL and a
  // blocking waitpid (immediate in practice), so a Popen never leaks a zombie or a running
  // child. Await wait() or communicate() first to let it finish on its own.
  ~Popen();

  int pid() const noexcept { return pid_; }
  const std::vector<std::string>& args() const noexcept { return args_; }

  // The parent's ends of the pipes; nullptr when that stream is not PIPE.
  FileStream* stdin_stream() noexcept { return stdin_.get(); }
  FileStream* stdout_stream() noexcept { return stdout_.get(); }
  FileStream* stderr_stream() noexcept { return stderr_.get(); }

  // Waits (without blocking the kernel) until the child exits and returns its returncode:
  // the exit status, or -N if signal N killed it. Cancelling the wait does not kill the child.
  Task<int> wait();
  // Reaps the child if it has exited, without waiting: its returncode, or nullopt if running.
  std::optional<int> poll();
  // The returncode once the child has been reaped (by wait, poll or communicate).
  std::optional<int> returncode() const noexcept { return returncode_; }

  // Sends sig to the child; does nothing once it has been reaped.
  void send_signal(int sig);
  void terminate();  // SIGTERM
  void kill();       // SIGKILL

  // Writes input to stdin (if stdin is PIPE) and closes it, reads stdout and stderr (those that
  // are PIPE) until end of stream, concurrently, then waits for the child. If cancelled (or
  // timed out), the exception's partial_stdout / partial_stderr hold what was read so far; the
  // child keeps running. Calling communicate() again (without input) resumes: the rest of the
  // first call's input is sent, never a byte twice, and the output read from then on is
  // returned. RuntimeError if input is given but stdin is not PIPE, or on a later call.
  Task<Output> communicate(std::string_view input = {});

 private:
  void reap_blocking() noexcept;
  bool try_reap();

  std::vector<std::string> args_;
  int pid_ = -1;
  std::optional<int> returncode_;
  std::unique_ptr<FileStream> stdin_;
  std::unique_ptr<FileStream> stdout_;
  std::unique_ptr<FileStream> stderr_;
  // communicate()'s input, kept so a call that was cancelled or timed out can be resumed by
  // calling communicate() again without input (Python's _input/_input_offset).
  bool communication_started_ = false;
  std::string input_;
  std::size_t input_offset_ = 0;
};

// The result of run().
struct CompletedProcess {
  std::vector<std::string> args;
  int returncode = 0;
  std::string stdout_data;  // empty unless stdout was captured
  std::string stderr_data;  // empty unless stderr was captured
  // CalledProcessError if returncode is not 0.
  void check_returncode() const;
};

// A child exited with a non-zero returncode (run with check, check_output).
class CalledProcessError : public CurioError {
 public:
  CalledProcessError(int returncode, std::vector<std::string> cmd, std::string output = {},
                     std::string stderr_output = {});
  int returncode() const noexcept { return returncode_; }
  const std::vector<std::string>& cmd() const noexcept { return cmd_; }
  const std::string& output() const noexcept { return output_; }  // captured stdout
  const std::string& stderr_output() const noexcept { return stderr_output_; }

 private:
  int returncode_;
  std::vector<std::string> cmd_;
  std::string output_;
  std::string stderr_output_;
};

// Options of run() and check_output(). They hold views, copied when run() is called (so a
// temporary string is fine: `.input = make_input()`), and the struct is trivially copyable on
// purpose: GCC 12 miscompiles an aggregate temporary with owning members (std::string,
// std::vector) written inside a co_await expression, as in co_await run(cmd, {.input = s})
// (it copies it bitwise and destroys both copies). A trivially copyable one is immune.
struct RunOptions {
  std::optional<std::string_view> input{};  // fed to stdin (which becomes PIPE), then closed
  bool capture_output = false;              // stdout and stderr both PIPE
  Redirect stdin_mode = INHERIT;
  Redirect stdout_mode = INHERIT;
  Redirect stderr_mode = INHERIT;
  bool check = false;                                 // CalledProcessError on a non-zero returncode
  std::optional<std::chrono::nanoseconds> timeout{};  // TaskTimeout after this long
  std::optional<std::string_view> cwd{};
  std::optional<std::span<const std::string>> env{};  // "K=V" entries
  bool close_fds = true;
  bool start_new_session = false;
};
static_assert(std::is_trivially_copyable_v<RunOptions>);

// Runs args to completion, collecting the output of the PIPE streams. On a timeout
// (TaskTimeout), a cancellation or any other error, the child is killed (SIGKILL) and reaped
// before the exception leaves; a cancellation exception then carries in partial_stdout /
// partial_stderr the output read so far (captured streams only).
// std::invalid_argument (at the call) for contradictory options.
Task<CompletedProcess> run(std::vector<std::string> args, const RunOptions& options = {});

// run() with stdout captured and check: the child's stdout, or CalledProcessError.
// std::invalid_argument if options set stdout_mode or capture_output.
Task<std::string> check_output(std::vector<std::string> args, const RunOptions& options = {});

}  // namespace curio::subprocess
