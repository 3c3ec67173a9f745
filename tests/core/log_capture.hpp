// A test helper: installs a log handler that records every record it receives, and restores the
// previous handler, level and rate limit when it goes out of scope.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "curio/core/log.hpp"

namespace curio_test {

struct CapturedRecord {
  curio::LogLevel level;
  std::string kind;
  std::string message;
};

class LogCapture {
 public:
  explicit LogCapture(curio::LogLevel level = curio::LogLevel::Info)
      : prev_level_(curio::log_level()), prev_limit_(curio::log_rate_limit()) {
    curio::set_log_level(level);
    prev_ = curio::set_log_handler([this](const curio::LogRecord& r) {
      std::lock_guard lock(mu_);
      records_.push_back({r.level, std::string(r.kind), std::string(r.message)});
    });
  }
  ~LogCapture() {
    curio::set_log_handler(std::move(prev_));
    curio::set_log_level(prev_level_);
    curio::set_log_rate_limit(prev_limit_);
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::vector<CapturedRecord> records() const {
    std::lock_guard lock(mu_);
    return records_;
  }
  std::size_t count(const std::string& kind) const {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& r : records_) n += r.kind == kind;
    return n;
  }
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return records_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<CapturedRecord> records_;
  curio::LogHandler prev_;
  curio::LogLevel prev_level_;
  curio::LogRateLimit prev_limit_;
};

}  // namespace curio_test
