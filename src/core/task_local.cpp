// src/core/task_local.cpp: task-local contexts. A context is immutable and shared by a task and
// the tasks it spawned until one of them sets a value (copy on write), so spawning costs one
// shared_ptr copy for a task that has values and nothing for one that has none.
#include "curio/core/task_local.hpp"

#include <algorithm>
#include <atomic>

#include "curio/core/traps.hpp"
#include "task_extras.hpp"

namespace curio::detail {

std::shared_ptr<const LocalContext>& thread_locals() noexcept {
  static thread_local std::shared_ptr<const LocalContext> locals;
  return locals;
}

namespace {
// The current task's context slot, or the thread's outside a task. make: allocate the task's
// extras if needed (for a write).
std::shared_ptr<const LocalContext>* current_slot(bool make) {
  if (TaskState* t = Traps::current_or_null()) {
    if (!t->extras && !make) return nullptr;
    return &t->extras_or_make().locals;
  }
  return &thread_locals();
}
}  // namespace

void inherit_locals(TaskState* parent, TaskState* child) {
  const std::shared_ptr<const LocalContext>* from;
  if (parent) {
    if (!parent->extras) return;
    from = &extras_of(parent)->locals;
  } else {
    from = &thread_locals();
  }
  if (*from) child->extras_or_make().locals = *from;
}

const void* local_find(std::uint64_t key) noexcept {
  auto* slot = current_slot(false);
  if (!slot || !*slot) return nullptr;
  for (auto& [k, v] : (*slot)->values)
    if (k == key) return v.get();
  return nullptr;
}

std::shared_ptr<const void> local_find_shared(std::uint64_t key) {
  auto* slot = current_slot(false);
  if (!slot || !*slot) return nullptr;
  for (auto& [k, v] : (*slot)->values)
    if (k == key) return v;
  return nullptr;
}

void local_set(std::uint64_t key, std::shared_ptr<const void> value) {
  auto& slot = *current_slot(true);
  auto next = std::make_shared<LocalContext>();
  if (slot) next->values = slot->values;
  auto it = std::find_if(next->values.begin(), next->values.end(), [&](auto& e) { return e.first == key; });
  if (it != next->values.end())
    it->second = std::move(value);
  else
    next->values.emplace_back(key, std::move(value));
  slot = std::move(next);
}

void local_erase(std::uint64_t key) {
  auto* slot = current_slot(false);
  if (!slot || !*slot) return;
  auto next = std::make_shared<LocalContext>(**slot);
  std::erase_if(next->values, [&](auto& e) { return e.first == key; });
  if (next->values.empty())
    slot->reset();
  else
    *slot = std::move(next);
}

std::shared_ptr<const void> capture_locals() {
  auto* slot = current_slot(false);
  return slot ? std::shared_ptr<const void>(*slot) : nullptr;
}

void adopt_thread_locals(std::shared_ptr<const void> locals) {
  thread_locals() = std::static_pointer_cast<const LocalContext>(std::move(locals));
}

std::uint64_t new_local_key() noexcept {
  static std::atomic<std::uint64_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace curio::detail
