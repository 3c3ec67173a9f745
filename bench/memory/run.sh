#!/usr/bin/env bash
# Server memory per idle connection at 1,000 and 15,000 connections: examples/echo_server as
# written, beside Boost.Asio coroutines, a hand-written epoll loop (the floor), Go (goroutine per
# connection, GOMAXPROCS=1), node.js, tokio (current_thread, task per connection) and libuv; then
# the per-connection breakdown of curio's allocations (bench/memory/echo_breakdown).
#   bench/memory/run.sh [--counts 1000,15000] [--servers curio,asio,epoll,go,node,tokio,libuv]
# tokio is built offline against Debian's packaged crates (librust-tokio-dev, in
# /usr/share/cargo/registry) with Debian's cargo/rustc where installed, in a temporary CARGO_HOME;
# scripts/install-deps.sh --bench installs them and libuv1-dev.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cmake --preset bench >/dev/null
cmake --build build/bench -j2 --target echo_server echo_asio_server echo_epoll_server echo_breakdown >/dev/null
# echo_libuv_server exists only where CMake found libuv (libuv1-dev).
cmake --build build/bench -j2 --target echo_libuv_server >/dev/null ||
  echo "run.sh: no echo_libuv_server (libuv not found); pass --servers without libuv" >&2
work=$(mktemp -d /tmp/curio-mem-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
GOFLAGS=-mod=mod GOCACHE=$work/gocache GOPATH=$work/gopath go build -o "$work/go_echo" bench/memory/go_echo.go
# tokio: a copy of the project (so no Cargo.lock or target/ lands in the repo), Debian's crates
# replacing crates.io, no network.
mkdir -p "$work/cargo_home"
printf '[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "/usr/share/cargo/registry"\n' \
  >"$work/cargo_home/config.toml"
cp -r bench/memory/tokio_echo "$work/tokio_src"
cargo=cargo rustc=rustc
[ -x /usr/bin/cargo ] && cargo=/usr/bin/cargo
[ -x /usr/bin/rustc ] && rustc=/usr/bin/rustc
(cd "$work/tokio_src" && CARGO_HOME=$work/cargo_home CARGO_TARGET_DIR=$work/tokio_target RUSTC=$rustc \
  "$cargo" build --release --offline -j2 --quiet)
cp "$work/tokio_target/release/tokio_echo" "$work/tokio_echo"
ulimit -n "$(ulimit -Hn)"  # 15,000 connections need that many descriptors in the server
python3 bench/memory/measure.py build/bench "$work" "$@"
echo
build/bench/bench/memory/echo_breakdown --connections 1000
