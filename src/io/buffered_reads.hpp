// src/io/buffered_reads.hpp: read, read_exactly, readline, readlines, readall and next_line over
// a ReadBuffer (private; one template for Stream and SslStream, so both streams keep the same
// meaning, limits and cancellation guarantees). A Source provides
//   detail::ReadBuffer& read_buffer();
//   Task<std::size_t> fill();  // reads once more into the buffer, waiting as needed; 0 at end of
//                              // stream, having called set_eof() (it may also set it with data)
// and must outlive the operation. Bytes are consumed only when an operation completes: a
// cancellation leaves them buffered and reports bytes_read / lines_read.
// write_lines is the writelines of both (over their write()).
// No co_await sits on the right of && or || here: GCC 12 evaluates it anyway (docs/core.md).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "curio/core/errors.hpp"
#include "curio/core/task.hpp"
#include "curio/io/detail/read_buffer.hpp"
#include "curio/io/stream.hpp"

namespace curio::detail {

template <class Source>
struct BufferedReads {
  // Buffered data first; otherwise one fill. "" at end of stream.
  static Task<std::string> read(Source& s, std::size_t maxsize) {
    ReadBuffer& b = s.read_buffer();
    if (b.buffered() == 0 && !b.eof()) co_await s.fill();
    co_return b.take(maxsize);
  }

  static Task<std::string> read_exactly(Source& s, std::size_t n) {
    ReadBuffer& b = s.read_buffer();
    try {
      while (b.buffered() < n) {
        bool more = false;
        if (!b.eof()) more = co_await s.fill() > 0;
        if (!more) {
          std::string partial = b.take(b.buffered());
          throw EofError("curio: end of stream after " + std::to_string(partial.size()) + " of " + std::to_string(n) +
                             " bytes (read_exactly)",
                         std::move(partial));
        }
      }
    } catch (CancelledError& e) {
      e.bytes_read = b.buffered();
      throw;
    }
    co_return b.take(n);
  }

  static Task<std::string> readline(Source& s, std::size_t maxlen) {
    ReadBuffer& b = s.read_buffer();
    for (;;) {
      std::string_view unread = b.unread();
      std::size_t nl = unread.find('\n', b.scanned());
      if (nl != std::string_view::npos) {
        if (nl + 1 > maxlen) break;
        co_return b.take(nl + 1);
      }
      b.set_scanned(unread.size());
      if (unread.size() >= maxlen) break;
      bool more = false;
      if (!b.eof()) more = co_await s.fill() > 0;
      if (!more) co_return b.take(b.buffered());
    }
    throw LineTooLong("curio: no newline within the maximum line length of " + std::to_string(maxlen) +
                      " bytes (readline); the data stays buffered");
  }

  static Task<std::optional<std::string>> next_line(Source& s, std::size_t maxlen) {
    std::string line = co_await readline(s, maxlen);
    if (line.empty()) co_return std::nullopt;
    co_return line;
  }

  // Lines are split off only at the end, so a cancellation leaves them all buffered; a line
  // over the limit raises LineTooLong and consumes nothing.
  static Task<std::vector<std::string>> readlines(Source& s, std::size_t maxlen) {
    ReadBuffer& b = s.read_buffer();
    std::size_t start = 0;  // offset in unread() where the current, unfinished line begins
    std::size_t lines = 0;
    try {
      for (;;) {
        std::string_view unread = b.unread();
        std::size_t nl;
        while ((nl = unread.find('\n', start)) != std::string_view::npos) {
          if (nl + 1 - start > maxlen) too_long(maxlen);
          start = nl + 1;
          ++lines;
        }
        if (unread.size() - start >= maxlen) too_long(maxlen);
        if (b.eof()) break;
        if (co_await s.fill() == 0) break;
      }
    } catch (CancelledError& e) {
      e.lines_read = lines;
      throw;
    }
    std::vector<std::string> out;
    out.reserve(lines + 1);
    std::string_view rest = b.unread();
    while (!rest.empty()) {
      std::size_t nl = rest.find('\n');
      std::size_t len = nl == std::string_view::npos ? rest.size() : nl + 1;
      out.emplace_back(rest.substr(0, len));
      rest.remove_prefix(len);
    }
    b.discard_all();
    co_return out;
  }

  static Task<std::string> readall(Source& s) {
    ReadBuffer& b = s.read_buffer();
    try {
      while (!b.eof()) {
        if (co_await s.fill() == 0) break;
      }
    } catch (CancelledError& e) {
      e.bytes_read = b.buffered();
      throw;
    }
    co_return b.take(b.buffered());
  }

 private:
  [[noreturn]] static void too_long(std::size_t maxlen) {
    throw LineTooLong("curio: a line longer than " + std::to_string(maxlen) + " bytes (readlines)");
  }
};

// writelines: each line through w.write(); a cancellation's bytes_written counts the whole lines
// written plus what the interrupted write had written.
template <class Writer>
Task<> write_lines(Writer& w, std::vector<std::string_view> lines) {
  std::size_t written = 0;
  try {
    for (std::string_view line : lines) {
      try {
        co_await w.write(line);
      } catch (CancelledError& e) {
        written += e.bytes_written.value_or(0);
        throw;
      }
      written += line.size();
    }
  } catch (CancelledError& e) {
    e.bytes_written = written;
    throw;
  }
}

}  // namespace curio::detail
