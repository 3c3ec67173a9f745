// curio/core/activation.hpp: activations (curio's Activation), hooks a kernel calls when a task is
// created, starts running, suspends and terminates: the basis of tracers, profilers and the
// monitor. Install them with KernelOptions::activations; a kernel without any pays one branch.
#pragma once

#include <cstdint>
#include <string_view>

#include "curio/core/kernel.hpp"
#include "curio/core/spawn.hpp"
#include "curio/core/where.hpp"

namespace curio {

// A task as an activation sees it: valid for the duration of the call (take handle() to keep it).
class TaskView {
 public:
  explicit TaskView(detail::TaskState* s) noexcept : s_(s) {}
  std::uint64_t id() const noexcept { return s_->id; }
  std::uint64_t parent_id() const noexcept { return s_->parent_id; }
  std::string_view name() const noexcept { return s_->name(); }
  // RUNNING in running(); the kind of wait (TIME_SLEEP...) in suspended(); TERMINATED at the end.
  TaskStatus state() const noexcept { return s_->status; }
  bool daemon() const noexcept { return s_->daemon; }
  std::uint64_t cycles() const noexcept { return s_->cycles; }
  Kernel& kernel() const noexcept { return *s_->kernel; }
  // Where it is suspended (in suspended(); frames are empty in the other hooks).
  TaskTrace where() const { return detail::trace_of(s_); }
  AnyTaskHandle handle() const noexcept { return AnyTaskHandle(detail::TaskRef(s_)); }
  detail::TaskState* state_ptr() const noexcept { return s_; }

 private:
  detail::TaskState* s_;
};

// Override what you need. Hooks run on the kernel's thread, inside the scheduling loop: they
// must not block or suspend, and an exception thrown by one is reported and then ignored.
//   activate(kernel)  once, when the activation is installed in a kernel
//   created(task)     spawned (before it first runs)
//   running(task)     about to run one slice (every resume)
//   suspended(task)   its slice ended: it waits (state() says for what), or it just ended
//   terminated(task)  it has ended (after the suspended() of its last slice)
class Activation {
 public:
  virtual ~Activation() = default;
  virtual void activate(Kernel&) {}
  virtual void created(TaskView) {}
  virtual void running(TaskView) {}
  virtual void suspended(TaskView) {}
  virtual void terminated(TaskView) {}
};

}  // namespace curio
