// curio/core/detail/result_ops.hpp: the type-erased facts about a task's result type T that
// the kernel and task groups need (type identity for checked reads, and curio's "None").
#pragma once

#include <type_traits>
#include <typeinfo>

#include "curio/core/detail/task_state.hpp"
#include "curio/core/task.hpp"

namespace curio::detail {

template <class T>
bool result_is_none(PromiseBase* p) noexcept {
  if constexpr (std::is_void_v<T>) {
    return true;
  } else {
    auto& v = static_cast<Promise<T>*>(p)->value;
    if (!v) return true;
    if constexpr (std::is_pointer_v<T> || std::is_null_pointer_v<T>) {
      return *v == nullptr;
    } else if constexpr (requires(const T& x) { x.has_value(); }) {
      return !v->has_value();
    } else {
      return false;
    }
  }
}

template <class T>
inline constexpr ResultOps result_ops_for{&typeid(T), &result_is_none<T>};

}  // namespace curio::detail
