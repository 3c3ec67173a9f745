// curio/core/log.hpp: the one logging hook of curio-cpp. Every diagnostic the library emits
// (crash reports of unjoined tasks, never-joined tasks, task groups destroyed while running,
// server notices, curio's "timeout badness") goes through log_message(): filtered by level,
// rate-limited per kind, then handed to a replaceable handler (default: one line on stderr).
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace curio {

enum class LogLevel { Debug = 0, Info = 1, Warning = 2, Error = 3 };
const char* to_string(LogLevel level) noexcept;

// What a handler receives. kind is a stable short name ("task-crash", "never-joined",
// "taskgroup-destroyed", "server-connection-error", "server-fd-exhausted", "server-accepting",
// "timeout-badness", "kernel-shutdown", "log-suppressed"); message is one line without '\n'.
struct LogRecord {
  LogLevel level;
  std::string_view kind;
  std::string_view message;
};

using LogHandler = std::function<void(const LogRecord&)>;

// Replaces the handler and returns the previous one; an empty handler restores the default
// (writes "message\n" to stderr). Thread-safe; the handler may be called from any kernel's
// thread (never under a curio lock, so it may log itself) and must not throw (what it throws
// is dropped).
LogHandler set_log_handler(LogHandler handler);

// Records below the level are dropped before their message is even formatted. Default Info;
// the environment variable CURIO_LOG_LEVEL (debug, info, warning, error) sets the initial value.
void set_log_level(LogLevel level) noexcept;
LogLevel log_level() noexcept;
bool log_enabled(LogLevel level) noexcept;

// At most `lines` records of one kind per `interval` reach the handler (0 = no limit); the rest
// are counted, and the next admitted record of that kind is preceded by one "log-suppressed"
// Warning naming how many were dropped. Default: 10 lines per kind per second.
struct LogRateLimit {
  unsigned lines = 10;
  std::chrono::milliseconds interval{1000};
};
void set_log_rate_limit(LogRateLimit limit) noexcept;
LogRateLimit log_rate_limit() noexcept;

// Records dropped by the rate limit since the program started (all kinds).
std::uint64_t log_suppressed_count() noexcept;

namespace detail {
// True when a record of kind at level passes the level filter and the rate limit (counted
// otherwise). May first hand the handler the "log-suppressed" summary of that kind.
bool log_admit(LogLevel level, std::string_view kind) noexcept;
// Hands an admitted record to the handler.
void log_emit(LogLevel level, std::string_view kind, std::string_view message) noexcept;
// curio's "timeout badness" Warning: a timeout block completed late_ns after its deadline.
void log_timeout_badness(std::int64_t late_ns) noexcept;
}  // namespace detail

// Logs one record. The second form builds the message only when the record is admitted, so a
// flood of filtered or rate-limited records costs no formatting.
inline void log_message(LogLevel level, std::string_view kind, std::string_view message) noexcept {
  if (detail::log_admit(level, kind)) detail::log_emit(level, kind, message);
}
template <class F>
requires std::invocable<F&> && std::convertible_to<std::invoke_result_t<F&>, std::string_view>
void log_message(LogLevel level, std::string_view kind, F&& make_message) noexcept {
  if (!detail::log_admit(level, kind)) return;
  try {
    auto message = make_message();
    detail::log_emit(level, kind, message);
  } catch (...) {  // formatting failed (bad_alloc): a log line is not worth a crash
  }
}

}  // namespace curio
