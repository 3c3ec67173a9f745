// curio/monitor/monitor.hpp: the Monitor (curio's monitor), a console to a live program. Turn it on
// with run(main, {.monitor = true}), KernelOptions::monitor or CURIO_MONITOR=1; connect with
// `curio-monitor [HOST:PORT]` or `nc 127.0.0.1 48802`. Commands: ps, where ID, cancel ID,
// signal NAME, parents ID, stats, help, exit. One console per process lists every monitored
// kernel's tasks; it runs on its own thread, so it answers while a task blocks its kernel.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace curio {

inline constexpr std::uint16_t kMonitorPort = 48802;

struct MonitorAddress {
  std::string host;
  std::uint16_t port = 0;  // the bound port (the real one when 0 was asked for)
};

// Where the process's console listens, or nullopt if no monitored kernel exists.
std::optional<MonitorAddress> monitor_address();

// Runs one console command line ("ps", "where 7"...) as a client would and returns its answer.
// Any thread; RuntimeError if no console is open.
std::string monitor_command(std::string_view line);

}  // namespace curio
