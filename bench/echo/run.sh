#!/usr/bin/env bash
# Side-by-side echo benchmark: ours (examples/echo_server as written), Boost.Asio 1.81 with C++20
# coroutines, and a hand-written epoll server; each server pinned to CPU 0, the load generator
# to CPU 1, all in one run. Loads: 1, 100, 1000 connections in ping-pong with 64 B and 1 KiB
# messages; then 10,000 idle connections for the server's memory per connection.
# Usage: bench/echo/run.sh [build-dir (default build/bench)] [seconds per load (default 3)]
set -euo pipefail
build=${1:-build/bench}
secs=${2:-3}
loadgen=$build/bench/echo/echo_loadgen
declare -A server_cmd=(
  [ours]="$build/examples/echo_server --port 25100"
  [asio]="$build/bench/echo/echo_asio_server --port 25102"
  [epoll]="$build/bench/echo/echo_epoll_server --port 25101"
)
declare -A server_port=([ours]=25100 [asio]=25102 [epoll]=25101)
servers=(ours asio epoll)
ulimit -n "$(ulimit -Hn)"

start_server() {  # name -> pid
  taskset -c 0 ${server_cmd[$1]} >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do
    if (exec 3<>/dev/tcp/127.0.0.1/"${server_port[$1]}") 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "$pid"
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

declare -A rate p50 p99 mem
for name in "${servers[@]}"; do
  pid=$(start_server "$name")
  for conns in 1 100 1000; do
    for size in 64 1024; do
      out=$(taskset -c 1 "$loadgen" --port "${server_port[$name]}" --conns "$conns" --size "$size" --seconds "$secs")
      key="$name/$conns/$size"
      rate[$key]=$(field msgs_per_sec "$out")
      p50[$key]=$(field p50_us "$out")
      p99[$key]=$(field p99_us "$out")
    done
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
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
  wait "$lg" || true
  rm -f "$fifo"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done

printf '\n%-6s %-6s | %-24s | %-24s | %-24s | %-9s %-9s\n' conns size "ours msg/s p50/p99 us" "asio msg/s p50/p99 us" \
  "epoll msg/s p50/p99 us" "ours/asio" "ours/epoll"
for conns in 1 100 1000; do
  for size in 64 1024; do
    row=()
    for name in "${servers[@]}"; do
      k="$name/$conns/$size"
      row+=("$(printf '%8s %5s/%-6s' "${rate[$k]}" "${p50[$k]}" "${p99[$k]}")")
    done
    r1=$(awk -v a="${rate[ours/$conns/$size]}" -v b="${rate[asio/$conns/$size]}" 'BEGIN{printf "%.2fx", a/b}')
    r2=$(awk -v a="${rate[ours/$conns/$size]}" -v b="${rate[epoll/$conns/$size]}" 'BEGIN{printf "%.2fx", a/b}')
    printf '%-6s %-6s | %-24s | %-24s | %-24s | %-9s %-9s\n' "$conns" "$size" "${row[0]}" "${row[1]}" "${row[2]}" "$r1" "$r2"
  done
done
printf '\nserver memory per idle connection (10,000 connections): ours %s B, asio %s B, epoll %s B\n' \
  "${mem[ours]}" "${mem[asio]}" "${mem[epoll]}"
