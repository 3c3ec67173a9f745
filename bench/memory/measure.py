#!/usr/bin/env python3
"""Server memory per idle connection: each echo server is started alone, warmed up, then a client
process (hold.py) opens 1,000 and then 15,000 idle connections; the server's RSS growth over its
warmed-up baseline, divided by the connections, is the per-connection figure. The kernel's own
cost is read from /proc/slabinfo (all slab caches) and /proc/net/sockstat around the same steps;
that figure covers both ends of each loopback connection and whatever else the machine did
meanwhile, so it is an estimate.
  measure.py BUILD_DIR WORK_DIR [--counts 1000,15000] [--servers curio,asio,epoll,go,node,tokio,libuv]"""
import argparse
import os
import socket
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("work")
ap.add_argument("--counts", default="1000,15000")
ap.add_argument("--servers", default="curio,asio,epoll,go,node,tokio,libuv")
args = ap.parse_args()
counts = [int(c) for c in args.counts.split(",")]

servers = {
    "curio": (["{b}/examples/echo_server", "--port", "{p}"], {}),
    "asio": (["{b}/bench/echo/echo_asio_server", "--port", "{p}"], {}),
    "epoll": (["{b}/bench/echo/echo_epoll_server", "--port", "{p}"], {}),
    "go": (["{w}/go_echo", "{p}"], {"GOMAXPROCS": "1"}),
    "node": (["node", os.path.join(here, "node_echo.js"), "{p}"], {}),
    "tokio": (["{w}/tokio_echo", "{p}"], {}),  # built by run.sh (bench/memory/tokio_echo)
    "libuv": (["{b}/bench/memory/echo_libuv_server", "--port", "{p}"], {}),
}


def status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return -1


def slab_bytes():
    total = 0
    with open("/proc/slabinfo") as f:
        for line in f.readlines()[2:]:
            p = line.split()
            total += int(p[2]) * int(p[3])  # num_objs * objsize
    return total


def tcp_mem_pages():
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                p = line.split()
                return int(p[p.index("mem") + 1])
    return 0


def wait_listening(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on {port} did not listen")


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def warm_up(port, n=200):
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    for s in socks:
        s.sendall(b"x" * 64)
    for s in socks:
        got = b""
        while len(got) < 64:
            got += s.recv(64 - len(got))
    for s in socks:
        s.close()
    time.sleep(0.5)


print(f"load: {os.getloadavg()}", flush=True)
port = 27100
rows = []
for name in args.servers.split(","):
    cmd, env = servers[name]
    port += 1
    argv = [a.format(b=args.build, w=args.work, p=port) for a in cmd]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env={**os.environ, **env})
    try:
        wait_listening(port)
        warm_up(port)
        base_rss, base_fds = status(server.pid, "VmRSS"), fds(server.pid)
        base_slab, base_tcp = slab_bytes(), tcp_mem_pages()
        holder = subprocess.Popen([sys.executable, os.path.join(here, "hold.py"), str(port)] + [str(c) for c in counts],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for c in counts:
            holder.stdout.readline()
            deadline = time.time() + 30
            while fds(server.pid) < base_fds + c and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
            rss = status(server.pid, "VmRSS")
            anon = status(server.pid, "RssAnon")
            slab = slab_bytes() - base_slab
            tcpmem = tcp_mem_pages() - base_tcp
            per = (rss - base_rss) / c
            rows.append((name, c, per, rss, slab / (2 * c), tcpmem))
            print(f"{name:6} {c:6} connections: {per:7.0f} bytes/connection (RSS {base_rss / 2**20:.1f} -> "
                  f"{rss / 2**20:.1f} MiB, RssAnon {anon / 2**20:.1f} MiB); kernel slab +{slab / 2**20:.1f} MiB "
                  f"= {slab / (2 * c):.0f} bytes per socket (both ends), TCP buffer pages +{tcpmem}", flush=True)
            holder.stdin.write("\n")
            holder.stdin.flush()
        holder.wait(timeout=60)
    finally:
        server.kill()
        server.wait()
    time.sleep(0.5)

print()
print("| server | connections | bytes per idle connection (RSS) | kernel slab per socket (est.) |")
print("|---|---:|---:|---:|")
for name, c, per, rss, slab, tcpmem in rows:
    print(f"| {name} | {c} | {per:.0f} | {slab:.0f} |")
