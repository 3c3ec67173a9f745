#!/usr/bin/env bash
# 4 KiB random reads of a 1 GiB file, 32 tasks at once, page cache warm and cold, AsyncFile on
# the thread-pool path (CURIO_BACKEND=epoll) and the io_uring path, interleaved in one run.
# Usage: bench/files/run.sh [build-dir (default build/bench)] [files_bench options...]
#   e.g. bench/files/run.sh build/bench --dir /var/tmp --seconds 5 --rounds 3
# The 1 GiB file lives in --dir (default /tmp) and is removed afterwards.
set -euo pipefail
build=${1:-build/bench}
shift || true
exec "$build/bench/files/files_bench" "$@"
