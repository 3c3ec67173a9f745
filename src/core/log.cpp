// src/core/log.cpp: level filter, per-kind rate limit and the replaceable handler.
#include "curio/core/log.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

namespace curio {

namespace {

LogLevel initial_level() noexcept {
  const char* v = std::getenv("CURIO_LOG_LEVEL");
  if (!v) return LogLevel::Info;
  if (std::strcmp(v, "debug") == 0) return LogLevel::Debug;
  if (std::strcmp(v, "warning") == 0) return LogLevel::Warning;
  if (std::strcmp(v, "error") == 0) return LogLevel::Error;
  return LogLevel::Info;
}

struct KindState {
  std::int64_t window_start_ns = 0;
  unsigned admitted = 0;         // in the current window
  std::uint64_t suppressed = 0;  // since the last summary
};

// One instance, never destroyed: tasks may log from static destructors and other threads at exit.
struct LogState {
  std::atomic<int> level{static_cast<int>(initial_level())};
  std::atomic<unsigned> lines{10};
  std::atomic<std::int64_t> interval_ns{1'000'000'000};
  std::atomic<std::uint64_t> suppressed_total{0};
  std::mutex mu;
  std::shared_ptr<const LogHandler> handler;  // null: the default stderr handler
  std::map<std::string, KindState, std::less<>> kinds;
};

LogState& state() {
  static LogState* s = new LogState;
  return *s;
}

std::int64_t mono_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void deliver(const LogRecord& r) noexcept {
  std::shared_ptr<const LogHandler> h;
  {
    std::lock_guard lock(state().mu);
    h = state().handler;
  }
  if (!h) {
    // One fwrite per line: lines from different threads do not interleave.
    std::string line(r.message);
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
    return;
  }
  try {
    (*h)(r);
  } catch (...) {  // documented: a throwing handler loses its record, nothing else
  }
}

}  // namespace

const char* to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warning:
      return "warning";
    case LogLevel::Error:
      return "error";
  }
  return "?";
}

LogHandler set_log_handler(LogHandler handler) {
  auto next = handler ? std::make_shared<const LogHandler>(std::move(handler)) : nullptr;
  std::shared_ptr<const LogHandler> prev;
  {
    std::lock_guard lock(state().mu);
    prev = std::exchange(state().handler, std::move(next));
  }
  return prev ? *prev : LogHandler{};
}

void set_log_level(LogLevel level) noexcept { state().level.store(static_cast<int>(level)); }
LogLevel log_level() noexcept { return static_cast<LogLevel>(state().level.load()); }
bool log_enabled(LogLevel level) noexcept { return static_cast<int>(level) >= state().level.load(); }

void set_log_rate_limit(LogRateLimit limit) noexcept {
  state().lines.store(limit.lines);
  state().interval_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(limit.interval).count());
}

LogRateLimit log_rate_limit() noexcept {
  return {state().lines.load(),
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds(state().interval_ns.load()))};
}

std::uint64_t log_suppressed_count() noexcept { return state().suppressed_total.load(); }

namespace detail {

bool log_admit(LogLevel level, std::string_view kind) noexcept {
  if (!log_enabled(level)) return false;
  LogState& s = state();
  unsigned lines = s.lines.load();
  if (lines == 0) return true;
  std::uint64_t summary = 0;
  try {
    std::lock_guard lock(s.mu);
    auto it = s.kinds.find(kind);
    if (it == s.kinds.end()) it = s.kinds.emplace(std::string(kind), KindState{}).first;
    KindState& k = it->second;
    std::int64_t now = mono_ns();
    if (k.admitted == 0 || now - k.window_start_ns >= s.interval_ns.load()) {
      k.window_start_ns = now;
      k.admitted = 0;
    }
    if (k.admitted >= lines) {
      ++k.suppressed;
      s.suppressed_total.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    ++k.admitted;
    summary = std::exchange(k.suppressed, 0);
  } catch (...) {  // bad_alloc for a new kind: log without limiting rather than lose it
    return true;
  }
  if (summary > 0) {
    try {
      std::string msg = "curio: " + std::to_string(summary) + " '" + std::string(kind) +
                        "' message(s) suppressed by the log rate limit";
      deliver({LogLevel::Warning, "log-suppressed", msg});
    } catch (...) {
    }
  }
  return true;
}

void log_emit(LogLevel level, std::string_view kind, std::string_view message) noexcept {
  deliver({level, kind, message});
}

void log_timeout_badness(std::int64_t late_ns) noexcept {
  log_message(LogLevel::Warning, "timeout-badness", [&] {
    char delta[32];
    std::snprintf(delta, sizeof delta, "%.6f", static_cast<double>(late_ns) / 1e9);
    return std::string(
               "curio: operation completed successfully, but it took longer than an enclosing timeout. "
               "Badness delta=") +
           delta + " s";
  });
}

}  // namespace detail
}  // namespace curio
