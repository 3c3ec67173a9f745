// Shared by the soak server and client: a fast deterministic PRNG, CRC-32, /proc readings.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>

namespace soak {

struct Rng {
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ULL + 1) {}
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  double unit() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }
  // Log-uniform in [lo, hi]: many small payloads, some big ones.
  std::size_t log_size(std::size_t lo, std::size_t hi) {
    double a = __builtin_log(static_cast<double>(lo)), b = __builtin_log(static_cast<double>(hi));
    return static_cast<std::size_t>(__builtin_exp(a + (b - a) * unit()));
  }
  std::string bytes(std::size_t n) {
    std::string out(n, '\0');
    for (std::size_t i = 0; i < n; i += 8) {
      std::uint64_t v = next();
      for (std::size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<char>(v >> (8 * j));
    }
    return out;
  }
};

inline std::uint32_t crc32(const std::string& data) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char ch : data) c = table[(c ^ ch) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

inline std::size_t count_dir(const char* path) {
  std::size_t n = 0;
  if (DIR* d = ::opendir(path)) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}
inline std::size_t open_fds() { return count_dir("/proc/self/fd") - 1; }  // minus the DIR's own
inline std::size_t thread_count() { return count_dir("/proc/self/task"); }
inline std::size_t rss_kib() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) / 1024;
}

}  // namespace soak
