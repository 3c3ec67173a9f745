#!/usr/bin/env python3
"""Holds idle TCP connections for bench/memory/measure.py (a separate process, so neither side
needs more than the 20,000 descriptors one process may have here).
  hold.py PORT N1 N2 ...: opens connections up to N1, prints the count, waits for a line on stdin,
  then up to N2, and so on; exits (closing everything) at the end of stdin."""
import socket
import sys

port = int(sys.argv[1])
held = []
for target in map(int, sys.argv[2:]):
    while len(held) < target:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(("127.0.0.1", port))
        held.append(s)
    print(len(held), flush=True)
    if not sys.stdin.readline():
        break
