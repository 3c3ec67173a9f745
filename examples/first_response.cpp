// Ask three replicas, keep the first answer, cancel the others; give up after a deadline.
// Shows TaskGroup(GroupWait::Any), timeout_after, and cancellation of the losers.
#include <chrono>
#include <cstdio>
#include <string>

#include "curio/curio.hpp"

using namespace std::chrono_literals;
using curio::Task;

Task<std::string> query(std::string replica, std::chrono::milliseconds latency) {
  try {
    co_await curio::sleep(latency);
  } catch (const curio::TaskCancelled&) {
    std::printf("  %s: cancelled\n", replica.c_str());
    throw;
  }
  co_return replica + " says 42";
}

Task<std::string> fastest(std::chrono::milliseconds deadline) {
  curio::TaskGroup g(curio::GroupWait::Any);
  co_await curio::timeout_after(deadline, g.scope([&]() -> Task<> {
    g.spawn(query("replica-a", 120ms));
    g.spawn(query("replica-b", 40ms));
    g.spawn(query("replica-c", 300ms));
    co_return;
  }));
  co_return g.result<std::string>();
}

Task<int> amain() {
  std::printf("deadline 100 ms:\n  answer: %s\n", (co_await fastest(100ms)).c_str());
  std::printf("deadline 10 ms:\n");
  try {
    co_await fastest(10ms);
  } catch (const curio::TaskTimeout&) {
    std::printf("  timed out; every replica was cancelled before the timeout left the group\n");
    co_return 0;
  }
  co_return 1;
}

int main() { return curio::run(amain()); }
