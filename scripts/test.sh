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
  ctest --preset tsan -j "$jobs" -R "${CURIO_TSAN_TESTS:-^(Workers|Universal|Thread|Kernel|Remote|Signal|AsyncFile|Subprocess|RunInProcess|Parallel)}"
fi
echo "curio-cpp: all tests passed"
