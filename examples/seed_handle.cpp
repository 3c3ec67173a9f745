// The seed program: handle(id) fetches a subject and a buy-info concurrently, then processes,
// notifies and flushes in sequence. The latencies are simulated with sleeps; the total time is
// about the slowest concurrent branch plus the sequential steps, not the sum of all.
#include <chrono>
#include <cstdio>
#include <string>

#include "curio/curio.hpp"

using namespace std::chrono_literals;
using curio::Task;

struct Subject {
  int id;
  std::string name;
};
struct BuyInfo {
  int id;
  double price;
};
struct Change {
  std::string what;
};

static const auto t0 = curio::clock();
static double elapsed() { return std::chrono::duration<double>(curio::clock() - t0).count(); }
static void log(const char* what) { std::printf("[%6.3fs] %s\n", elapsed(), what); }

Task<Subject> get_subject_from_db(int id) {
  log("get_subject_from_db: start (300 ms)");
  co_await curio::sleep(300ms);
  log("get_subject_from_db: done");
  co_return Subject{id, "subject-" + std::to_string(id)};
}

Task<BuyInfo> get_buyinfo(int id) {
  log("get_buyinfo: start (200 ms)");
  co_await curio::sleep(200ms);
  log("get_buyinfo: done");
  co_return BuyInfo{id, 9.99 * id};
}

Task<Change> process(const Subject& s, const BuyInfo& b) {
  co_await curio::sleep(50ms);
  co_return Change{s.name + " costs " + std::to_string(b.price)};
}

Task<> notify_change(const Change& c) {
  co_await curio::sleep(20ms);
  std::printf("[%6.3fs] notify_change: %s\n", elapsed(), c.what.c_str());
}

Task<> flush_cache(int id) {
  co_await curio::sleep(10ms);
  std::printf("[%6.3fs] flush_cache(%d)\n", elapsed(), id);
}

Task<> handle(int id) {
  // Both lookups run concurrently as tasks of one group (curio::all); an error in one cancels
  // the other. notify_change runs under a 2 s timeout, given as (fn, args...).
  auto [subject, buyinfo] = co_await curio::all(get_subject_from_db(id), get_buyinfo(id));
  auto change = co_await process(subject, buyinfo);
  co_await curio::timeout_after(2s, notify_change, change);
  co_await flush_cache(id);
}

int main() {
  curio::run(handle(7));
  double total = elapsed();
  std::printf("total %.3f s (concurrent lookups: max(300, 200) + 50 + 20 + 10 = 380 ms; sequential would be 580 ms)\n",
              total);
  return total < 0.55 ? 0 : 1;
}
