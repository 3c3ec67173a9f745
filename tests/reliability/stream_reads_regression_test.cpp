// Regression test for the stream_reads fuzzer: every seed of fuzz/stream_reads/corpus and every
// input the fuzzer ever found (fuzz/stream_reads/regressions/) replayed through the same model
// (no byte lost or duplicated, a cancelled read consumes nothing, limits raise LineTooLong),
// plus hand-written plans for the cases the model distinguishes.
// Timing tolerance: none; the plans cancel after a number of scheduling cycles, not a duration.
#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "../../fuzz/stream_reads/stream_model.hpp"

namespace fs = std::filesystem;

namespace {

fs::path fuzz_dir() { return fs::path(__FILE__).parent_path() / ".." / ".." / "fuzz" / "stream_reads"; }

std::string replay_dir(const fs::path& dir, std::size_t& count) {
  if (!fs::exists(dir)) return "";
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename() == "README.md") continue;
    std::ifstream f(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::string v = stream_model::check_stream_reads(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    if (!v.empty()) return entry.path().filename().string() + ": " + v;
    ++count;
  }
  return "";
}

// An input from a header (flags, steps as {op, param byte, cancel byte}, chunks as {size, yields})
// and a payload.
std::string plan(bool pipe, std::vector<std::array<std::uint8_t, 3>> steps,
                 std::vector<std::array<std::uint8_t, 2>> chunks, const std::string& payload) {
  std::string in;
  in.push_back(pipe ? 1 : 0);
  in.push_back(static_cast<char>(steps.size() - 1));
  for (auto& s : steps)
    for (auto b : s) in.push_back(static_cast<char>(b));
  in.push_back(static_cast<char>(chunks.size() - 1));
  for (auto& c : chunks)
    for (auto b : c) in.push_back(static_cast<char>(b));
  return in + payload;
}

std::string run_plan(const std::string& in) {
  return stream_model::check_stream_reads(reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
}

constexpr std::uint8_t kRead = 0, kReadExactly = 1, kReadline = 2, kReadlines = 3, kNextLine = 4;
constexpr std::uint8_t kNoCancel = 0, kCancelAt0 = 128, kCancelAfter3 = 131;

}  // namespace

TEST(ReliabilityStreamReads, SeedCorpusAndFoundInputsKeepTheModel) {
  std::size_t count = 0;
  EXPECT_EQ(replay_dir(fuzz_dir() / "corpus", count), "");
  EXPECT_EQ(replay_dir(fuzz_dir() / "regressions", count), "");
  EXPECT_GT(count, 0u) << "the seed corpus is missing";
}

TEST(ReliabilityStreamReads, CancelledReadlineLeavesItsBytesForTheNextRead) {
  // Byte-at-a-time chunks with yields: the first readline is cancelled mid-line.
  EXPECT_EQ(run_plan(plan(false, {{kReadline, 63, kCancelAfter3}, {kReadline, 63, kNoCancel}, {kRead, 63, kNoCancel}},
                          {{1, 1}}, "hello world\nrest")),
            "");
}

TEST(ReliabilityStreamReads, CancelledReadExactlyOnAPipeLosesNothing) {
  EXPECT_EQ(run_plan(plan(true, {{kReadExactly, 20, kCancelAfter3}, {kReadExactly, 20, kNoCancel}}, {{3, 2}},
                          std::string(40, 'x'))),
            "");
}

TEST(ReliabilityStreamReads, LineOverTheLimitRaisesLineTooLongAndKeepsTheData) {
  EXPECT_EQ(run_plan(plan(false, {{kReadline, 3, kNoCancel}, {kReadExactly, 10, kNoCancel}}, {{5, 0}}, "0123456789\n")),
            "");  // maxlen 4: LineTooLong, then read_exactly gets the same bytes
}

TEST(ReliabilityStreamReads, ReadlinesCancelledAtOnceThenNextLineIteratesEverything) {
  EXPECT_EQ(run_plan(plan(false,
                          {{kReadlines, 63, kCancelAt0},
                           {kNextLine, 63, kNoCancel},
                           {kNextLine, 63, kNoCancel},
                           {kNextLine, 63, kNoCancel}},
                          {{2, 1}}, "a\nbb\nccc")),
            "");
}

TEST(ReliabilityStreamReads, ModelDetectsALostByte) {
  // The checker itself must be able to fail: a fabricated outcome that skips a byte.
  stream_model::Plan p;
  p.payload = "abc\n";
  stream_model::Step st{stream_model::Op::Readline, 64, -1};
  stream_model::Outcome o;
  o.bytes = "bc\n";
  std::size_t consumed = 0;
  EXPECT_NE(stream_model::check(p, st, o, consumed), "");
}
