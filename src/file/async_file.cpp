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

#include "curio/core/traps.hpp"
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
  bool regular = false;  // a regular file (the ring path may run it)
  // Ring path: bytes still buffered when the file is closed by a worker (a destructor, a
  // cancelled close), written at pending_offset before the descriptor is closed.
  std::string pending;
  std::int64_t pending_offset = 0;
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

// Ring path (a regular file on a kernel whose backend runs file ops, io_uring): the kernel
// thread does the buffering itself and reads/writes at explicit offsets through the ring; stdio's
// buffers stay empty (the FILE* is only handed out by blocking()). See docs/files.md.
inline constexpr std::size_t kRingBuffer = 64 * 1024;  // read-ahead and write-behind buffer
inline constexpr std::size_t kRingDirect = 4096;       // reads of at least this go straight to the caller
inline constexpr std::size_t kRingMaxOp = std::size_t{1} << 30;

struct AsyncFileImpl {
  // Not closed by the user (or the close was cancelled before it ran): a worker closes it, after
  // any operation still running there, so neither a destructor nor a move blocks the kernel.
  ~AsyncFileImpl() {
    if (!close_done && state) {
      if (!wbuf.empty()) {  // the ring path's unwritten bytes go with it
        state->pending = std::move(wbuf);
        state->pending_offset = wbuf_offset;
      }
      close_in_background(std::move(state));
    }
  }
  Lock lock;  // kernel side: one operation of this file at a time
  std::shared_ptr<FileState> state;
  std::string path;
  std::string mode;
  int fd = -1;
  bool closed = false;      // no new operation may start
  bool close_done = false;  // close() completed, or handed the close to a worker

  // --- ring path. The position is committed only when an operation returns: a read cancelled
  // in flight leaves it (and the caller's view of the file) where it was.
  bool ring = false;
  bool readable = true, writable = true;
  bool raw_used = false;         // blocking() handed out the FILE*: resynchronize before the next op
  std::int64_t pos = 0;          // the logical position
  std::unique_ptr<char[]> rbuf;  // read-ahead: file bytes [rbuf_offset, rbuf_offset + rlen)
  std::int64_t rbuf_offset = 0;
  std::size_t rlen = 0;
  std::string wbuf;  // write-behind: bytes for [wbuf_offset, wbuf_offset + wbuf.size())
  std::int64_t wbuf_offset = 0;

  // Read-ahead bytes available at file offset at (0 if none).
  std::size_t buffered_at(std::int64_t at) const noexcept {
    if (rlen == 0 || at < rbuf_offset || at >= rbuf_offset + static_cast<std::int64_t>(rlen)) return 0;
    return rlen - static_cast<std::size_t>(at - rbuf_offset);
  }
  const char* buffered_ptr(std::int64_t at) const noexcept { return rbuf.get() + (at - rbuf_offset); }
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
  state->regular = S_ISREG(st.st_mode);
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
  int err = 0;
  if (fp && !state->pending.empty()) {  // the ring path's write-behind bytes
    std::size_t done = 0;
    while (done < state->pending.size()) {
      ssize_t n = ::pwrite(::fileno(fp), state->pending.data() + done, state->pending.size() - done,
                           static_cast<off_t>(state->pending_offset + static_cast<std::int64_t>(done)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err = n < 0 ? errno : EIO;
        break;
      }
      done += static_cast<std::size_t>(n);
    }
    state->pending.clear();
  }
  if (fp && std::fclose(fp) != 0 && err == 0) err = errno;
  if (err) throw SystemError(err, describe("close", state->path));
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

// --- the ring path: every read, write and fsync is one IoOp awaited by the task (no worker).

[[noreturn]] void ring_fail(AsyncFileImpl* impl, const char* operation, int err) {
  throw SystemError(err, describe(operation, impl->path));
}

void prepare(IoOp& op, IoOpKind kind, int fd, void* buf, std::size_t len, std::int64_t offset) {
  op.kind = kind;
  op.fd = fd;
  op.buf = buf;
  op.len = static_cast<std::uint32_t>(std::min(len, kRingMaxOp));
  op.offset = static_cast<std::uint64_t>(offset);
}

// After blocking() lent the FILE* out: the caller may have written through stdio or moved the
// descriptor. One worker hop flushes stdio and takes its position as ours.
Task<> ring_resync(AsyncFileImpl* impl) {
  std::shared_ptr<FileState> state = impl->state;
  auto sync = [state] {
    std::lock_guard guard(state->mu);
    if (std::fflush(state->fp) != 0) state->fail("flush", errno);
    off_t at = ::ftello(state->fp);
    if (at < 0) state->fail("tell", errno);
    return static_cast<std::int64_t>(at);
  };
  auto work = run_in_thread(sync);  // named: see file_op_task about GCC 12
  std::int64_t at = co_await std::move(work);
  impl->pos = at;
  impl->rlen = 0;
  impl->raw_used = false;
}

// The file's lock, held for one operation, after the checks every operation makes.
Task<Held<Lock>> ring_begin(AsyncFileImpl* impl) {
  if (impl->closed) throw closed_error(impl->path);
  auto held = co_await impl->lock.scoped();
  if (impl->closed) throw closed_error(impl->path);  // closed while we queued
  if (!io_op_supported(IoOpKind::Read))
    throw RuntimeError("curio: AsyncFile '" + impl->path +
                       "' was opened on an io_uring kernel and is used on one without it");
  if (impl->raw_used) co_await ring_resync(impl);
  co_return held;
}

// Writes the write-behind buffer out. A flush cancelled in flight keeps what was not written
// buffered (the next flush or the close writes it): no byte is lost or written twice.
Task<> ring_flush_writes(AsyncFileImpl* impl) {
  while (!impl->wbuf.empty()) {
    IoOp op;
    prepare(op, IoOpKind::Write, impl->fd, impl->wbuf.data(), impl->wbuf.size(), impl->wbuf_offset);
    int res = co_await io_op(op);
    if (res < 0) {
      if (res == -EINTR || res == -EAGAIN) continue;
      ring_fail(impl, "write", -res);
    }
    if (res == 0) ring_fail(impl, "write", EIO);
    impl->wbuf.erase(0, static_cast<std::size_t>(res));
    impl->wbuf_offset += res;
  }
}

// Fills the read-ahead buffer from offset at; false at end of file.
Task<bool> ring_fill(AsyncFileImpl* impl, std::int64_t at) {
  if (!impl->rbuf) impl->rbuf = std::make_unique<char[]>(kRingBuffer);
  impl->rlen = 0;  // the buffer is being overwritten: nothing in it is valid meanwhile
  for (;;) {
    IoOp op;
    prepare(op, IoOpKind::Read, impl->fd, impl->rbuf.get(), kRingBuffer, at);
    int res = co_await io_op(op);
    if (res == -EINTR || res == -EAGAIN) continue;
    if (res < 0) ring_fail(impl, "read", -res);
    impl->rbuf_offset = at;
    impl->rlen = static_cast<std::size_t>(res);
    co_return res > 0;
  }
}

void ring_check_readable(AsyncFileImpl* impl) {
  if (!impl->readable) ring_fail(impl, "read", EBADF);  // as stdio reports it
}

// Reads up to n bytes (n < 0: to end of file) from the position; commits the new position
// only at the end, so a cancelled read moves nothing.
Task<std::string> ring_read(AsyncFileImpl* impl, std::int64_t n) {
  auto held = co_await ring_begin(impl);
  ring_check_readable(impl);
  co_await ring_flush_writes(impl);
  std::int64_t at = impl->pos;
  std::string out;
  std::size_t remaining = n < 0 ? SIZE_MAX : static_cast<std::size_t>(n);
  std::size_t chunk = kRingBuffer;
  while (remaining > 0) {
    if (std::size_t avail = impl->buffered_at(at)) {
      std::size_t take = std::min(avail, remaining);
      out.append(impl->buffered_ptr(at), take);
      at += static_cast<std::int64_t>(take);
      remaining -= take;
      continue;
    }
    if (remaining < kRingDirect) {  // small: through the read-ahead buffer
      bool more = co_await ring_fill(impl, at);
      if (!more) break;
      continue;
    }
    std::size_t want = std::min({remaining, chunk, kRingMaxOp});
    std::size_t old = out.size();
    out.resize(old + want);
    IoOp op;
    prepare(op, IoOpKind::Read, impl->fd, out.data() + old, want, at);
    int res = co_await io_op(op);
    if (res < 0) {
      out.resize(old);
      if (res == -EINTR || res == -EAGAIN) continue;
      ring_fail(impl, "read", -res);
    }
    out.resize(old + static_cast<std::size_t>(res));
    if (res == 0) break;  // end of file
    at += res;
    remaining -= static_cast<std::size_t>(res);
    if (n < 0 && chunk < (std::size_t{1} << 20)) chunk *= 2;
  }
  impl->pos = at;
  co_return out;
}

// Reads into the caller's memory (the task stays suspended until each op's completion, even if
// cancelled, so the buffer is never written after readinto returned or raised).
Task<std::size_t> ring_readinto(AsyncFileImpl* impl, std::span<std::byte> buffer) {
  auto held = co_await ring_begin(impl);
  ring_check_readable(impl);
  co_await ring_flush_writes(impl);
  std::int64_t at = impl->pos;
  char* dst = reinterpret_cast<char*>(buffer.data());
  std::size_t done = 0;
  while (done < buffer.size()) {
    std::size_t remaining = buffer.size() - done;
    if (std::size_t avail = impl->buffered_at(at)) {
      std::size_t take = std::min(avail, remaining);
      std::memcpy(dst + done, impl->buffered_ptr(at), take);
      at += static_cast<std::int64_t>(take);
      done += take;
      continue;
    }
    if (remaining < kRingDirect) {
      bool more = co_await ring_fill(impl, at);
      if (!more) break;
      continue;
    }
    IoOp op;
    prepare(op, IoOpKind::Read, impl->fd, dst + done, remaining, at);
    int res = co_await io_op(op);
    if (res == -EINTR || res == -EAGAIN) continue;
    if (res < 0) ring_fail(impl, "read", -res);
    if (res == 0) break;
    at += res;
    done += static_cast<std::size_t>(res);
  }
  impl->pos = at;
  co_return done;
}

// One line from offset at (advanced past it), "" at end of file.
Task<std::string> ring_line(AsyncFileImpl* impl, std::int64_t& at) {
  std::string line;
  for (;;) {
    if (std::size_t avail = impl->buffered_at(at)) {
      const char* p = impl->buffered_ptr(at);
      const void* nl = std::memchr(p, '\n', avail);
      std::size_t take = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - p) + 1 : avail;
      line.append(p, take);
      at += static_cast<std::int64_t>(take);
      if (nl) break;
      continue;
    }
    bool more = co_await ring_fill(impl, at);
    if (!more) break;
  }
  co_return line;
}

Task<std::string> ring_readline(AsyncFileImpl* impl) {
  auto held = co_await ring_begin(impl);
  ring_check_readable(impl);
  co_await ring_flush_writes(impl);
  std::int64_t at = impl->pos;
  std::string line = co_await ring_line(impl, at);
  impl->pos = at;
  co_return line;
}

Task<std::vector<std::string>> ring_readlines(AsyncFileImpl* impl) {
  auto held = co_await ring_begin(impl);
  ring_check_readable(impl);
  co_await ring_flush_writes(impl);
  std::int64_t at = impl->pos;
  std::vector<std::string> lines;
  for (;;) {
    std::string line = co_await ring_line(impl, at);
    if (line.empty()) break;
    lines.push_back(std::move(line));
  }
  impl->pos = at;
  co_return lines;
}

// Writes are buffered (as stdio's are) and the buffer is written out once it holds 64 KiB. The
// bytes belong to the file as soon as write() is called: a write cancelled while the buffer is
// being written out keeps the rest buffered for the next flush or the close.
Task<std::size_t> ring_write(AsyncFileImpl* impl, std::string data) {
  auto held = co_await ring_begin(impl);
  if (!impl->writable) ring_fail(impl, "write", EBADF);
  std::size_t size = data.size();
  if (size == 0) co_return 0;
  impl->rlen = 0;  // the read-ahead may now be stale
  if (impl->wbuf.empty()) {
    impl->wbuf_offset = impl->pos;
    impl->wbuf = std::move(data);
  } else {
    impl->wbuf.append(data);
  }
  impl->pos += static_cast<std::int64_t>(size);
  if (impl->wbuf.size() >= kRingBuffer) co_await ring_flush_writes(impl);
  co_return size;
}

Task<std::int64_t> ring_seek(AsyncFileImpl* impl, std::int64_t offset, int whence) {
  auto held = co_await ring_begin(impl);
  co_await ring_flush_writes(impl);
  std::int64_t base = 0;
  if (whence == SEEK_CUR) {
    base = impl->pos;
  } else if (whence == SEEK_END) {
    struct stat st;
    if (::fstat(impl->fd, &st) != 0) ring_fail(impl, "seek", errno);  // an inode read, no I/O wait
    base = st.st_size;
  } else if (whence != SEEK_SET) {
    ring_fail(impl, "seek", EINVAL);
  }
  std::int64_t to = base + offset;
  if (to < 0) ring_fail(impl, "seek", EINVAL);
  impl->pos = to;
  co_return to;
}

Task<std::int64_t> ring_tell(AsyncFileImpl* impl) {
  auto held = co_await ring_begin(impl);
  co_return impl->pos;
}

Task<> ring_flush(AsyncFileImpl* impl) {
  auto held = co_await ring_begin(impl);
  co_await ring_flush_writes(impl);
}

Task<> ring_fsync(AsyncFileImpl* impl) {
  auto held = co_await ring_begin(impl);
  co_await ring_flush_writes(impl);
  for (;;) {
    IoOp op;
    prepare(op, IoOpKind::Fsync, impl->fd, nullptr, 0, 0);
    int res = co_await io_op(op);
    if (res == -EINTR || res == -EAGAIN) continue;
    if (res < 0) ring_fail(impl, "fsync", -res);
    break;
  }
}

// ftruncate has no ring op: one worker hop.
Task<std::int64_t> ring_truncate(AsyncFileImpl* impl, std::optional<std::int64_t> size) {
  auto held = co_await ring_begin(impl);
  co_await ring_flush_writes(impl);
  std::int64_t to = size ? *size : impl->pos;
  int fd = impl->fd;
  auto resize = [fd, to] { return ::ftruncate(fd, static_cast<off_t>(to)) == 0 ? 0 : errno; };
  auto work = run_in_thread(resize);
  int err = co_await std::move(work);
  impl->rlen = 0;
  if (err) ring_fail(impl, "truncate", err);
  co_return to;
}

Task<> ring_close(AsyncFileImpl* impl) {
  if (impl->closed) co_return;
  impl->closed = true;
  std::exception_ptr failure;
  bool cancelled = false;
  try {
    auto held = co_await impl->lock.scoped();
    try {
      co_await ring_flush_writes(impl);
    } catch (const CancelledError&) {
      throw;
    } catch (...) {  // a write error: the file is closed all the same, then the error raised
      failure = std::current_exception();
      impl->wbuf.clear();
    }
    auto work = run_in_thread(close_state, impl->state);  // fclose: stdio's buffers are empty
    co_await std::move(work);
    impl->close_done = true;
  } catch (const CancelledError&) {
    failure = std::current_exception();
    cancelled = true;
  }
  if (cancelled) {  // as close_file: a worker writes what is left and closes
    impl->close_done = true;
    if (!impl->wbuf.empty()) {
      impl->state->pending = std::move(impl->wbuf);
      impl->state->pending_offset = impl->wbuf_offset;
      impl->wbuf.clear();
    }
    close_in_background(impl->state);
  }
  if (failure) std::rethrow_exception(failure);
}

Task<AsyncFile::Blocking> ring_blocking(AsyncFileImpl* impl) {
  auto held = co_await ring_begin(impl);
  co_await ring_flush_writes(impl);
  // stdio's buffers are empty on this path, so this is one lseek of a regular file.
  if (::fseeko(impl->state->fp, static_cast<off_t>(impl->pos), SEEK_SET) != 0) ring_fail(impl, "seek", errno);
  impl->raw_used = true;
  co_return AsyncFile::Blocking(impl->fd, impl->state->fp, std::move(held));
}

bool on_ring(const AsyncFileImpl* impl) noexcept { return impl && impl->ring; }

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
  // The ring path: a regular file (FIFOs, terminals and devices keep the thread path: they have
  // no positions) not in append mode (O_APPEND writes land at the end, wherever the position
  // is), on a kernel whose backend runs file reads, writes and fsyncs (io_uring).
  using detail::IoOpKind;
  impl->ring = impl->state->regular && mode[0] != 'a' && detail::io_op_supported(IoOpKind::Read) &&
               detail::io_op_supported(IoOpKind::Write) && detail::io_op_supported(IoOpKind::Fsync);
  if (impl->ring) {
    bool plus = mode.find('+') != std::string::npos;
    impl->readable = mode[0] == 'r' || plus;
    impl->writable = mode[0] != 'r' || plus;
    // 'w' truncated the file and 'r'/'x' start at 0: the position is 0 in every ring mode.
  }
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
  if (detail::on_ring(impl_.get())) return detail::ring_read(impl_.get(), n);
  return detail::file_op(impl_.get(), [n](detail::FileState& s) { return s.read(n); });
}

Task<std::string> AsyncFile::readall() { return read(-1); }

Task<std::string> AsyncFile::readline() {
  if (detail::on_ring(impl_.get())) return detail::ring_readline(impl_.get());
  return detail::file_op(impl_.get(), [](detail::FileState& s) {
    s.begin_read();
    return s.readline();
  });
}

Task<std::vector<std::string>> AsyncFile::readlines() {
  if (detail::on_ring(impl_.get())) return detail::ring_readlines(impl_.get());
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
  if (detail::on_ring(impl_.get())) return detail::ring_write(impl_.get(), std::move(data));
  return detail::file_op(impl_.get(), [data = std::move(data)](detail::FileState& s) { return s.write(data); });
}

namespace {
Task<> discard_count(Task<std::size_t> write) { co_await std::move(write); }
}  // namespace

Task<> AsyncFile::write_joined(std::string data) {
  if (detail::on_ring(impl_.get())) return discard_count(detail::ring_write(impl_.get(), std::move(data)));
  return detail::file_op(impl_.get(), [data = std::move(data)](detail::FileState& s) { s.write(data); });
}

Task<std::int64_t> AsyncFile::seek(std::int64_t offset, int whence) {
  if (detail::on_ring(impl_.get())) return detail::ring_seek(impl_.get(), offset, whence);
  return detail::file_op(impl_.get(), [offset, whence](detail::FileState& s) {
    if (::fseeko(s.fp, static_cast<off_t>(offset), whence) != 0) s.fail("seek", errno);
    s.last = detail::FileState::Last::None;
    return s.tell();
  });
}

Task<std::int64_t> AsyncFile::tell() {
  if (detail::on_ring(impl_.get())) return detail::ring_tell(impl_.get());
  return detail::file_op(impl_.get(), [](detail::FileState& s) { return s.tell(); });
}

Task<std::int64_t> AsyncFile::truncate(std::optional<std::int64_t> size) {
  if (detail::on_ring(impl_.get())) return detail::ring_truncate(impl_.get(), size);
  return detail::file_op(impl_.get(), [size](detail::FileState& s) {
    if (std::fflush(s.fp) != 0) s.fail("flush", errno);
    std::int64_t to = size ? *size : s.tell();
    if (::ftruncate(::fileno(s.fp), static_cast<off_t>(to)) != 0) s.fail("truncate", errno);
    return to;
  });
}

Task<> AsyncFile::flush() {
  if (detail::on_ring(impl_.get())) return detail::ring_flush(impl_.get());
  return detail::file_op(impl_.get(), [](detail::FileState& s) {
    if (std::fflush(s.fp) != 0) s.fail("flush", errno);
  });
}

Task<> AsyncFile::fsync() {
  if (detail::on_ring(impl_.get())) return detail::ring_fsync(impl_.get());
  return detail::file_op(impl_.get(), [](detail::FileState& s) {
    if (std::fflush(s.fp) != 0) s.fail("flush", errno);
    if (::fsync(::fileno(s.fp)) != 0) s.fail("fsync", errno);
  });
}

Task<> AsyncFile::close() {
  if (detail::on_ring(impl_.get())) return detail::ring_close(impl_.get());
  return detail::close_file(impl_.get());
}

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

namespace {
Task<std::size_t> thread_readinto(AsyncFile& f, std::span<std::byte> buffer) {
  // The worker's string, then one copy here: see the header for why not the caller's memory.
  std::string data = co_await f.read(static_cast<std::int64_t>(buffer.size()));
  std::memcpy(buffer.data(), data.data(), data.size());
  co_return data.size();
}
}  // namespace

Task<std::size_t> AsyncFile::readinto(std::span<std::byte> buffer) {
  if (detail::on_ring(impl_.get())) return detail::ring_readinto(impl_.get(), buffer);
  return thread_readinto(*this, buffer);
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

Task<AsyncFile::Blocking> AsyncFile::blocking() {
  if (detail::on_ring(impl_.get())) return detail::ring_blocking(impl_.get());
  return blocking_of(impl_.get());
}

}  // namespace curio
