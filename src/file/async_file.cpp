// src/file/async_file.cpp: aopen and AsyncFile. Design (see docs/files.md):
// - FileState (shared by the AsyncFile and every job in flight, so a job abandoned by a
//   cancelled task keeps it alive) holds the FILE* and a std::mutex taken by the worker for the
//   whole of each operation: operations never overlap, even across cancellation.
// - AsyncFileImpl (kernel side, owned by the AsyncFile) adds a curio::Lock, so tasks waiting for
//   the file queue in the kernel (FIFO, cancellably) instead of each occupying a worker thread.
// - The public members are plain functions that pass the AsyncFileImpl* to a coroutine: moving
//   the AsyncFile while an operation is pending is harmless.
#include "curio/file/async_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include "curio/sync/lock.hpp"
#include "curio/thread/run_in_thread.hpp"

namespace curio {

namespace detail {

namespace {

std::string describe(const char* operation, const std::string& path) {
  std::string s(operation);
  s.append(" '").append(path).append("'");
  return s;
}

RuntimeError closed_error(const std::string& path) {
  std::string s("curio: I/O operation on closed file '");
  s.append(path).append("'");
  return RuntimeError(s);
}

// Thrown (and discarded) by a job whose task was cancelled before the job got the file.
struct Abandoned {};

}  // namespace

// The worker side of a file.
struct FileState {
  std::mutex mu;  // held by a worker for the whole of each operation
  FILE* fp = nullptr;
  std::string path;
  char* line = nullptr;  // getline's buffer, reused
  std::size_t line_cap = 0;
  // C requires a flush or a seek between a write and a read (or the reverse) on an update
  // stream; the operations below insert it, as Python's buffered files do.
  enum class Last { None, Read, Write } last = Last::None;

  ~FileState() {
    if (fp) std::fclose(fp);  // the destructor path: errors have nowhere to go
    std::free(line);
  }

  [[noreturn]] void fail(const char* operation, int err) {
    std::clearerr(fp);
    throw SystemError(err, describe(operation, path));
  }
  void begin_read() {
    if (last == Last::Write && std::fflush(fp) != 0) fail("write", errno);
    last = Last::Read;
    std::clearerr(fp);  // a previous end of file is not sticky (FIFOs, growing files)
  }
  void begin_write() {
    if (last == Last::Read) ::fseeko(fp, 0, SEEK_CUR);  // fails harmlessly on a pipe
    last = Last::Write;
  }
  // Up to n bytes (n < 0: until end of file).
  std::string read(std::int64_t n) {
    begin_read();
    std::string out;
    std::size_t remaining = n < 0 ? SIZE_MAX : static_cast<std::size_t>(n);
    std::size_t chunk = 16384;
    while (remaining > 0) {
      std::size_t want = std::min(chunk, remaining);
      std::size_t old = out.size();
      out.resize(old + want);
      std::size_t got = std::fread(out.data() + old, 1, want, fp);
      out.resize(old + got);
      remaining -= got;
      if (got < want) {
        if (std::ferror(fp)) fail("read", errno);
        break;  // end of file
      }
      if (chunk < (std::size_t{1} << 20)) chunk *= 2;
    }
    return out;
  }
  // A line with its '\n', the rest at end of file, or "" at end of file.
  std::string readline() {
    errno = 0;
    ssize_t got = ::getline(&line, &line_cap, fp);
    if (got < 0) {
      if (std::ferror(fp)) fail("read", errno ? errno : EIO);
      return {};
    }
    return std::string(line, static_cast<std::size_t>(got));
  }
  std::size_t write(const std::string& data) {
    begin_write();
    if (std::fwrite(data.data(), 1, data.size(), fp) != data.size()) fail("write", errno);
    return data.size();
  }
  std::int64_t tell() {
    off_t pos = ::ftello(fp);
    if (pos < 0) fail("tell", errno);
    return pos;
  }
};

void close_in_background(std::shared_ptr<FileState> state);

struct AsyncFileImpl {
  // Not closed by the user (or the close was cancelled before it ran): a worker closes it, after
  // any operation still running there, so neither a destructor nor a move blocks the kernel.
  ~AsyncFileImpl() {
    if (!close_done && state) close_in_background(std::move(state));
  }
  Lock lock;  // kernel side: one operation of this file at a time
  std::shared_ptr<FileState> state;
  std::string path;
  std::string mode;
  int fd = -1;
  bool closed = false;      // no new operation may start
  bool close_done = false;  // close() completed, or handed the close to a worker
};

namespace {

// The job of one operation, run on a worker: takes the file's mutex for the whole operation.
template <class F>
struct FileJob {
  std::shared_ptr<FileState> state;
  std::shared_ptr<std::atomic<bool>> abandoned;
  F fn;
  std::invoke_result_t<F&, FileState&> operator()() {
    std::lock_guard guard(state->mu);
    if (abandoned->load()) throw Abandoned{};
    if (!state->fp) throw closed_error(state->path);
    return fn(*state);
  }
};

// Runs fn(FileState&) on a worker, with the file's operations serialized. A task cancelled
// while its job runs is released at once: a job that has not got the file yet then skips its
// operation (CallOnCancel marks it abandoned); one already in its operation finishes it in the
// background, holding the file's mutex, so the next operation waits for it.
template <class F>
Task<std::invoke_result_t<F&, FileState&>> file_op_task(AsyncFileImpl* impl, FileJob<F> job) {
  if (!impl) throw RuntimeError("curio: operation on a moved-from AsyncFile");
  if (impl->closed) throw closed_error(impl->path);
  auto held = co_await impl->lock.scoped();
  if (impl->closed) throw closed_error(impl->path);  // closed while we queued
  job.state = impl->state;
  CallOnCancel on_cancel{[abandoned = job.abandoned] { abandoned->store(true); }};
  // Named, not a temporary inside the co_await expression: GCC 12 (-O0 and -O3) mis-destroys a
  // CallOnCancel{[captures] {...}} temporary there (crash; Clang is fine).
  auto work = run_in_thread(std::move(on_cancel), std::move(job));
  co_return co_await std::move(work);
}

template <class F>
Task<std::invoke_result_t<F&, FileState&>> file_op(AsyncFileImpl* impl, F fn) {
  return file_op_task(impl, FileJob<F>{nullptr, std::make_shared<std::atomic<bool>>(false), std::move(fn)});
}

// The fopen mode for an aopen mode, or "" if it is invalid. Primary r, w, a or x (Python's
// exclusive create; fopen's "wx" is accepted too), then '+' and 'b' at most once each. The
// result adds 'e' (close-on-exec).
std::string fopen_mode(const std::string& mode) {
  if (mode.empty()) return {};
  char primary = mode[0];
  if (primary != 'r' && primary != 'w' && primary != 'a' && primary != 'x') return {};
  bool plus = false, binary = false, exclusive = primary == 'x';
  for (std::size_t i = 1; i < mode.size(); ++i) {
    char c = mode[i];
    if (c == '+' && !plus) {
      plus = true;
    } else if (c == 'b' && !binary) {
      binary = true;
    } else if (c == 'x' && primary == 'w' && !exclusive) {
      exclusive = true;
    } else {
      return {};
    }
  }
  std::string out(1, primary == 'x' ? 'w' : primary);
  if (plus) out.push_back('+');
  out.push_back('e');
  if (exclusive) out.push_back('x');
  return out;
}

// Opens on a worker. The FILE* travels inside a shared_ptr: if aopen is cancelled meanwhile,
// the discarded result still closes it.
std::shared_ptr<FileState> open_file(const std::string& path, const std::string& fmode) {
  auto state = std::make_shared<FileState>();
  state->path = path;
  state->fp = std::fopen(path.c_str(), fmode.c_str());
  if (!state->fp) throw SystemError(errno, describe("open", path));
  struct stat st;
  if (::fstat(::fileno(state->fp), &st) == 0 && S_ISDIR(st.st_mode))  // fopen("dir", "r") works
    throw SystemError(EISDIR, describe("open", path));
  return state;
}

void close_state(const std::shared_ptr<FileState>& state);

}  // namespace

void close_in_background(std::shared_ptr<FileState> state) {
  auto job = std::make_shared<ThreadJob>();
  job->run = [state = std::move(state)] {
    try {
      close_state(state);
    } catch (...) {  // nobody is left to tell; as Python's file finalizer does
    }
  };
  submit_thread_job(std::move(job));
}

namespace {

void close_state(const std::shared_ptr<FileState>& state) {
  std::lock_guard guard(state->mu);
  FILE* fp = std::exchange(state->fp, nullptr);
  if (fp && std::fclose(fp) != 0) throw SystemError(errno, describe("close", state->path));
}

Task<> close_file(AsyncFileImpl* impl) {
  if (!impl || impl->closed) co_return;
  impl->closed = true;  // no new operation starts; queued ones fail with the closed error
  std::exception_ptr cancelled;
  try {
    auto held = co_await impl->lock.scoped();
    auto work = run_in_thread(close_state, impl->state);  // (see file_op_task about GCC 12)
    co_await std::move(work);
    impl->close_done = true;
    co_return;
  } catch (const CancelledError&) {
    cancelled = std::current_exception();
  }
  // Cancelled before the close ran, or while it ran: the file must be closed all the same, so
  // a worker does it (after any operation still running; a no-op if the close already ran).
  impl->close_done = true;
  close_in_background(impl->state);
  std::rethrow_exception(cancelled);
}

}  // namespace

}  // namespace detail

Task<AsyncFile> aopen(std::string path, std::string mode) {
  std::string fmode = detail::fopen_mode(mode);
  if (fmode.empty()) {
    std::string what = detail::describe("open", path);
    what.append(" with mode '").append(mode).append("'");
    throw SystemError(EINVAL, what);
  }
  auto impl = std::make_unique<detail::AsyncFileImpl>();
  auto work = run_in_thread(detail::open_file, path, fmode);
  impl->state = co_await std::move(work);
  impl->fd = ::fileno(impl->state->fp);
  impl->path = std::move(path);
  impl->mode = std::move(mode);
  co_return AsyncFile(std::move(impl));
}

AsyncFile::AsyncFile(std::unique_ptr<detail::AsyncFileImpl> impl) noexcept : impl_(std::move(impl)) {}
AsyncFile::AsyncFile(AsyncFile&&) noexcept = default;
AsyncFile& AsyncFile::operator=(AsyncFile&&) noexcept = default;
// Dropping the last reference to the FileState closes the FILE*: here if no job holds it, else
// on the worker when the job ends.
AsyncFile::~AsyncFile() = default;

Task<std::string> AsyncFile::read(std::int64_t n) {
  return detail::file_op(impl_.get(), [n](detail::FileState& s) { return s.read(n); });
}

Task<std::string> AsyncFile::readall() { return read(-1); }

Task<std::string> AsyncFile::readline() {
  return detail::file_op(impl_.get(), [](detail::FileState& s) {
    s.begin_read();
    return s.readline();
  });
}

Task<std::vector<std::string>> AsyncFile::readlines() {
  return detail::file_op(impl_.get(), [](detail::FileState& s) {
    s.begin_read();
    std::vector<std::string> lines;
    for (;;) {
      std::string line = s.readline();
      if (line.empty()) break;
      lines.push_back(std::move(line));
    }
    return lines;
  });
}

namespace {
Task<std::optional<std::string>> next_line_of(Task<std::string> readline) {
  std::string line = co_await std::move(readline);
  if (line.empty()) co_return std::nullopt;
  co_return line;
}
}  // namespace

Task<std::optional<std::string>> AsyncFile::next_line() { return next_line_of(readline()); }

Task<std::size_t> AsyncFile::write(std::string_view data) { return write_owned(std::string(data)); }

Task<std::size_t> AsyncFile::write_owned(std::string data) {
  return detail::file_op(impl_.get(), [data = std::move(data)](detail::FileState& s) { return s.write(data); });
}

Task<> AsyncFile::write_joined(std::string data) {
  return detail::file_op(impl_.get(), [data = std::move(data)](detail::FileState& s) { s.write(data); });
}

Task<std::int64_t> AsyncFile::seek(std::int64_t offset, int whence) {
  return detail::file_op(impl_.get(), [offset, whence](detail::FileState& s) {
    if (::fseeko(s.fp, static_cast<off_t>(offset), whence) != 0) s.fail("seek", errno);
    s.last = detail::FileState::Last::None;
    return s.tell();
  });
}

Task<std::int64_t> AsyncFile::tell() {
  return detail::file_op(impl_.get(), [](detail::FileState& s) { return s.tell(); });
}

Task<std::int64_t> AsyncFile::truncate(std::optional<std::int64_t> size) {
  return detail::file_op(impl_.get(), [size](detail::FileState& s) {
    if (std::fflush(s.fp) != 0) s.fail("flush", errno);
    std::int64_t to = size ? *size : s.tell();
    if (::ftruncate(::fileno(s.fp), static_cast<off_t>(to)) != 0) s.fail("truncate", errno);
    return to;
  });
}

Task<> AsyncFile::flush() {
  return detail::file_op(impl_.get(), [](detail::FileState& s) {
    if (std::fflush(s.fp) != 0) s.fail("flush", errno);
  });
}

Task<> AsyncFile::close() { return detail::close_file(impl_.get()); }

int AsyncFile::fileno() const {
  if (!impl_) throw RuntimeError("curio: operation on a moved-from AsyncFile");
  if (impl_->closed) throw detail::closed_error(impl_->path);
  return impl_->fd;
}

bool AsyncFile::closed() const noexcept { return !impl_ || impl_->closed; }

const std::string& AsyncFile::name() const noexcept {
  static const std::string none;
  return impl_ ? impl_->path : none;
}

const std::string& AsyncFile::mode() const noexcept {
  static const std::string none;
  return impl_ ? impl_->mode : none;
}

// --- readinto and blocking (issue 9) ---

Task<std::size_t> AsyncFile::readinto(std::span<std::byte> buffer) {
  // The worker's string, then one copy here: see the header for why not the caller's memory.
  std::string data = co_await read(static_cast<std::int64_t>(buffer.size()));
  std::memcpy(buffer.data(), data.data(), data.size());
  co_return data.size();
}

namespace {
Task<AsyncFile::Blocking> blocking_of(detail::AsyncFileImpl* impl) {
  if (!impl) throw RuntimeError("curio: operation on a moved-from AsyncFile");
  if (impl->closed) throw detail::closed_error(impl->path);
  auto held = co_await impl->lock.scoped();
  if (impl->closed) throw detail::closed_error(impl->path);
  std::shared_ptr<detail::FileState> state = impl->state;
  // In a worker, after any operation still finishing there (the file's mutex): fflush can block.
  // Named, not a temporary inside the co_await: GCC 12 destroys such a lambda's captures twice.
  auto flush_and_check = [state] {
    std::lock_guard guard(state->mu);
    if (!state->fp) throw detail::closed_error(state->path);
    if (std::fflush(state->fp) != 0) state->fail("flush", errno);
    // glibc's FILE: bytes read ahead from the descriptor that the caller has not consumed.
    auto ahead = state->fp->_IO_read_end - state->fp->_IO_read_ptr;
    if (ahead > 0)
      throw IOError("curio: blocking() on '" + state->path + "' with " + std::to_string(ahead) +
                    " bytes read ahead by stdio, which the raw descriptor would skip; read them first");
    state->last = detail::FileState::Last::None;
  };
  co_await run_in_thread(flush_and_check);
  co_return AsyncFile::Blocking(impl->fd, state->fp, std::move(held));
}
}  // namespace

Task<AsyncFile::Blocking> AsyncFile::blocking() { return blocking_of(impl_.get()); }

}  // namespace curio
