# Sourced by the benchmark scripts that start each server inside $(...): the server is then not
# the script's child, so `wait` cannot wait for it. stop_server PID polls until it is gone
# (killing it outright after 10 s), or the next server on the same port fails to bind.
stop_server() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
  kill -9 "$1" 2>/dev/null || true
}
