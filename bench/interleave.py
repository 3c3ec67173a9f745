#!/usr/bin/env python3
"""Runs two or more curio_bench binaries interleaved (round-robin, pinned to one core) and prints
each benchmark's median CPU time per binary and its ratio to the first binary.

  bench/interleave.py [--rounds N] [--filter REGEX] [--cpu C] [--fifo] BASELINE NEW [NEW2...]

The machine is shared and noisy: alternating the binaries in one invocation exposes them to the
same noise, and the median of the rounds (each round: --benchmark_repetitions=3, min of those)
discards the outliers. --fifo runs each binary under SCHED_FIFO (chrt -f 50, root only): other
processes' threads (compilers) cannot preempt it on its core, so a busy machine measures close to
a quiet one; the A/A ratio (the baseline given twice) still shows what noise is left."""
import argparse, json, statistics, subprocess, sys

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=7)
ap.add_argument("--filter", default="BM_(SpawnJoin|SwitchEvent|SwitchYield)/curio$")
ap.add_argument("--cpu", default="1")
ap.add_argument("--min-time", default="0.2")
ap.add_argument("--fifo", action="store_true")
ap.add_argument("binaries", nargs="+")
a = ap.parse_args()

times = {}  # (binary index, benchmark) -> [min of a round]
for r in range(a.rounds):
    for i, b in enumerate(a.binaries):
        prio = ["chrt", "-f", "50"] if a.fifo else []
        out = subprocess.run(prio + ["taskset", "-c", a.cpu, b, "--benchmark_filter=" + a.filter,
                              "--benchmark_min_time=" + a.min_time, "--benchmark_repetitions=3",
                              "--benchmark_format=json"], capture_output=True, text=True, check=True).stdout
        per = {}
        for bm in json.loads(out)["benchmarks"]:
            if bm.get("run_type") != "iteration":
                continue
            per.setdefault(bm["run_name"], []).append(bm["cpu_time"])
        for name, v in per.items():
            times.setdefault((i, name), []).append(min(v))
names = sorted({n for (_, n) in times})
print("%-28s" % "benchmark (ns, median of %d)" % a.rounds + "".join("%14s" % ("bin%d" % i) for i in range(len(a.binaries))) +
      "".join("%10s" % ("ratio%d" % i) for i in range(1, len(a.binaries))))
for n in names:
    med = [statistics.median(times[(i, n)]) for i in range(len(a.binaries))]
    print("%-28s" % n + "".join("%14.2f" % m for m in med) + "".join("%10.3f" % (m / med[0]) for m in med[1:]))
for i, b in enumerate(a.binaries):
    print("bin%d = %s" % (i, b))
