// 4 KiB random reads of a large file through curio::AsyncFile, N tasks at once (each with its own
// AsyncFile: seek, then read(4096)), on the thread-pool path (epoll kernel: every seek and read
// is a worker round trip) and on the io_uring path (each read is one ring op, the seek none),
// with the page cache warm (the file read once before) and cold (posix_fadvise DONTNEED first).
// Runs are interleaved (epoll, io_uring, epoll, io_uring...) and each read block is checked (the
// file's block i starts with i), so a fast wrong answer cannot pass. Prints one line per run and
// the io_uring/epoll ratios per round.
//   files_bench [--dir /tmp] [--mib 1024] [--tasks 32] [--seconds 3] [--rounds 2] [--cold-reads 32000] [--keep]
// Warm runs last --seconds; cold runs make --cold-reads reads in all (the same blocks on both
// paths), so the run that is faster does not also warm more of the cache.
// The file is created in --dir (never in the repository) and removed at the end.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "curio/curio.hpp"

namespace {

constexpr std::size_t kBlock = 4096;

struct Options {
  std::string dir = "/tmp";
  std::size_t mib = 1024;
  int tasks = 32;
  double seconds = 3;
  int rounds = 2;
  std::uint64_t cold_reads = 32'000;  // per cold run, split over the tasks
  bool keep = false;
};

[[noreturn]] void die(const std::string& what) {
  std::perror(what.c_str());
  std::exit(1);
}

// Block i starts with the 8 bytes of i; the rest is filler.
void create(const std::string& path, std::size_t bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) die("open " + path);
  std::vector<char> chunk(1 << 20);
  for (std::size_t off = 0; off < bytes; off += chunk.size()) {
    for (std::size_t b = 0; b < chunk.size(); b += kBlock) {
      std::uint64_t index = (off + b) / kBlock;
      std::memcpy(chunk.data() + b, &index, sizeof index);
      std::memset(chunk.data() + b + sizeof index, static_cast<int>('a' + index % 26), kBlock - sizeof index);
    }
    std::size_t n = std::min(chunk.size(), bytes - off);
    if (::pwrite(fd, chunk.data(), n, static_cast<off_t>(off)) != static_cast<ssize_t>(n)) die("write " + path);
  }
  if (::fdatasync(fd) != 0) die("fdatasync");  // clean pages: DONTNEED can drop them
  ::close(fd);
}

void warm(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open " + path);
  std::vector<char> buf(1 << 20);
  while (::read(fd, buf.data(), buf.size()) > 0) {
  }
  ::close(fd);
}

void drop_cache(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open " + path);
  int err = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  if (err != 0) {
    errno = err;
    die("posix_fadvise");
  }
  ::close(fd);
}

struct Result {
  std::uint64_t reads = 0;
  std::uint64_t bad = 0;
  double seconds = 0;
  std::string backend;
};

// Reads until `until`, or `count` reads if count > 0 (the cold runs: the same seeds read the
// same blocks on both paths, so each run meets the same share of uncached blocks).
curio::Task<> reader(const std::string& path, std::uint64_t blocks, unsigned seed,
                     std::chrono::steady_clock::time_point until, std::uint64_t count, Result& r) {
  curio::AsyncFile f = co_await curio::aopen(path, "rb");
  std::mt19937_64 rng(seed);
  for (std::uint64_t done = 0; count > 0 ? done < count : std::chrono::steady_clock::now() < until; ++done) {
    std::uint64_t block = rng() % blocks;
    co_await f.seek(static_cast<std::int64_t>(block * kBlock));
    std::string data = co_await f.read(kBlock);
    std::uint64_t got = ~std::uint64_t{0};
    if (data.size() == kBlock) std::memcpy(&got, data.data(), sizeof got);
    if (got != block) ++r.bad;
    ++r.reads;
  }
  co_await f.close();
}

curio::Task<Result> run_readers(const Options& o, const std::string& path, std::uint64_t count) {
  Result r;
  r.backend = std::string(curio::to_string(curio::Kernel::current()->backend()));
  std::uint64_t blocks = o.mib * (1 << 20) / kBlock;
  auto start = std::chrono::steady_clock::now();
  auto until =
      start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(o.seconds));
  curio::TaskGroup group;
  co_await group.scope([&]() -> curio::Task<> {
    for (int i = 0; i < o.tasks; ++i)
      group.spawn(reader(path, blocks, 1234u + static_cast<unsigned>(i), until, count, r));
    co_return;
  });
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  co_return r;
}

Result run_once(const Options& o, const std::string& path, curio::IoBackend backend, std::uint64_t count) {
  curio::KernelOptions ko;
  ko.backend = backend;
  return curio::run(run_readers(o, path, count), std::move(ko));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--dir")
      o.dir = next();
    else if (a == "--mib")
      o.mib = std::stoul(next());
    else if (a == "--tasks")
      o.tasks = std::stoi(next());
    else if (a == "--seconds")
      o.seconds = std::stod(next());
    else if (a == "--rounds")
      o.rounds = std::stoi(next());
    else if (a == "--cold-reads")
      o.cold_reads = std::stoull(next());
    else if (a == "--keep")
      o.keep = true;
    else {
      std::fprintf(
          stderr,
          "usage: files_bench [--dir D] [--mib N] [--tasks N] [--seconds S] [--rounds N] [--cold-reads N] [--keep]\n");
      return 2;
    }
  }
  if (o.mib == 0 || o.tasks <= 0 || o.rounds <= 0) {
    std::fprintf(stderr, "files_bench: --mib, --tasks and --rounds must be positive\n");
    return 2;
  }
  std::string path = o.dir + "/curio-files-bench-" + std::to_string(::getpid()) + ".dat";
  std::printf("file %s, %zu MiB, %d tasks, %.1f s per run, 4 KiB random reads (seek + read)\n", path.c_str(), o.mib,
              o.tasks, o.seconds);
  create(path, o.mib << 20);
  int status = 0;
  for (int round = 1; round <= o.rounds; ++round) {
    for (const char* cache : {"warm", "cold"}) {
      double rate[2] = {0, 0};
      int k = 0;
      for (curio::IoBackend b : {curio::IoBackend::Epoll, curio::IoBackend::IoUring}) {
        bool is_warm = std::strcmp(cache, "warm") == 0;
        if (is_warm)
          warm(path);
        else
          drop_cache(path);
        Result r = run_once(
            o, path, b, is_warm ? 0 : std::max<std::uint64_t>(1, o.cold_reads / static_cast<std::uint64_t>(o.tasks)));
        rate[k++] = static_cast<double>(r.reads) / r.seconds;
        std::printf("round %d %-4s %-8s reads=%llu reads/s=%.0f bad=%llu\n", round, cache, r.backend.c_str(),
                    static_cast<unsigned long long>(r.reads), static_cast<double>(r.reads) / r.seconds,
                    static_cast<unsigned long long>(r.bad));
        if (r.bad) status = 1;
      }
      std::printf("round %d %-4s io_uring/epoll = %.2fx\n", round, cache, rate[0] > 0 ? rate[1] / rate[0] : 0.0);
      std::fflush(stdout);
    }
  }
  if (!o.keep) ::unlink(path.c_str());
  return status;
}
