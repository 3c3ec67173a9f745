#!/usr/bin/env bash
# Side-by-side echo benchmark: ours (examples/echo_server as written) on each I/O backend,
# Boost.Asio 1.81 with C++20 coroutines, a hand-written epoll server and a hand-written io_uring
# server; each server pinned to CPU 0, the load generator to CPU 1, all in one run. Loads: 1,
# 100, 1000 connections in ping-pong with 64 B and 1 KiB messages (msgs/s and the server's CPU
# time per message, from /proc/PID/stat); then 10,000 idle connections for the server's memory
# per connection, 0.5 s after each made its one echo and again after 3 s of silence.
# Usage: bench/echo/run.sh [build-dir (default build/bench)] [seconds per load (default 3)]
#        ECHO_SERVERS="ours_epoll ours_uring epoll uring" narrows the set (and sets the order);
#        ECHO_SKIP_IDLE=1 skips the 10,000 idle connections (bench/echo/rounds.py does);
#        ECHO_CONNS="" runs only them.
set -euo pipefail
build=${1:-build/bench}
secs=${2:-3}
loadgen=$build/bench/echo/echo_loadgen
declare -A server_cmd=(
  [ours_epoll]="env CURIO_BACKEND=epoll $build/examples/echo_server --port 25100"
  [ours_uring]="env CURIO_BACKEND=io_uring $build/examples/echo_server --port 25104"
  [asio]="$build/bench/echo/echo_asio_server --port 25102"
  [epoll]="$build/bench/echo/echo_epoll_server --port 25101"
  [uring]="$build/bench/echo/echo_uring_server --port 25103"
)
declare -A server_port=([ours_epoll]=25100 [ours_uring]=25104 [asio]=25102 [epoll]=25101 [uring]=25103)
read -r -a servers <<<"${ECHO_SERVERS:-ours_epoll ours_uring asio epoll uring}"
ulimit -n "$(ulimit -Hn)"
tick=$(getconf CLK_TCK)

start_server() {  # name -> pid
  taskset -c 0 ${server_cmd[$1]} >/dev/null 2>>"${ECHO_SERVER_LOG:-/dev/null}" &
  local pid=$!
  for _ in $(seq 50); do
    if (exec 3<>/dev/tcp/127.0.0.1/"${server_port[$1]}") 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "$pid"
}
# An io_uring server with 10,000 sockets takes a while to exit, and the next one reuses its port.
source "$(dirname "$0")/../stop_server.sh"
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

declare -A rate cpu mem mem_settled
for name in "${servers[@]}"; do
  pid=$(start_server "$name")
  for conns in ${ECHO_CONNS-1 100 1000}; do
    for size in 64 1024; do
      c0=$(cpu_ticks "$pid")
      out=$(taskset -c 1 "$loadgen" --port "${server_port[$name]}" --conns "$conns" --size "$size" --seconds "$secs")
      c1=$(cpu_ticks "$pid")
      key="$name/$conns/$size"
      rate[$key]=$(field msgs_per_sec "$out")
      # Server CPU per message: the CPU ticks of the whole load (connect included) over its messages.
      cpu[$key]=$(awk -v d=$((c1 - c0)) -v t="$tick" -v r="${rate[$key]}" -v s="$secs" 'BEGIN{printf "%.0f", d / t * 1e9 / (r * s)}')
    done
  done
  stop_server "$pid"
  if [ -n "${ECHO_SKIP_IDLE:-}" ]; then continue; fi
  # Idle connections: RSS growth of a fresh server holding 10,000 connections.
  pid=$(start_server "$name")
  before=$(rss_kb "$pid")
  fifo=$(mktemp -u); mkfifo "$fifo"
  taskset -c 1 "$loadgen" --port "${server_port[$name]}" --conns 10000 --size 64 --seconds 4 --idle 1 >"$fifo" &
  lg=$!
  read -r _ <"$fifo"
  sleep 0.5
  after=$(rss_kb "$pid")
  mem[$name]=$(( (after - before) * 1024 / 10000 ))
  # The same connections after 3 s of silence: what a server gives back once a burst is over
  # (curio's io_uring buffer ring shrinks after a quiet second).
  sleep 2.5
  settled=$(rss_kb "$pid")
  mem_settled[$name]=$(( (settled - before) * 1024 / 10000 ))
  wait "$lg" || true
  rm -f "$fifo"
  stop_server "$pid"
done

printf '\nmsgs/s (server CPU ns per message)\n%-5s %-5s' conns size
for name in "${servers[@]}"; do printf ' | %-18s' "$name"; done
printf '\n'
for conns in ${ECHO_CONNS-1 100 1000}; do
  for size in 64 1024; do
    printf '%-5s %-5s' "$conns" "$size"
    for name in "${servers[@]}"; do
      k="$name/$conns/$size"
      printf ' | %8s (%6s)  ' "${rate[$k]:-}" "${cpu[$k]:-}"
    done
    printf '\n'
  done
done
ratio() { awk -v a="${rate[$1]:-0}" -v b="${rate[$2]:-0}" 'BEGIN{ if (b > 0) printf "%.2fx", a/b; else printf "-" }'; }
printf '\nmsgs/s ratios: ours_uring/uring, ours_uring/ours_epoll, ours_epoll/epoll\n'
for conns in ${ECHO_CONNS-1 100 1000}; do
  for size in 64 1024; do
    printf '%-5s %-5s  %s  %s  %s\n' "$conns" "$size" "$(ratio "ours_uring/$conns/$size" "uring/$conns/$size")" \
      "$(ratio "ours_uring/$conns/$size" "ours_epoll/$conns/$size")" "$(ratio "ours_epoll/$conns/$size" "epoll/$conns/$size")"
  done
done
[ -n "${ECHO_SKIP_IDLE:-}" ] && exit 0
printf '\nserver memory per idle connection (10,000 connections):'
for name in "${servers[@]}"; do printf ' %s %s B,' "$name" "${mem[$name]}"; done
printf '\nthe same after 3 s of silence:'
for name in "${servers[@]}"; do printf ' %s %s B,' "$name" "${mem_settled[$name]}"; done
printf '\n'
