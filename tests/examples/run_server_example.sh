#!/usr/bin/env bash
# Runs a server example and a client against it, checking the client's output; used by ctest.
#   run_server_example.sh BUILD_DIR echo|graceful|parallel_echo|parallel_hash PORT
set -euo pipefail
build=$1 kind=$2 port=$3
wait_listening() {
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0; sleep 0.05; done
  echo "server did not listen on $port" >&2; return 1
}
case $kind in
  echo)
    "$build/examples/echo_server" --port "$port" >/dev/null & server=$!
    trap 'kill $server 2>/dev/null || true' EXIT
    wait_listening
    out=$("$build/examples/echo_client" --port "$port" alpha beta)
    grep -q "got back alpha" <<<"$out" && grep -q "got back beta" <<<"$out"
    ;;
  graceful)
    log=$(mktemp)
    "$build/examples/graceful_shutdown" --port "$port" >"$log" 2>&1 & server=$!
    wait_listening
    "$build/examples/echo_client" --port "$port" hello >/dev/null
    kill -TERM "$server"
    wait "$server"
    grep -q "shutting down" "$log" && grep -q "bye" "$log"
    rm -f "$log"
    ;;
  parallel_echo)
    log=$(mktemp)
    "$build/examples/parallel_echo_server" --port "$port" --kernels 2 >"$log" 2>&1 & server=$!
    wait_listening
    out=$("$build/examples/echo_client" --port "$port" alpha beta gamma)
    grep -q "got back alpha" <<<"$out" && grep -q "got back gamma" <<<"$out"
    kill -TERM "$server"
    wait "$server"
    grep -q "shutting down" "$log" && grep -q "kernel 1 served" "$log" && grep -q "bye" "$log"
    rm -f "$log"
    ;;
  parallel_hash)
    log=$(mktemp)
    "$build/examples/parallel_hash_server" --port "$port" --kernels 2 >"$log" 2>&1 & server=$!
    wait_listening
    "$build/examples/parallel_hash_server" --client --port "$port" --connections 4 --seconds 1 --kib 16 | grep -q " ok"
    kill -TERM "$server"
    wait "$server"
    grep -q "bye" "$log"
    rm -f "$log"
    ;;
esac
echo "ok"
