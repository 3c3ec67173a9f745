// libFuzzer target: stream reads (readline with limits, read_exactly, readlines, next_line,
// read, readall) over arbitrary bytes in arbitrary chunkings, with cancellations at arbitrary
// points, checked against the model in stream_model.hpp. A violation aborts with its
// description; the input becomes a regression file under fuzz/stream_reads/regressions/.
#include <cstdio>
#include <cstdlib>

#include "stream_reads/stream_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string violation = stream_model::check_stream_reads(data, size);
  if (!violation.empty()) {
    std::fprintf(stderr, "stream_reads model violation: %s\n", violation.c_str());
    std::abort();
  }
  return 0;
}
