#!/usr/bin/env python3
"""Echo benchmark in rounds: runs bench/echo/run.sh (without its idle-memory phase) N times,
rotating the order of the servers each round, and prints each cell's median msgs/s and server
CPU per message, then the median over rounds of each round's ratios. One run on this noisy
2-core machine moves a ratio by 10-20%; the median of rounds taken in turn moves far less.

Usage: bench/echo/rounds.py [--build build/bench] [--seconds 2] [--rounds 5]
                            [--servers "ours_uring uring ours_epoll epoll"]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

LOADS = [(c, s) for c in (1, 100, 1000) for s in (64, 1024)]
RATIOS = [("ours_uring", "uring"), ("ours_uring", "ours_epoll"), ("ours_epoll", "epoll")]


def one_round(build, seconds, servers):
    env = dict(os.environ, ECHO_SERVERS=" ".join(servers), ECHO_SKIP_IDLE="1")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run.sh")
    out = subprocess.run([script, build, str(seconds)], env=env, check=True, capture_output=True, text=True).stdout
    rate, cpu = {}, {}
    for line in out.splitlines():
        m = re.match(r"^(\d+)\s+(\d+)\s+\|(.*)$", line)
        if not m:
            continue
        cells = re.findall(r"(\d+)\s+\(\s*(\d+)\)", m.group(3))
        for name, (r, c) in zip(servers, cells):
            rate[(name, int(m.group(1)), int(m.group(2)))] = int(r)
            cpu[(name, int(m.group(1)), int(m.group(2)))] = int(c)
    return rate, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/bench")
    ap.add_argument("--seconds", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--servers", default="ours_uring uring ours_epoll epoll")
    a = ap.parse_args()
    servers = a.servers.split()
    rounds = []
    for i in range(a.rounds):
        order = servers[i % len(servers):] + servers[: i % len(servers)]
        rounds.append(one_round(a.build, a.seconds, order))
        print(f"round {i + 1} of {a.rounds} done (order: {' '.join(order)})", file=sys.stderr)

    def med(table, key):
        return statistics.median(r[table][key] for r in rounds)

    print(f"medians of {a.rounds} rounds, {a.seconds} s per load: msgs/s (server CPU ns per message)")
    print("conns size  " + "".join(f"| {s:<20}" for s in servers))
    for c, s in LOADS:
        row = "".join(f"| {med(0, (n, c, s)):>8.0f} ({med(1, (n, c, s)):>6.0f})    " for n in servers)
        print(f"{c:<5} {s:<5} {row}")
    shown = [(x, y) for x, y in RATIOS if x in servers and y in servers]
    print("\nmedian over rounds of each round's ratio: msgs/s, and CPU per message")
    print("conns size  " + "".join(f"| {x}/{y:<14}" for x, y in shown))
    for c, s in LOADS:
        cells = []
        for x, y in shown:
            rr = statistics.median(r[0][(x, c, s)] / r[0][(y, c, s)] for r in rounds)
            cr = statistics.median(r[1][(x, c, s)] / r[1][(y, c, s)] for r in rounds)
            cells.append(f"| {rr:.2f}x  cpu {cr:.2f}x        ")
        print(f"{c:<5} {s:<5} " + "".join(cells))


if __name__ == "__main__":
    main()
