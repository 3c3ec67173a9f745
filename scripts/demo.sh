#!/usr/bin/env bash
# Installs what is missing, builds curio-cpp (release), and runs the main demo: the C10K demo
# (one server thread, 10,000 connections) when it is built, otherwise the seed handle(id) demo.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
if [ -x scripts/c10k-demo.sh ] && [ -x build/release/examples/c10k_server ]; then
  exec ./scripts/c10k-demo.sh build/release
fi
exec ./build/release/examples/seed_handle
