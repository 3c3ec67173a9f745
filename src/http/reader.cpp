// RequestReader of curio/http/http.hpp: heads and bodies read from a Stream under hard limits.
#include <algorithm>

#include "curio/http/http.hpp"

namespace curio::http {

Task<bool> RequestReader::fill() {
  std::string data = co_await stream_.read(65536);
  if (data.empty()) co_return false;
  if (pos_ == buf_.size()) {
    buf_ = std::move(data);  // the common case: nothing was left over, no copy
  } else {
    buf_.erase(0, pos_);
    buf_ += data;
  }
  pos_ = 0;
  co_return true;
}

namespace {
// Skips the empty lines a client may send before a request (RFC 9112 2.2).
void skip_blank_lines(const std::string& buf, std::size_t& pos) noexcept {
  while (buf.size() - pos >= 2 && buf[pos] == '\r' && buf[pos + 1] == '\n') pos += 2;
}
}  // namespace

Task<bool> RequestReader::wait_request() {
  std::size_t skipped = 0;
  for (;;) {
    std::size_t before = pos_;
    skip_blank_lines(buf_, pos_);
    skipped += pos_ - before;
    if (skipped > limits_.max_head) throw HttpError(400, "curio.http: bad request: endless empty lines");
    if (buffered() > 0) co_return true;
    std::string().swap(buf_);  // an idle connection keeps no buffer
    pos_ = 0;
    if (!co_await fill()) co_return false;
  }
}

Task<RequestHead> RequestReader::read_head() {
  std::size_t scanned = 0;  // bytes after pos_ already searched for the end of the head
  for (;;) {
    std::size_t before = pos_;
    skip_blank_lines(buf_, pos_);
    if (pos_ != before) scanned = 0;
    std::string_view data(buf_.data() + pos_, buffered());
    std::size_t from = scanned > 3 ? scanned - 3 : 0;
    std::size_t end = find_head_end(data.substr(from));
    if (end != std::string_view::npos) {
      end += from;
      if (end > limits_.max_head)
        throw HttpError(431, "curio.http: request head over " + std::to_string(limits_.max_head) + " bytes");
      std::string head(data.substr(0, end));
      pos_ += end;
      co_return parse_request_head(std::move(head), limits_);
    }
    if (data.size() >= limits_.max_head)
      throw HttpError(431, "curio.http: request head over " + std::to_string(limits_.max_head) + " bytes");
    scanned = data.size();
    if (!co_await fill()) {
      std::string partial = buf_.substr(pos_);
      pos_ = buf_.size();
      throw EofError(
          "curio.http: connection closed inside a request head (" + std::to_string(partial.size()) + " bytes)",
          std::move(partial));
    }
  }
}

Task<std::string> RequestReader::read_body(const RequestHead& head) {
  std::string body;
  if (head.chunked()) {
    ChunkedDecoder decoder(limits_);
    for (;;) {
      pos_ += decoder.feed(std::string_view(buf_).substr(pos_), body);
      if (decoder.done()) co_return body;
      if (!co_await fill())
        throw EofError(
            "curio.http: connection closed inside a chunked body (" + std::to_string(body.size()) + " bytes)",
            std::move(body));
    }
  }
  if (head.content_length() > limits_.max_body)
    throw HttpError(413, "curio.http: body of " + std::to_string(head.content_length()) + " bytes (limit " +
                             std::to_string(limits_.max_body) + ")");
  std::size_t n = static_cast<std::size_t>(head.content_length());
  while (buffered() < n) {
    if (!co_await fill()) {
      std::string partial = buf_.substr(pos_);
      pos_ = buf_.size();
      throw EofError("curio.http: connection closed inside a body (" + std::to_string(partial.size()) + " of " +
                         std::to_string(n) + " bytes)",
                     std::move(partial));
    }
  }
  body.assign(buf_, pos_, n);
  pos_ += n;
  co_return body;
}

}  // namespace curio::http
