#!/usr/bin/env bash
# HTTP/1.1 keep-alive benchmark: wrk on CPU 0 against each server alone on CPU 1: curio-cpp's
# examples/http_server (one kernel), nginx 1.22 (worker_processes 1, access_log off, return 200),
# Boost.Beast 1.81 (one thread), node.js http (one process), Go net/http (GOMAXPROCS=1). Every
# server answers GET / with the same 14-byte body. Runs are interleaved (round, connections,
# server) so the machine's load hits everyone alike; the table shows each figure's median over
# the rounds. Server CPU per request comes from /proc/PID/stat (utime+stime) before and after.
#   bench/http/run.sh [--seconds S] [--rounds R] [--connections "1 100 1000"] [--servers "curio nginx beast node go"]
#                     [--parallel N]
# --parallel N (N > 1): ours with N kernels beside nginx with N workers (default servers "curio
# nginx"); nothing is pinned then, since on a 2-core machine the N workers and wrk share the cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=5 rounds=3 connections="1 100 1000" servers="" parallel=1
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --parallel) parallel=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds S] [--rounds R] [--connections LIST] [--servers LIST] [--parallel N]" >&2; exit 2 ;;
  esac
done
if ((parallel > 1)); then
  servers=${servers:-curio nginx} server_cpu="" wrk_cpu=""
else
  servers=${servers:-curio nginx beast node go} server_cpu="taskset -c 1" wrk_cpu="taskset -c 0"
fi
cd "$root"
./scripts/install-deps.sh --bench
for tool in wrk taskset nginx node go; do command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 1; }; done
cmake --preset bench >/dev/null
cmake --build build/bench -j2 --target http_server beast_http_server >/dev/null
work=$(mktemp -d /tmp/curio-http-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.2; rm -rf "$work"; }
trap cleanup EXIT
GOFLAGS=-mod=mod GOCACHE=$work/gocache GOPATH=$work/gopath go build -o "$work/go_server" bench/http/go_server.go

declare -A port=([curio]=18080 [nginx]=18081 [beast]=18082 [node]=18083 [go]=18084)
mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes $parallel;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000000;  # the others never close a keep-alive connection on a count
  server {
    listen 127.0.0.1:${port[nginx]} backlog=4096;
    location / { default_type text/plain; return 200 "Hello, World!\n"; }
  }
}
CONF

start() {  # start NAME: the server (on CPU 1 unless --parallel); sets spid to its process
  local name=$1
  case $name in
    curio) $server_cpu build/bench/examples/http_server --port ${port[curio]} --kernels "$parallel" >/dev/null & ;;
    nginx) $server_cpu nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" & ;;
    beast) $server_cpu build/bench/bench/http/beast_http_server --port ${port[beast]} >/dev/null & ;;
    node) $server_cpu node bench/http/node_server.js ${port[node]} >/dev/null & ;;
    go) GOMAXPROCS=1 $server_cpu "$work/go_server" ${port[go]} >/dev/null & ;;
  esac
  spid=$!
  pids+=("$spid")
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/${port[$name]}") 2>/dev/null && break; sleep 0.05; done
  if [ "$name" = nginx ]; then  # the workers serve; the master only waits
    for _ in $(seq 50); do [ "$(pgrep -P "$spid" | wc -l)" -ge "$parallel" ] && break; sleep 0.05; done
  fi
}
# utime + stime of the serving process (all its threads); for nginx, of the master's workers.
cpu_ticks() {
  local p
  for p in $(pgrep -P "$1") "$1"; do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{t += $1} END {print t}'
}
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) print v/1000; else if (v ~ /ms$/) print v+0; else if (v ~ /s$/) print v*1000; else print v }'; }

hz=$(getconf CLK_TCK)
echo "load before: $(uptime)"
results=$work/results
: >"$results"
declare -A master
for name in $servers; do start "$name"; master[$name]=$spid; done
# wrk's own warm-up: one short run per server (JIT, caches, lazy allocations).
for name in $servers; do $wrk_cpu wrk -t1 -c10 -d1s "http://127.0.0.1:${port[$name]}/" >/dev/null; done
for round in $(seq "$rounds"); do
  for c in $connections; do
    for name in $servers; do
      pid=${master[$name]}
      before=$(cpu_ticks "$pid")
      out=$($wrk_cpu wrk -t1 -c"$c" -d"${seconds}s" --latency "http://127.0.0.1:${port[$name]}/")
      after=$(cpu_ticks "$pid")
      rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
      total=$(awk '/requests in/ {print $1}' <<<"$out")
      errs=$(awk '/Non-2xx|Socket errors/ {printf "%s ", $0}' <<<"$out")
      p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
      p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
      cpu_us=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$total" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
      echo "$name $c $round $rps $p50 $p99 $cpu_us" >>"$results"
      printf 'round %s  %-5s c=%-4s %10s req/s  p50 %6s ms  p99 %6s ms  cpu %s us/req %s\n' \
        "$round" "$name" "$c" "$rps" "$p50" "$p99" "$cpu_us" "$errs"
    done
  done
done
echo "load after: $(uptime)"
echo
if ((parallel > 1)); then
  echo "Medians over $rounds rounds of ${seconds}s ($parallel kernels / nginx workers, wrk -t1, nothing pinned):"
else
  echo "Medians over $rounds rounds of ${seconds}s (wrk -t1 on CPU 0, server on CPU 1):"
fi
echo
echo "| server | connections | requests/s | vs nginx | p50 ms | p99 ms | server CPU us/request |"
echo "|---|---:|---:|---:|---:|---:|---:|"
median() { sort -g | awk '{a[NR]=$1} END { print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2 }'; }
for c in $connections; do
  nginx_rps=$(awk -v c="$c" '$1 == "nginx" && $2 == c {print $4}' "$results" | median)
  for name in $servers; do
    col() { awk -v n="$name" -v c="$c" -v k="$1" '$1 == n && $2 == c {print $k}' "$results" | median; }
    rps=$(col 4)
    ratio=$(awk -v a="$rps" -v b="${nginx_rps:-0}" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')
    printf '| %s | %s | %.0f | %s | %s | %s | %s |\n' "$name" "$c" "$rps" "$ratio" "$(col 5)" "$(col 6)" "$(col 7)"
  done
done
