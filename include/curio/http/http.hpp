// curio/http/http.hpp: a strict, small HTTP/1.1 request parser and a bounded request reader on
// a Stream. parse_request_head and ChunkedDecoder are pure (no I/O: unit-tested and fuzzed);
// RequestReader reads heads and bodies from a stream with hard limits, raising HttpError whose
// status() is the response the server owes the client (400, 413, 431, 501, 505, ...).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "curio/core/errors.hpp"
#include "curio/core/task.hpp"
#include "curio/io/stream.hpp"

namespace curio::http {

// A request the server must refuse; status() is the HTTP status code to answer with (the
// connection is then closed: after a framing error the rest of the byte stream means nothing).
class HttpError : public CurioError {
 public:
  HttpError(int status, const std::string& message) : CurioError(message), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

struct Limits {
  std::size_t max_head = 8192;       // request line + header fields + blank line: 431 beyond
  std::size_t max_headers = 100;     // header fields: 431 beyond
  std::size_t max_body = 1 << 20;    // decoded body bytes: 413 beyond
  std::size_t max_chunk_line = 256;  // one chunk-size line with its extensions: 400 beyond
};

// The parsed request line and header fields. Every string_view points into the head's own copy
// of the bytes (raw()), so a RequestHead can be moved freely.
class RequestHead {
 public:
  struct Field {
    std::string_view name;   // as sent (compare with iequals)
    std::string_view value;  // leading and trailing whitespace removed
  };

  std::string_view method() const noexcept { return method_; }
  std::string_view target() const noexcept { return target_; }   // "/path?query" or "*"
  std::string_view path() const noexcept;                        // target without "?query"
  int version_minor() const noexcept { return version_minor_; }  // HTTP/1.0 or HTTP/1.1
  const std::vector<Field>& fields() const noexcept { return fields_; }
  // The first field of that name (case-insensitive), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const noexcept;

  // Body framing: Transfer-Encoding: chunked, else Content-Length (0 if absent).
  bool chunked() const noexcept { return chunked_; }
  std::uint64_t content_length() const noexcept { return content_length_; }
  bool has_body() const noexcept { return chunked_ || content_length_ > 0; }
  // Connection: close / keep-alive with the version's default (1.1 keeps, 1.0 closes).
  bool keep_alive() const noexcept { return keep_alive_; }
  // Expect: 100-continue (HTTP/1.1 only).
  bool expects_continue() const noexcept { return expect_continue_; }
  const std::string& raw() const noexcept { return raw_; }

  RequestHead() = default;
  RequestHead(RequestHead&& o) noexcept { *this = std::move(o); }
  RequestHead& operator=(RequestHead&& o) noexcept;
  RequestHead(const RequestHead&) = delete;
  RequestHead& operator=(const RequestHead&) = delete;

 private:
  friend RequestHead parse_request_head(std::string head, const Limits& limits);
  void rebase(const char* old_base) noexcept;
  std::string raw_;
  std::string_view method_, target_;
  std::vector<Field> fields_;
  int version_minor_ = 1;
  std::uint64_t content_length_ = 0;
  bool chunked_ = false;
  bool keep_alive_ = true;
  bool expect_continue_ = false;
};

// ASCII case-insensitive equality (header names, tokens).
bool iequals(std::string_view a, std::string_view b) noexcept;

// The length of the head at the start of data, through its terminating "\r\n\r\n", or npos if
// it has not all arrived.
std::size_t find_head_end(std::string_view data) noexcept;

// Parses a complete head (request line, fields, the blank line) strictly, per RFC 9112: CRLF line
// ends, no whitespace before a field's colon, no obsolete line folding, no control characters,
// a Host field in HTTP/1.1, one consistent Content-Length, Transfer-Encoding only "chunked" and
// never together with Content-Length (request smuggling). HttpError: 400 malformed, 431 too large
// or too many fields, 501 a transfer coding other than chunked, 505 a version other than 1.x,
// 417 an expectation other than 100-continue.
RequestHead parse_request_head(std::string head, const Limits& limits = {});

// The chunked transfer coding, decoded incrementally: feed() any split of the bytes. Trailer
// fields are read and discarded. HttpError 400 on a malformed chunk, 413 past max_body.
class ChunkedDecoder {
 public:
  explicit ChunkedDecoder(const Limits& limits = {}) noexcept : limits_(limits) {}
  // Consumes a prefix of input (all of it unless the body ends inside it), appends the decoded
  // data to body, and returns how many bytes it consumed.
  std::size_t feed(std::string_view input, std::string& body);
  bool done() const noexcept { return state_ == State::kDone; }

 private:
  enum class State { kSize, kExtension, kSizeLf, kData, kDataCr, kDataLf, kTrailer, kTrailerLf, kDone };
  Limits limits_;
  State state_ = State::kSize;
  std::uint64_t remaining_ = 0;  // data bytes left in the current chunk
  std::size_t line_ = 0;         // bytes of the current chunk-size (or trailer) line
  std::size_t trailers_ = 0;     // bytes of trailer section so far
  int digits_ = 0;
  bool trailer_empty_ = true;  // the current trailer line has no bytes yet
};

// Reads requests one after another from a stream (pipelined requests come out in order; bytes
// past one request stay buffered for the next). The reader owns the stream's read side: read
// everything of the connection through it.
class RequestReader {
 public:
  explicit RequestReader(Stream& stream, Limits limits = {}) noexcept : stream_(stream), limits_(limits) {}

  // Waits for the first byte of the next request: false if the stream ended cleanly before one
  // (put the keep-alive idle timeout around this). Blank lines between requests are skipped.
  Task<bool> wait_request();
  // The next head. HttpError for a bad or too large one; EofError if the stream ends inside it.
  Task<RequestHead> read_head();
  // The whole body the head announces (Content-Length or chunked), at most limits.max_body
  // (HttpError 413; the check on Content-Length happens before any byte is read).
  Task<std::string> read_body(const RequestHead& head);
  // Bytes received and not yet consumed.
  std::size_t buffered() const noexcept { return buf_.size() - pos_; }
  const Limits& limits() const noexcept { return limits_; }

 private:
  Task<bool> fill();  // one more read from the stream; false at its end
  Stream& stream_;
  Limits limits_;
  std::string buf_;
  std::size_t pos_ = 0;
};

// The reason phrase of a status code ("Not Found"), "" if unknown.
std::string_view reason_phrase(int status) noexcept;
// A method defined by RFC 9110 or 5789 (GET HEAD POST PUT DELETE CONNECT OPTIONS TRACE PATCH).
bool is_standard_method(std::string_view method) noexcept;

}  // namespace curio::http
