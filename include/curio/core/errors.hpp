// curio/core/errors.hpp: the exceptions of curio-cpp, named as in curio.
// Cancellations (CancelledError and its subclasses) deliberately do NOT derive from
// std::exception, like Python's BaseException or boost::thread_interrupted: a generic
// `catch (const std::exception&)` in user code must not swallow a cancellation or a timeout.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

namespace curio {

using Clock = std::chrono::steady_clock;

// Base of every non-cancellation curio error.
class CurioError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Misuse of an API in a state that does not allow it (Python's RuntimeError).
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Base of all cancellations. Not a std::exception on purpose (see the header comment).
class CancelledError {
 public:
  explicit CancelledError(std::string message = "cancelled") : message_(std::move(message)) {}
  virtual ~CancelledError() = default;
  virtual const char* what() const noexcept { return message_.c_str(); }

  // Partial progress of the I/O operation it interrupted (curio sets these attributes on the
  // exception): sendall sets bytes_sent, stream writes bytes_written, readall/read_exactly
  // bytes_read, readlines lines_read. Unset when the operation does not report progress.
  std::optional<std::size_t> bytes_sent;
  std::optional<std::size_t> bytes_written;
  std::optional<std::size_t> bytes_read;
  std::optional<std::size_t> lines_read;
  // Output a child process had written before subprocess communicate()/run() was interrupted.
  std::optional<std::string> partial_stdout;
  std::optional<std::string> partial_stderr;

  // Keeps the progress fields when one cancellation is turned into another (nested timeouts).
  void copy_progress_from(const CancelledError& o) {
    bytes_sent = o.bytes_sent;
    bytes_written = o.bytes_written;
    bytes_read = o.bytes_read;
    lines_read = o.lines_read;
    partial_stdout = o.partial_stdout;
    partial_stderr = o.partial_stderr;
  }

 private:
  std::string message_;
};

// Raised in a task by TaskHandle::cancel().
class TaskCancelled : public CancelledError {
 public:
  TaskCancelled() : CancelledError("task cancelled") {}
  using CancelledError::CancelledError;
};

// The innermost timeout expired. clock() is the kernel clock at expiry.
class TaskTimeout : public CancelledError {
 public:
  explicit TaskTimeout(Clock::time_point at) : CancelledError("task timeout"), clock_(at) {}
  Clock::time_point clock() const noexcept { return clock_; }

 private:
  Clock::time_point clock_;
};

// An enclosing (outer) timeout expired; passes through the inner timeout blocks.
class TimeoutCancellationError : public CancelledError {
 public:
  explicit TimeoutCancellationError(Clock::time_point at)
      : CancelledError("timeout cancellation (an outer timeout expired)"), clock_(at) {}
  Clock::time_point clock() const noexcept { return clock_; }

 private:
  Clock::time_point clock_;
};

// A timeout escaped its block: an inner timeout_after had no handler.
class UncaughtTimeoutError : public CurioError {
 public:
  UncaughtTimeoutError() : CurioError("uncaught timeout received") {}
};

// Raised by join(): the task crashed or was cancelled. cause() is the original exception.
class TaskError : public CurioError {
 public:
  TaskError(std::string message, std::exception_ptr cause) : CurioError(std::move(message)), cause_(std::move(cause)) {}
  const std::exception_ptr& cause() const noexcept { return cause_; }
  [[noreturn]] void rethrow_cause() const { std::rethrow_exception(cause_); }

 private:
  std::exception_ptr cause_;
};

// Synchronous use of an async-only object.
class SyncIOError : public CurioError {
 public:
  using CurioError::CurioError;
};

// A kernel operation attempted from a thread that is not inside a kernel or an async thread.
class AsyncOnlyError : public CurioError {
 public:
  using CurioError::CurioError;
};

// An I/O object cannot do what was asked in its present state, with no system call failing
// (curio raises Python's IOError there): e.g. blocking() on a stream that holds buffered data.
class IOError : public CurioError {
 public:
  using CurioError::CurioError;
};

// A second task waiting on the same file descriptor in the same direction.
class ResourceBusy : public CurioError {
 public:
  using CurioError::CurioError;
};
class ReadResourceBusy : public ResourceBusy {
 public:
  using ResourceBusy::ResourceBusy;
};
class WriteResourceBusy : public ResourceBusy {
 public:
  using ResourceBusy::ResourceBusy;
};

// A system call failed: names the operation, carries errno (code().value()).
class SystemError : public std::system_error {
 public:
  SystemError(int err, const std::string& operation) : std::system_error(err, std::generic_category(), operation) {}
  int error_number() const noexcept { return code().value(); }
};

// A connection ended by the peer or the network (Python's ConnectionError family). They are
// SystemErrors, so existing `catch (const SystemError&)` sites keep working; servers treat them
// as the normal end of a connection, not as a crash.
class ConnectionError : public SystemError {
 public:
  using SystemError::SystemError;
};
class ConnectionResetError : public ConnectionError {  // ECONNRESET
 public:
  using ConnectionError::ConnectionError;
};
class BrokenPipeError : public ConnectionError {  // EPIPE, ESHUTDOWN
 public:
  using ConnectionError::ConnectionError;
};
class ConnectionRefusedError : public ConnectionError {  // ECONNREFUSED
 public:
  using ConnectionError::ConnectionError;
};
class ConnectionAbortedError : public ConnectionError {  // ECONNABORTED, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH
 public:
  using ConnectionError::ConnectionError;
};

// Throws the SystemError subclass that errno err names (ConnectionResetError for ECONNRESET...).
[[noreturn]] inline void throw_system_error(const std::string& operation, int err = errno) {
  switch (err) {
    case ECONNRESET:
      throw ConnectionResetError(err, operation);
    case EPIPE:
    case ESHUTDOWN:
      throw BrokenPipeError(err, operation);
    case ECONNREFUSED:
      throw ConnectionRefusedError(err, operation);
    case ECONNABORTED:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH:
      throw ConnectionAbortedError(err, operation);
    default:
      throw SystemError(err, operation);
  }
}

// True when e holds a ConnectionError: a peer went away (servers end such a handler quietly).
bool is_connection_error(const std::exception_ptr& e) noexcept;

// A readable one-line description of any exception_ptr ("TaskCancelled: task cancelled").
std::string describe_exception(const std::exception_ptr& e);

// True when e holds a CancelledError (or subclass).
bool is_cancellation(const std::exception_ptr& e) noexcept;

}  // namespace curio
