#!/usr/bin/env bash
# Server memory per idle connection at 1,000 and 15,000 connections: examples/echo_server as
# written, beside Boost.Asio coroutines, a hand-written epoll loop (the libuv-style floor), Go
# (goroutine per connection, GOMAXPROCS=1) and node.js; then the per-connection breakdown of
# curio's allocations (bench/memory/echo_breakdown).
#   bench/memory/run.sh [--counts 1000,15000] [--servers curio,asio,epoll,go,node]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cmake --preset bench >/dev/null
cmake --build build/bench -j2 --target echo_server echo_asio_server echo_epoll_server echo_breakdown >/dev/null
work=$(mktemp -d /tmp/curio-mem-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
GOFLAGS=-mod=mod GOCACHE=$work/gocache GOPATH=$work/gopath go build -o "$work/go_echo" bench/memory/go_echo.go
python3 bench/memory/measure.py build/bench "$work" "$@"
echo
build/bench/bench/memory/echo_breakdown --connections 1000
