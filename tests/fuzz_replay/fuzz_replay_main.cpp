// Replays a libFuzzer target's inputs without libFuzzer: every file in the directories given is
// passed once to LLVMFuzzerTestOneInput, so the seed corpora and found inputs of fuzz/ run in
// every ctest run, in every preset (the fuzz preset itself needs Clang and runs by time).
// A failure is whatever the target does on a bad input: an abort, a sanitizer report, a crash.
// Exits 1 if a directory is missing or holds no input, so the test cannot pass on nothing.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    std::size_t here = 0;
    for (const auto& entry : fs::directory_iterator(argv[i], ec)) {
      if (!entry.is_regular_file() || entry.path().filename() == "README.md") continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++here;
    }
    if (ec || here == 0) {
      std::fprintf(stderr, "fuzz replay: no inputs in %s%s%s\n", argv[i], ec ? ": " : "",
                   ec ? ec.message().c_str() : "");
      return 1;
    }
    replayed += here;
  }
  std::printf("fuzz replay: %zu inputs, no failure\n", replayed);
  return 0;
}
