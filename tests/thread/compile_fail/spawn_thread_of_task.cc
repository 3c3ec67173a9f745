// Must NOT compile: spawn_thread refuses a Task (tests/CMakeLists.txt checks the message).
#include "curio/curio.hpp"

curio::Task<int> coro() { co_return 1; }

curio::Task<> misuse() {
#if defined(CURIO_PASS_A_TASK)
  co_await curio::spawn_thread(coro()).join();
#else
  co_await curio::spawn_thread(coro).join();
#endif
}
