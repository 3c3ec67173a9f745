#!/usr/bin/env bash
# The C10K demo: one curio server thread (examples/c10k_server) and a separate client process
# (examples/c10k_client) holding 10,000 connections that exchange messages for a few seconds.
#   scripts/c10k-demo.sh [BUILD_DIR] [--connections N] [--seconds S]   (CURIO_DEMO_KERNELS=N: N server kernels)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}; shift || true
port=${CURIO_DEMO_PORT:-25000}
"$build/examples/c10k_server" --port "$port" --kernels "${CURIO_DEMO_KERNELS:-1}" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do  # wait until it listens
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
"$build/examples/c10k_client" --port "$port" --server-pid "$server" "$@"
