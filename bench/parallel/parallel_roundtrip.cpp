// Round trip of a trivial call to another kernel (spawn_on, call_on) beside a trivial
// run_in_thread from one kernel, interleaved in one process: each round runs every variant for
// the same number of calls, one after the other; the median round is printed.
//   parallel_roundtrip [--calls N] [--rounds R]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "curio/curio.hpp"

using curio::Task;

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

Task<int> trivial(int v) { co_return v + 1; }

// ns per call of each variant in this round
struct Round {
  double spawn_on = 0, call_on = 0, run_in_thread = 0;
};

Round one_round(int calls) {
  Round r;
  curio::run_parallel(2, [&](std::size_t k) -> Task<> {
    if (k != 0) co_return;  // kernel 1 only serves
    long sum = 0;
    double t0 = now_s();
    for (int i = 0; i < calls; ++i) sum += co_await curio::spawn_on(1, trivial(i));
    double t1 = now_s();
    for (int i = 0; i < calls; ++i) sum += co_await curio::call_on(1, [i] { return i + 1; });
    double t2 = now_s();
    r.spawn_on = (t1 - t0) * 1e9 / calls;
    r.call_on = (t2 - t1) * 1e9 / calls;
    if (sum == 42) std::printf("!");  // keep the work
  });
  curio::run([&]() -> Task<> {
    long sum = 0;
    double t0 = now_s();
    for (int i = 0; i < calls; ++i) sum += co_await curio::run_in_thread([i] { return i + 1; });
    r.run_in_thread = (now_s() - t0) * 1e9 / calls;
    if (sum == 42) std::printf("!");
  }());
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int calls = 20000, rounds = 5;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--calls") == 0) calls = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
  }
  std::vector<double> s, c, t;
  for (int i = 0; i < rounds; ++i) {
    Round r = one_round(calls);
    s.push_back(r.spawn_on);
    c.push_back(r.call_on);
    t.push_back(r.run_in_thread);
    std::printf("round %d: spawn_on %.0f ns, call_on %.0f ns, run_in_thread %.0f ns\n", i, r.spawn_on, r.call_on,
                r.run_in_thread);
  }
  double ms = median(s), mc = median(c), mt = median(t);
  std::printf("median: spawn_on_ns=%.0f call_on_ns=%.0f run_in_thread_ns=%.0f spawn_on/run_in_thread=%.2f\n", ms, mc,
              mt, ms / mt);
}
