#!/usr/bin/env bash
# Installs the build tree given as $1 into a scratch prefix, then configures, builds and runs
# cmake/install-test against it: find_package(curio) must work from an installed copy.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build" --prefix "$scratch/prefix" >/dev/null
cmake -S "$here" -B "$scratch/build" -G Ninja -DCMAKE_PREFIX_PATH="$scratch/prefix" \
  -DCMAKE_CXX_COMPILER="${CXX:-g++}" >/dev/null
cmake --build "$scratch/build" >/dev/null
"$scratch/build/consumer"
echo "installed curio-cpp works with find_package"
