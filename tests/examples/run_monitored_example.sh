#!/usr/bin/env bash
# Runs examples/monitored_server, holds one echo connection open, and looks at it with the
# curio-monitor client: ps must list the connection's task, where must show the line of its
# co_await in the example. Used by ctest.
#   run_monitored_example.sh BUILD_DIR PORT lines|no-lines   (no-lines: CURIO_AWAIT_LOCATIONS=OFF)
set -euo pipefail
build=$1 port=$2 lines=${3:-lines}
log=$(mktemp)
"$build/examples/monitored_server" --port "$port" --monitor-port 0 >"$log" 2>&1 & server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q "monitor on" "$log" && break; sleep 0.05; done
mport=$(sed -n 's/.*monitor on 127.0.0.1:\([0-9]*\).*/\1/p' "$log")
[ -n "$mport" ] || { echo "no monitor port in: $(cat "$log")" >&2; exit 1; }
exec 3<>"/dev/tcp/127.0.0.1/$port"
echo hello >&3
read -r -t 5 reply <&3
[ "$reply" = hello ] || { echo "echo failed: '$reply'" >&2; exit 1; }
ps=$(printf 'ps\nexit\n' | "$build/curio-monitor" "127.0.0.1:$mport")
echo "$ps"
row=$(grep ' conn-1 ' <<<"$ps")
grep -q READ_WAIT <<<"$row"
id=$(awk '{print $2}' <<<"$row")
where=$(printf 'where %s\nexit\n' "$id" | "$build/curio-monitor" "127.0.0.1:$mport")
echo "$where"
grep -q "'conn-1' READ_WAIT: fd [0-9]* readable" <<<"$where"
if [ "$lines" = lines ]; then
  line=$(grep -n 'where. shows this line' "$(dirname "$0")/../../examples/monitored_server.cpp" | cut -d: -f1)
  grep -q "echo_client  .*monitored_server.cpp:$line" <<<"$where"
  # recv runs in the handler's frame (an awaitable, no frame of its own) on every path: the
  # handler is innermost.
  if grep -q "socket.cpp:" <<<"$where"; then echo "unexpected library frame"; exit 1; fi
fi
exec 3>&-
grep -q "\[conn-1\] connected" "$log"
echo "ok"
