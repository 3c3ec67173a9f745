#!/usr/bin/env bash
# Creates a self-signed TEST certificate for localhost (and 127.0.0.1) with the openssl command:
#   scripts/make-test-cert.sh DIR      -> DIR/cert.pem (certificate; also the CA file for clients)
#                                         DIR/key.pem  (its private key, P-256, unencrypted)
# For the TLS examples and tests only: never use it for anything real.
set -euo pipefail
dir=${1:?usage: make-test-cert.sh DIR}
mkdir -p "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
echo "test certificate: $dir/cert.pem, key: $dir/key.pem"
