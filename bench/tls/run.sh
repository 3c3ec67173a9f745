#!/usr/bin/env bash
# Side-by-side TLS benchmark: ours (SslStream + tcp_server) and Boost.Asio 1.81 ssl::stream with
# C++20 coroutines, same OpenSSL, same certificate (P-256, scripts/make-test-cert.sh), TLS 1.3
# with TLS_AES_128_GCM_SHA256; each server pinned to CPU 0, the load generator to CPU 1.
# Loads: ping-pong echo with 1, 100, 1000 connections and 64 B / 16 KiB messages; handshakes per
# second (new connection, full handshake, one 64 B echo, close; 10 at a time); then the server's
# memory per idle TLS connection (2,000 connections made 10 at a time, handshake done, nothing
# pending).
# Usage: bench/tls/run.sh [build-dir (default build/bench)] [seconds per load (default 2)]
set -euo pipefail
build=${1:-build/bench}
secs=${2:-2}
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/bench/tls
certs=$(mktemp -d)
trap 'rm -rf "$certs"' EXIT
"$here/../../scripts/make-test-cert.sh" "$certs" >/dev/null
tls="--cert $certs/cert.pem --key $certs/key.pem"
declare -A server_cmd=([ours]="$bin/tls_echo_curio_server --port 25611 $tls" [asio]="$bin/tls_echo_asio_server --port 25612 $tls")
declare -A server_port=([ours]=25611 [asio]=25612)
servers=(ours asio)
ulimit -n "$(ulimit -Hn)"

start_server() {  # name -> pid
  taskset -c 0 ${server_cmd[$1]} >/dev/null 2>&1 &
  local pid=$! hex
  hex=$(printf '%04X' "${server_port[$1]}")
  for _ in $(seq 50); do grep -q ":$hex 00000000:0000 0A" /proc/net/tcp && break; sleep 0.1; done
  echo "$pid"
}
source "$(dirname "$0")/../stop_server.sh"
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
loadgen() { taskset -c 1 timeout 120 "$bin/tls_loadgen" "$@"; }

declare -A rate p50 p99 hs mem
for name in "${servers[@]}"; do
  pid=$(start_server "$name")
  for conns in 1 100 1000; do
    for size in 64 16384; do
      out=$(loadgen --port "${server_port[$name]}" --conns "$conns" --size "$size" --seconds "$secs")
      key="$name/$conns/$size"
      rate[$key]=$(field msgs_per_sec "$out")
      p50[$key]=$(field p50_us "$out")
      p99[$key]=$(field p99_us "$out")
    done
  done
  out=$(loadgen --port "${server_port[$name]}" --conns 10 --handshakes 1 --seconds "$secs")
  hs[$name]=$(field handshakes_per_sec "$out")
  stop_server "$pid"
  # Idle connections: RSS growth of a fresh server holding 2,000 TLS connections.
  pid=$(start_server "$name")
  before=$(rss_kb "$pid")
  fifo=$(mktemp -u); mkfifo "$fifo"
  loadgen --port "${server_port[$name]}" --conns 2000 --size 64 --seconds 4 --idle 1 >"$fifo" &
  lg=$!
  read -r _ <"$fifo"
  sleep 0.5
  after=$(rss_kb "$pid")
  mem[$name]=$(( (after - before) * 1024 / 2000 ))
  wait "$lg" || true
  rm -f "$fifo"
  stop_server "$pid"
done

printf '\n%-6s %-6s | %-24s | %-24s | %-9s\n' conns size "ours msg/s p50/p99 us" "asio msg/s p50/p99 us" "ours/asio"
for conns in 1 100 1000; do
  for size in 64 16384; do
    row=()
    for name in "${servers[@]}"; do
      k="$name/$conns/$size"
      row+=("$(printf '%8s %5s/%-6s' "${rate[$k]}" "${p50[$k]}" "${p99[$k]}")")
    done
    r=$(awk -v a="${rate[ours/$conns/$size]}" -v b="${rate[asio/$conns/$size]}" 'BEGIN{printf "%.2fx", a/b}')
    printf '%-6s %-6s | %-24s | %-24s | %-9s\n' "$conns" "$size" "${row[0]}" "${row[1]}" "$r"
  done
done
r=$(awk -v a="${hs[ours]}" -v b="${hs[asio]}" 'BEGIN{printf "%.2fx", a/b}')
printf '\nhandshakes/s (10 at a time, each with one echo): ours %s, asio %s, ours/asio %s\n' "${hs[ours]}" "${hs[asio]}" "$r"
printf 'server memory per idle TLS connection (2,000 connections): ours %s B, asio %s B\n' "${mem[ours]}" "${mem[asio]}"
