// curio/file/async_file.hpp: aopen and AsyncFile (curio.file). On an epoll kernel every
// operation that touches the file runs on a worker thread through run_in_thread; on an io_uring
// kernel a regular file's reads, writes, seeks, flushes and fsyncs are ring operations awaited by
// the task (no worker hop), with the same results. Reading a slow disk, a FIFO or a terminal
// never blocks the kernel. The worker path uses a stdio FILE* (buffered reads and writes, getline
// for lines), the ring path its own buffers; C++ strings are bytes, so text and binary modes
// behave alike.
//
//   curio::AsyncFile f = co_await curio::aopen("/tmp/data.txt", "w");
//   co_await f.write("hello\n");
//   co_await f.close();
//
// Operations of one file are serialized: concurrent tasks queue (FIFO, in the kernel), share the
// file's position, and each operation runs alone, even across cancellation (an operation
// abandoned by a cancelled task finishes before the next one starts). On the ring path a
// cancelled read moves nothing (the position is committed when a read returns). Using a closed file raises
// curio::RuntimeError. See docs/files.md.
#pragma once

#include <concepts>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "curio/core/errors.hpp"
#include "curio/core/task.hpp"
#include "curio/sync/held.hpp"
#include "curio/sync/lock.hpp"

namespace curio {

class AsyncFile;

// Opens path in a worker thread. mode as for fopen: "r", "w", "a", "x" (create, fails if the
// file exists), each optionally with '+' (read and write) and 'b' (accepted, no effect). The
// descriptor is close-on-exec. An invalid mode or a failed open raises SystemError naming the
// path ("open '/x/y': No such file or directory"); error_number() is errno (EINVAL for a mode).
Task<AsyncFile> aopen(std::string path, std::string mode = "r");

namespace detail {
struct AsyncFileImpl;
}

class AsyncFile {
 public:
  AsyncFile(AsyncFile&&) noexcept;
  AsyncFile& operator=(AsyncFile&&) noexcept;
  AsyncFile(const AsyncFile&) = delete;
  AsyncFile& operator=(const AsyncFile&) = delete;
  // If close() was not awaited (or was cancelled before it ran), a worker closes the file after
  // any operation still running there (flushing, errors ignored): never a wait here.
  ~AsyncFile();

  // --- reading. Every read starts by clearing a previous end of file, so a FIFO or a growing
  // file can be read again after "" was returned.
  // n < 0: everything until end of file. n >= 0: up to n bytes, fewer only at end of file (it
  // waits for n bytes on a FIFO, like Python's buffered read). "" at end of file.
  Task<std::string> read(std::int64_t n = -1);
  // read(-1).
  Task<std::string> readall();
  // One line including its '\n', or what remains at end of file; "" once at end of file.
  Task<std::string> readline();
  // Every remaining line.
  Task<std::vector<std::string>> readlines();
  // Line iteration, as on streams: while (auto line = co_await f.next_line()) { ... }
  // (std::nullopt at end of file).
  Task<std::optional<std::string>> next_line();

  // --- writing (buffered by stdio: flush() or close() makes it visible to others).
  // Writes all of data; returns its size. data is copied before the call suspends.
  Task<std::size_t> write(std::string_view data);
  // Writes the concatenation of lines (no newlines added), in one operation: another task's
  // write never lands between two of them.
  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, std::string_view> Task<> writelines(const R& lines) {
    std::string joined;
    for (auto&& line : lines) joined.append(std::string_view(line));
    return write_joined(std::move(joined));
  }
  // writelines({"a\n", "b\n"}): a plain forwarding function (GCC 12 rejects a braced list
  // passed straight to a coroutine).
  Task<> writelines(std::initializer_list<std::string_view> lines) {
    return writelines(std::vector<std::string_view>(lines));
  }

  // --- position and size.
  // Moves to offset relative to whence (SEEK_SET, SEEK_CUR, SEEK_END); returns the new position.
  Task<std::int64_t> seek(std::int64_t offset, int whence = SEEK_SET);
  Task<std::int64_t> tell();
  // Resizes the file to size (default: the current position), flushing first; the position does
  // not move. Returns the new size.
  Task<std::int64_t> truncate(std::optional<std::int64_t> size = std::nullopt);
  Task<> flush();
  // flush(), then fsync(2): the file's data and metadata are on stable storage when it returns.
  Task<> fsync();

  // Flushes and closes the file (in a worker). Closing twice is a no-op. The file counts as
  // closed as soon as close() is called: if the call is cancelled, a worker still closes it.
  Task<> close();

  // --- curio's readinto and blocking (issue 9).
  // Reads up to buffer.size() bytes into buffer (fewer only at end of file, as read(n)); returns
  // how many. stdio's buffered data comes first. The worker reads into its own memory and the
  // bytes are copied into buffer on the kernel thread when the read is done, so a readinto
  // cancelled while its worker still runs never writes into buffer afterwards.
  Task<std::size_t> readinto(std::span<std::byte> buffer);
  Task<std::size_t> readinto(std::span<char> buffer) { return readinto(std::as_writable_bytes(buffer)); }

  // The file's raw descriptor (blocking, as always for a file) and FILE* for a synchronous
  // library, for as long as the guard lives: stdio's write buffer is flushed first, and the
  // file's other operations wait (in the kernel, FIFO) until the guard is destroyed. IOError if
  // stdio holds read-ahead data, which the raw descriptor would skip.
  class Blocking {
   public:
    int fileno() const noexcept { return fd_; }
    FILE* file() const noexcept { return fp_; }
    // Made by blocking() (holding the file's lock).
    Blocking(int fd, FILE* fp, Held<Lock> held) noexcept : fd_(fd), fp_(fp), held_(std::move(held)) {}

   private:
    int fd_;
    FILE* fp_;
    Held<Lock> held_;
  };
  Task<Blocking> blocking();

  // --- no I/O (these run on the calling thread).
  // The descriptor (RuntimeError once closed).
  int fileno() const;
  bool closed() const noexcept;
  const std::string& name() const noexcept;  // the path given to aopen
  const std::string& mode() const noexcept;  // the mode given to aopen

 private:
  friend Task<AsyncFile> aopen(std::string path, std::string mode);
  explicit AsyncFile(std::unique_ptr<detail::AsyncFileImpl> impl) noexcept;
  Task<std::size_t> write_owned(std::string data);
  Task<> write_joined(std::string data);

  std::unique_ptr<detail::AsyncFileImpl> impl_;  // null when moved from
};

}  // namespace curio
