#!/usr/bin/env bash
# Runs the TLS examples against each other (tls_echo_server / tls_echo_client) or against
# `openssl s_server -www` (https_get), with a test certificate made by scripts/make-test-cert.sh;
# used by ctest.   run_tls_example.sh BUILD_DIR SOURCE_DIR echo|https PORT
set -euo pipefail
build=$1 src=$2 kind=$3 port=$4
dir=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
"$src/scripts/make-test-cert.sh" "$dir" >/dev/null
wait_listening() {
  for _ in $(seq 200); do grep -qi ":$(printf '%04X' "$port") 00000000:0000 0A" /proc/net/tcp && return 0; sleep 0.05; done
  echo "server did not listen on $port" >&2; return 1
}
case $kind in
  echo)
    "$build/examples/tls_echo_server" --port "$port" --cert "$dir/cert.pem" --key "$dir/key.pem" >/dev/null & server=$!
    wait_listening
    out=$("$build/examples/tls_echo_client" --port "$port" --cafile "$dir/cert.pem" alpha beta)
    grep -q "got back alpha" <<<"$out" && grep -q "got back beta" <<<"$out" && grep -q "TLSv1.3" <<<"$out"
    # A client that does not trust the certificate is refused (and the server goes on).
    if "$build/examples/tls_echo_client" --port "$port" --cafile /etc/ssl/certs/ca-certificates.crt x 2>"$dir/err"; then
      echo "an untrusting client was served" >&2; exit 1
    fi
    grep -q "certificate verify failed" "$dir/err"
    "$build/examples/tls_echo_client" --port "$port" --cafile "$dir/cert.pem" gamma | grep -q "got back gamma"
    ;;
  https)
    # (-www answers requests without reading its stdin.)
    openssl s_server -quiet -accept "127.0.0.1:$port" -cert "$dir/cert.pem" -key "$dir/key.pem" -www \
      </dev/null >"$dir/server.log" 2>&1 & server=$!
    wait_listening
    out=$("$build/examples/https_get" --cafile "$dir/cert.pem" localhost "$port" /)
    grep -q "HTTP/1.0 200 ok" <<<"$out"
    ;;
esac
echo "ok"
