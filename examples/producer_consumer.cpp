// Producers and consumers on a bounded Queue, with a Lock-protected tally and a join() that waits
// until every item was processed; then close() lets the consumers end cleanly.
#include <cstdio>
#include <string>

#include "curio/curio.hpp"

using namespace std::chrono_literals;
using curio::Task;

struct Tally {
  curio::Lock lock;
  int total = 0;
};

Task<> producer(curio::Queue<int>& q, int first) {
  for (int i = first; i < first + 5; ++i) {
    co_await q.put(i);  // waits while the queue is full (maxsize 3)
    std::printf("put %d (queued %zu)\n", i, q.qsize());
  }
}

Task<> consumer(std::string name, curio::Queue<int>& q, Tally& tally) {
  try {
    for (;;) {
      int item = co_await q.get();
      co_await curio::sleep(10ms);  // "work"
      {
        auto held = co_await tally.lock.scoped();  // released at the end of the block, always
        tally.total += item;
      }
      std::printf("  %s got %d\n", name.c_str(), item);
      q.task_done();
    }
  } catch (const curio::QueueClosed&) {
    std::printf("  %s: queue closed, done\n", name.c_str());
  }
}

Task<> main_task() {
  curio::Queue<int> q(3);
  Tally tally;
  curio::TaskGroup g;
  co_await g.scope([&]() -> Task<> {
    g.spawn(consumer("consumer A", q, tally));
    g.spawn(consumer("consumer B", q, tally));
    co_await producer(q, 0);
    co_await producer(q, 100);
    co_await q.join();  // every item put has been task_done()'d
    std::printf("all items processed, total %d\n", tally.total);
    q.close();
  });
}

int main() { curio::run(main_task()); }
