// The strict request-head parser and the chunked decoder of curio/http/http.hpp (no I/O).
#include <algorithm>
#include <cctype>
#include <charconv>

#include "curio/http/http.hpp"

namespace curio::http {
namespace {

bool is_tchar(unsigned char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

// field-vchar / SP / HTAB (obs-text, bytes >= 0x80, is allowed as RFC 9110 says).
bool is_field_char(unsigned char c) noexcept { return c == '\t' || (c >= 0x20 && c != 0x7f); }

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

[[noreturn]] void bad(const std::string& what) { throw HttpError(400, "curio.http: bad request: " + what); }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Calls f(token) for each element of a comma-separated list, skipping empty elements (RFC 9110 5.6.1).
template <class F>
void for_each_element(std::string_view list, F&& f) {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// The next CRLF-terminated line of s starting at pos (without the CRLF); pos moves past it.
// A bare CR or LF anywhere is malformed.
std::string_view next_line(std::string_view s, std::size_t& pos) {
  std::size_t start = pos;
  for (std::size_t i = pos; i < s.size(); ++i) {
    if (s[i] == '\r') {
      if (i + 1 >= s.size() || s[i + 1] != '\n') bad("bare CR");
      pos = i + 2;
      return s.substr(start, i - start);
    }
    if (s[i] == '\n') bad("bare LF (lines end with CRLF)");
  }
  bad("unterminated line");
}

std::uint64_t parse_content_length(std::string_view v) {
  if (v.empty() || v.size() > 18) bad("Content-Length '" + std::string(v.substr(0, 32)) + "'");
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || v.front() == '+' || v.front() == '-')
    bad("Content-Length '" + std::string(v) + "'");
  return n;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

std::size_t find_head_end(std::string_view data) noexcept {
  std::size_t p = data.find("\r\n\r\n");
  return p == std::string_view::npos ? p : p + 4;
}

std::string_view RequestHead::path() const noexcept { return target_.substr(0, target_.find('?')); }

std::optional<std::string_view> RequestHead::header(std::string_view name) const noexcept {
  for (const Field& f : fields_)
    if (iequals(f.name, name)) return f.value;
  return std::nullopt;
}

RequestHead& RequestHead::operator=(RequestHead&& o) noexcept {
  const char* old = o.raw_.data();
  raw_ = std::move(o.raw_);
  method_ = o.method_;
  target_ = o.target_;
  fields_ = std::move(o.fields_);
  version_minor_ = o.version_minor_;
  content_length_ = o.content_length_;
  chunked_ = o.chunked_;
  keep_alive_ = o.keep_alive_;
  expect_continue_ = o.expect_continue_;
  if (raw_.data() != old) rebase(old);  // a short string moved by copy (small-string buffer)
  return *this;
}

void RequestHead::rebase(const char* old) noexcept {
  auto move_view = [&](std::string_view& v) {
    if (v.data() != nullptr) v = std::string_view(raw_.data() + (v.data() - old), v.size());
  };
  move_view(method_);
  move_view(target_);
  for (Field& f : fields_) {
    move_view(f.name);
    move_view(f.value);
  }
}

RequestHead parse_request_head(std::string head, const Limits& limits) {
  if (head.size() > limits.max_head)
    throw HttpError(431, "curio.http: request head of " + std::to_string(head.size()) + " bytes (limit " +
                             std::to_string(limits.max_head) + ")");
  RequestHead r;
  r.raw_ = std::move(head);
  std::string_view s = r.raw_;
  if (s.size() < 4 || s.substr(s.size() - 4) != "\r\n\r\n") bad("head does not end with an empty line");

  // request-line = method SP request-target SP HTTP-version
  std::size_t pos = 0;
  std::string_view line = next_line(s, pos);
  std::size_t i = 0;
  while (i < line.size() && is_tchar(static_cast<unsigned char>(line[i]))) ++i;
  if (i == 0 || i >= line.size() || line[i] != ' ') bad("request line (method)");
  r.method_ = line.substr(0, i);
  std::size_t t = ++i;
  while (i < line.size() && static_cast<unsigned char>(line[i]) > 0x20 && static_cast<unsigned char>(line[i]) < 0x7f)
    ++i;
  if (i == t || i >= line.size() || line[i] != ' ') bad("request line (target)");
  r.target_ = line.substr(t, i - t);
  if (r.target_.front() != '/' && !(r.target_ == "*" && r.method_ == "OPTIONS"))
    bad("request target '" + std::string(r.target_.substr(0, 64)) + "' (origin-form '/...' expected)");
  std::string_view version = line.substr(i + 1);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' || version[5] < '0' ||
      version[5] > '9' || version[7] < '0' || version[7] > '9')
    bad("request line (version)");
  if (version[5] != '1')
    throw HttpError(505, "curio.http: HTTP version " + std::string(version.substr(5)) + " not supported");
  r.version_minor_ = version[7] == '0' ? 0 : 1;  // 1.x with x > 1 is answered as 1.1 (RFC 9110 2.5)
  r.keep_alive_ = r.version_minor_ == 1;

  // field-line = field-name ":" OWS field-value OWS
  int hosts = 0;
  bool have_length = false, keep_alive_token = false, close_token = false;
  for (;;) {
    line = next_line(s, pos);
    if (line.empty()) break;
    if (r.fields_.size() == limits.max_headers)
      throw HttpError(431, "curio.http: more than " + std::to_string(limits.max_headers) + " header fields");
    if (is_ows(line.front())) bad("obsolete line folding");
    std::size_t colon = 0;
    while (colon < line.size() && is_tchar(static_cast<unsigned char>(line[colon]))) ++colon;
    if (colon == 0 || colon >= line.size() || line[colon] != ':')
      bad("header field name '" + std::string(line.substr(0, std::min<std::size_t>(colon + 1, 64))) + "'");
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim(line.substr(colon + 1));
    for (char c : value)
      if (!is_field_char(static_cast<unsigned char>(c))) bad("control character in field '" + std::string(name) + "'");
    r.fields_.push_back({name, value});

    if (iequals(name, "host")) {
      ++hosts;
    } else if (iequals(name, "content-length")) {
      std::uint64_t n = parse_content_length(value);
      if (have_length && n != r.content_length_) bad("conflicting Content-Length fields");
      have_length = true;
      r.content_length_ = n;
    } else if (iequals(name, "transfer-encoding")) {
      if (r.version_minor_ == 0) bad("Transfer-Encoding in an HTTP/1.0 request");
      for_each_element(value, [&](std::string_view coding) {
        if (r.chunked_) bad("chunked is not the final transfer coding");
        if (!iequals(coding, "chunked"))
          throw HttpError(501, "curio.http: transfer coding '" + std::string(coding) + "' not implemented");
        r.chunked_ = true;
      });
      if (!r.chunked_) bad("empty Transfer-Encoding");
    } else if (iequals(name, "connection")) {
      for_each_element(value, [&](std::string_view option) {
        if (iequals(option, "close")) close_token = true;
        if (iequals(option, "keep-alive")) keep_alive_token = true;
      });
    } else if (iequals(name, "expect")) {
      if (!iequals(value, "100-continue"))
        throw HttpError(417, "curio.http: expectation '" + std::string(value.substr(0, 64)) + "' not supported");
      r.expect_continue_ = r.version_minor_ == 1;
    }
  }
  if (pos != s.size()) bad("bytes after the empty line");
  if (r.chunked_ && have_length) bad("both Transfer-Encoding and Content-Length");
  if (r.version_minor_ == 1 && hosts != 1) bad(hosts == 0 ? "no Host field" : "more than one Host field");
  if (hosts > 1) bad("more than one Host field");
  if (close_token)
    r.keep_alive_ = false;
  else if (keep_alive_token)
    r.keep_alive_ = true;
  return r;
}

std::size_t ChunkedDecoder::feed(std::string_view in, std::string& body) {
  std::size_t i = 0;
  while (i < in.size() && state_ != State::kDone) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (state_ == State::kData) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - i));
      body.append(in.data() + i, n);
      i += n;
      remaining_ -= n;
      if (remaining_ == 0) state_ = State::kDataCr;
      continue;
    }
    ++i;
    switch (state_) {
      case State::kSize:
      case State::kExtension:
        if (++line_ > limits_.max_chunk_line)
          bad("chunk size line over " + std::to_string(limits_.max_chunk_line) + " bytes");
        if (c == '\r') {
          if (digits_ == 0) bad("missing chunk size");
          state_ = State::kSizeLf;
        } else if (state_ == State::kExtension) {
          if (c != '\t' && (c < 0x20 || c == 0x7f)) bad("control character in chunk extension");
        } else if (std::isxdigit(c)) {
          if (digits_ == 15) bad("chunk size too large");
          ++digits_;
          remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        } else if (c == ';' && digits_ > 0) {
          state_ = State::kExtension;
        } else {
          bad("chunk size");
        }
        break;
      case State::kSizeLf:
        if (c != '\n') bad("chunk size line not ended by CRLF");
        if (remaining_ > limits_.max_body - std::min(limits_.max_body, body.size()))
          throw HttpError(413, "curio.http: chunked body over " + std::to_string(limits_.max_body) + " bytes");
        state_ = remaining_ == 0 ? State::kTrailer : State::kData;
        digits_ = 0;
        line_ = 0;
        trailer_empty_ = true;
        break;
      case State::kDataCr:
        if (c != '\r') bad("chunk data not followed by CRLF");
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') bad("chunk data not followed by CRLF");
        state_ = State::kSize;
        break;
      case State::kTrailer:
        if (++trailers_ > limits_.max_head)
          throw HttpError(431, "curio.http: trailer section over " + std::to_string(limits_.max_head) + " bytes");
        if (c == '\r') {
          state_ = State::kTrailerLf;
        } else {
          if (c != '\t' && (c < 0x20 || c == 0x7f)) bad("control character in trailer");
          if (trailer_empty_ && is_ows(static_cast<char>(c))) bad("obsolete line folding in trailer");
          trailer_empty_ = false;
        }
        break;
      case State::kTrailerLf:
        if (c != '\n') bad("trailer line not ended by CRLF");
        if (trailer_empty_) {
          state_ = State::kDone;
        } else {
          trailer_empty_ = true;
          state_ = State::kTrailer;
        }
        break;
      case State::kData:
      case State::kDone:
        break;
    }
  }
  return i;
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 417:
      return "Expectation Failed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

bool is_standard_method(std::string_view m) noexcept {
  for (std::string_view k : {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
    if (m == k) return true;
  return false;
}

}  // namespace curio::http
