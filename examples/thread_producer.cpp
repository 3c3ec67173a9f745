// A plain thread (a sensor, a legacy library's callback thread...) feeds curio tasks through a
// UniversalQueue: the thread blocks in put_sync when the queue is full, the tasks co_await get().
// close() tells the consumers that the stream has ended.
#include <cstdio>
#include <thread>

#include "curio/curio.hpp"

using namespace std::chrono_literals;
using curio::Task;

struct Reading {
  int sensor;
  double value;
};

Task<> consumer(int id, curio::UniversalQueue<Reading>& readings, int& handled) {
  try {
    for (;;) {
      Reading r = co_await readings.get();
      co_await curio::sleep(2ms);  // some async work per reading (e.g. send it on)
      std::printf("consumer %d: sensor %d = %.1f\n", id, r.sensor, r.value);
      ++handled;
    }
  } catch (const curio::QueueClosed&) {
  }
}

int main() {
  curio::UniversalQueue<Reading> readings(4);  // bounded: the thread waits when tasks fall behind
  std::thread sensor_thread([&] {
    for (int i = 0; i < 10; ++i) {
      std::this_thread::sleep_for(1ms);  // blocking hardware read
      readings.put_sync({i % 3, 20.0 + i});
    }
    readings.close();  // no more readings: consumers end once the queue is drained
  });
  int handled = 0;
  curio::run([&]() -> Task<> {
    curio::TaskGroup g;
    co_await g.scope([&]() -> Task<> {
      g.spawn(consumer(1, readings, handled));
      g.spawn(consumer(2, readings, handled));
      co_return;
    });
  }());
  sensor_thread.join();
  std::printf("%d readings handled\n", handled);
}
