// Fuzzes the HTTP/1.1 request parser and the chunked decoder of curio/http/http.hpp: any input
// must either parse or raise HttpError with a 4xx/5xx status; never crash, hang or read out of
// bounds. The invariants checked: every view of a parsed head lies inside its raw bytes, a
// decoder never consumes more than it was given, and feeding the same bytes in two pieces
// decodes the same body as feeding them at once.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "curio/http/http.hpp"

using namespace curio::http;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool inside(std::string_view v, const std::string& raw) {
  return v.data() >= raw.data() && v.data() + v.size() <= raw.data() + raw.size();
}

void fuzz_head(std::string_view data) {
  std::size_t end = find_head_end(data);
  std::string head(end == std::string_view::npos ? data : data.substr(0, end));
  try {
    RequestHead h = parse_request_head(std::move(head));
    RequestHead moved = std::move(h);
    check(inside(moved.method(), moved.raw()) && inside(moved.target(), moved.raw()));
    for (const auto& f : moved.fields()) check(inside(f.name, moved.raw()) && inside(f.value, moved.raw()));
    check(!(moved.chunked() && moved.content_length() > 0));
    check(!moved.path().empty());
  } catch (HttpError& e) {
    check(e.status() >= 400 && e.status() < 600);
  }
}

// Returns the body, or the status of the error ("#400").
std::string decode(std::string_view data, std::size_t split) {
  Limits limits;
  limits.max_body = 4096;
  limits.max_head = 512;
  ChunkedDecoder d(limits);
  std::string body;
  try {
    std::size_t n = d.feed(data.substr(0, split), body);
    check(n <= split);
    if (n == split && !d.done()) {
      std::size_t m = d.feed(data.substr(split), body);
      check(m <= data.size() - split);
      n += m;
    }
    check(body.size() <= limits.max_body);
    return (d.done() ? "done:" + std::to_string(n) + ":" : "partial:") + body;
  } catch (HttpError& e) {
    check(e.status() == 400 || e.status() == 413 || e.status() == 431);
    return "#" + std::to_string(e.status());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size == 0) return 0;
  std::string_view data(reinterpret_cast<const char*>(bytes + 1), size - 1);
  if (bytes[0] & 1) {
    fuzz_head(data);
  } else {
    std::size_t split = data.empty() ? 0 : bytes[0] % (data.size() + 1);
    std::string once = decode(data, data.size());
    std::string twice = decode(data, split);
    // A partial decode at once may become an error in two pieces only if it stopped early; a
    // complete decode must be the same whichever way the bytes arrived.
    if (once.starts_with("done:") || once.starts_with("#")) check(once == twice);
  }
  return 0;
}
