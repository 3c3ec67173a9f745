#!/usr/bin/env bash
# Installs what curio-cpp needs on Debian 12 (only packages that are missing).
#   scripts/install-deps.sh [--bench]    --bench adds the benchmarks' real peers (bench/)
set -euo pipefail
pkgs=(g++ clang cmake ninja-build libgtest-dev libgmock-dev libbenchmark-dev libboost1.81-dev libclang-rt-14-dev libsqlite3-dev
      liburing-dev libssl-dev openssl netcat-openbsd)
# wrk drives bench/http; nginx, node.js and Go are the servers it compares against; bench/memory
# adds tokio (built offline from Debian's packaged crates: librust-tokio-dev provides the rt, net,
# io-util and macros features) and libuv.
[ "${1:-}" = --bench ] && pkgs+=(wrk nginx-light nodejs golang-go util-linux procps
                                cargo rustc librust-tokio-dev libuv1-dev pkg-config)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
