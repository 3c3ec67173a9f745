#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz preset) and runs each for CURIO_FUZZ_SECONDS (default 60)
# on a scratch copy of its seed corpus. Usage: scripts/fuzz.sh [TARGET...] (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${CURIO_FUZZ_SECONDS:-60}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"
targets=("$@")
if ((${#targets[@]} == 0)); then
  for d in fuzz/*/; do targets+=("$(basename "$d")"); done
fi
for name in "${targets[@]}"; do
  work=$(mktemp -d)
  [ -d "fuzz/$name/corpus" ] && cp -r "fuzz/$name/corpus/." "$work/"
  echo "fuzz_$name: ${seconds}s"
  build/fuzz/fuzz/fuzz_$name -max_total_time="$seconds" -timeout="${CURIO_FUZZ_TIMEOUT:-10}" -print_final_stats=1 "$work" 2>&1 | tail -n 12
  rm -rf "$work"
done
