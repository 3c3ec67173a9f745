#!/usr/bin/env bash
# The parallel layer's scaling figures, 1 kernel beside 2, interleaved in one run:
#  1. CPU-bound requests (examples/parallel_hash_server: each request hashes a 64 KiB payload 16
#     times; the client sends few, cheap requests): requests/s.
#  2. Echo at 1,000 connections, 64 B ping-pong (examples/c10k_server --kernels N driven by
#     bench/echo/echo_loadgen): msgs/s and server CPU ns per message (utime+stime from /proc).
#  3. spawn_on / call_on round trips beside run_in_thread's (bench/parallel/parallel_roundtrip).
# Nothing is pinned: 2 kernels need both cores of a 2-core machine, and the load generator
# shares them (it is cheap next to the server in 1., not in 2.: see docs/performance.md).
# Usage: bench/parallel/run.sh [build-dir (default build/bench)] [seconds per run (default 3)] [rounds (default 3)]
set -euo pipefail
build=${1:-build/bench}
secs=${2:-3}
rounds=${3:-3}
ulimit -n "$(ulimit -Hn)"
hash=$build/examples/parallel_hash_server
c10k=$build/examples/c10k_server
loadgen=$build/bench/echo/echo_loadgen
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)
echo "load before: $(uptime)"

echo "== CPU-bound requests (64 KiB x 16 passes per request, 8 connections) =="
"$hash" --port 25201 --kernels 1 >/dev/null & h1=$!
"$hash" --port 25202 --kernels 2 >/dev/null & h2=$!
trap 'kill $h1 $h2 2>/dev/null || true' EXIT
wait_port 25201; wait_port 25202
for r in $(seq "$rounds"); do
  o1=$("$hash" --client --port 25201 --connections 8 --seconds "$secs" --kib 64)
  o2=$("$hash" --client --port 25202 --connections 8 --seconds "$secs" --kib 64)
  q1=$(field requests_per_sec "$o1"); q2=$(field requests_per_sec "$o2")
  echo "round $r: 1 kernel $q1 req/s, 2 kernels $q2 req/s, ratio $(awk -v a="$q1" -v b="$q2" 'BEGIN{printf "%.2f", b/a}')"
done
kill $h1 $h2; wait $h1 $h2 2>/dev/null || true
trap - EXIT

echo "== echo, 1,000 connections, 64 B =="
"$c10k" --port 25211 --kernels 1 >/dev/null 2>&1 & e1=$!  # (stderr: a reset at the loadgen's end is reported per connection)
"$c10k" --port 25212 --kernels 2 >/dev/null 2>&1 & e2=$!
trap 'kill $e1 $e2 2>/dev/null || true' EXIT
wait_port 25211; wait_port 25212
for r in $(seq "$rounds"); do
  line="round $r:"
  for k in 1 2; do
    pid=$([ $k = 1 ] && echo $e1 || echo $e2); port=$((25210 + k))
    c0=$(cpu_ticks "$pid")
    out=$("$loadgen" --port "$port" --conns 1000 --size 64 --seconds "$secs")
    c1=$(cpu_ticks "$pid")
    rate=$(field msgs_per_sec "$out")
    nspm=$(awk -v c=$((c1 - c0)) -v t="$tick" -v r="$rate" -v s="$secs" 'BEGIN{printf "%.0f", c / t * 1e9 / (r * s)}')
    line="$line $k kernel(s) $rate msgs/s ${nspm} ns CPU/msg;"
  done
  echo "$line"
done
kill $e1 $e2; wait $e1 $e2 2>/dev/null || true
trap - EXIT

echo "== round trips =="
"$build/bench/parallel/parallel_roundtrip" --calls 20000 --rounds 5
echo "load after: $(uptime)"
