// curio/sync/held.hpp: Held<P>, the scoped ownership of a lock or semaphore.
// `auto held = co_await lock.scoped();` acquires; the destructor releases, so an exception or a
// cancellation inside the block always gives the lock back (release never blocks, so plain
// RAII works in a coroutine).
#pragma once

#include <type_traits>
#include <utility>

namespace curio {

template <class P>
class [[nodiscard]] Held {
 public:
  explicit Held(P& primitive) noexcept : p_(&primitive) {}
  Held(Held&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Held& operator=(Held&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;
  ~Held() { reset(); }

  // Releases early (idempotent).
  void reset() noexcept {
    if (P* p = std::exchange(p_, nullptr)) p->release();
  }
  bool owns() const noexcept { return p_ != nullptr; }

 private:
  P* p_;
};

namespace detail {
// Wraps a primitive's acquire awaiter so that co_await yields a Held<P>.
template <class P, class A>
struct HoldAwaiter {
  P* primitive;
  A inner;
  bool await_ready() { return inner.await_ready(); }
  template <class H>
  decltype(auto) await_suspend(H h) {
    return inner.await_suspend(h);
  }
  Held<P> await_resume() {
    inner.await_resume();
    return Held<P>(*primitive);
  }
};
}  // namespace detail

}  // namespace curio
