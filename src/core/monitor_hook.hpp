// src/core/monitor_hook.hpp: how the kernel turns the monitor on (private). The monitor is the top
// layer (src/monitor/); the kernel only knows these two functions, so that run(main, {.monitor =
// true}) and CURIO_MONITOR work in every program without a back door into the kernel: the
// monitor is an ordinary Activation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace curio {
class Kernel;
class Activation;
namespace detail {
// CURIO_MONITOR is set ("1", "PORT" or "HOST:PORT"): true, and host/port updated from it.
// A malformed value raises RuntimeError naming it.
bool monitor_requested_by_env(std::string& host, std::uint16_t& port);
// The activation that lists this kernel's tasks in the process's console (started on first use).
std::shared_ptr<Activation> make_monitor_probe(Kernel& kernel, const std::string& host, std::uint16_t port);
}  // namespace detail
}  // namespace curio
