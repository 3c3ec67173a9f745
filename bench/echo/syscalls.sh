#!/usr/bin/env bash
# System calls per echoed message of each echo server: perf counts raw_syscalls:sys_enter of the
# server for 1 s in the middle of a 3 s ping-pong load (100 connections, 64 B; CONNS=N to change)
# and divides by the load generator's msgs/s. Needs perf with tracepoint access (root or
# perf_event_paranoid <= -1). Usage: bench/echo/syscalls.sh [build-dir (default build/bench)]
B=${1:-build/bench}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
sc() {
  local name=$1 port=$2; shift 2
  taskset -c 0 "$@" --port $port >/dev/null 2>&1 &
  local p=$!
  sleep 0.4
  taskset -c 1 $B/bench/echo/echo_loadgen --port $port --conns ${CONNS:-100} --size 64 --seconds 3 > "$out" &
  local lg=$!
  sleep 1
  local c0; c0=$(awk '{print $14+$15}' /proc/$p/stat)
  local s; s=$(perf stat -x, -e 'raw_syscalls:sys_enter' -p $p -- sleep 1 2>&1 | grep raw_sys | cut -d, -f1)
  local c1; c1=$(awk '{print $14+$15}' /proc/$p/stat)
  wait $lg
  local rate; rate=$(sed -n 's/.*msgs_per_sec=\([0-9]*\).*/\1/p' "$out")
  echo "$name conns=${CONNS:-100} syscalls_in_1s=$s msgs/s=$rate syscalls/msg=$(awk -v s=$s -v r=$rate 'BEGIN{printf "%.2f", s/r}') cpu_ticks_in_1s=$((c1-c0))"
  kill $p; wait $p 2>/dev/null
}
sc ours_epoll 25100 env CURIO_BACKEND=epoll $B/examples/echo_server
sc ours_uring 25104 env CURIO_BACKEND=io_uring $B/examples/echo_server
sc epoll 25101 $B/bench/echo/echo_epoll_server
sc uring 25103 $B/bench/echo/echo_uring_server
