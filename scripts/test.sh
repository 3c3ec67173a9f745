#!/usr/bin/env bash
# Builds and runs the whole test suite: ASan+UBSan (Clang, debug), GCC release (-Werror),
# then the thread-touching tests under TSan (Clang).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc)
cmake --preset debug >/dev/null
cmake --build --preset debug -j "$jobs"
ctest --preset debug -j "$jobs"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"
if [ -z "${CURIO_SKIP_TSAN:-}" ]; then
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan -j "$jobs"
  # Only the layers that touch threads run under TSan.
  ctest --preset tsan -j "$jobs" -R "${CURIO_TSAN_TESTS:-^(Workers|Universal|Thread|Kernel|Remote|Signal|AsyncFile|Subprocess|RunInProcess|ReliabilityThreads|Log)}"
fi
# Reliability (docs/reliability.md): the soak program at CI length on the release build (the
# debug ctest run above already ran a short one under ASan), then every fuzz target for a
# bounded time (CURIO_SKIP_SOAK / CURIO_SKIP_FUZZ skip them; CURIO_FUZZ_SECONDS sets the time).
if [ -z "${CURIO_SKIP_SOAK:-}" ]; then
  build/release/tests/soak/curio_soak --seconds "${CURIO_SOAK_SECONDS:-60}" --connections "${CURIO_SOAK_CONNECTIONS:-2000}"
fi
if [ -z "${CURIO_SKIP_FUZZ:-}" ]; then
  CURIO_FUZZ_SECONDS="${CURIO_FUZZ_SECONDS:-30}" ./scripts/fuzz.sh
fi
echo "curio-cpp: all tests passed"
