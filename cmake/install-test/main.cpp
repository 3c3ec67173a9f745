#include <curio/curio.hpp>

using namespace std::chrono_literals;

curio::Task<int> answer() {
  co_await curio::sleep(1ms);
  co_return 42;
}

int main() { return curio::run(answer()) == 42 ? 0 : 1; }
