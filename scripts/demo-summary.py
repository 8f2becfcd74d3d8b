#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The demo's closing table, from what tests/lab/scenario.py recorded: per VM its weight and
minimum, its peak demand, the range of memory it was given, how long it was short (its
workload waiting for memory it wanted), and what its workload got at its peak."""
import json
import sys

MiB = 1 << 20

d = sys.argv[1]
samples = [json.loads(l) for l in open(f"{d}/samples.jsonl") if l.strip()]
samples = [s for s in samples if s["status"]]
if not samples:
    sys.exit("demo: nothing was recorded")
phases = json.load(open(f"{d}/phases.json"))["phases"]
host = samples[-1]["status"]["host"]
print(f"dynmem demo: {samples[-1]['t']:.0f} s recorded ({len(samples)} samples); phases at "
      + ", ".join(f"{p} {t:.0f} s" for p, t in phases.items()))
print(f"the VMs shared a budget of {host['budget_bytes'] / MiB:.0f} MiB once the host was made "
      f"short (host {host['total_bytes'] / MiB:.0f} MiB, reserve {host['reserve_bytes'] / MiB:.0f} MiB)")
print(f"{'VM':<8} {'WEIGHT':>6} {'MINIMUM':>8} {'PEAK DEMAND':>12} {'ASSIGNED':>14} "
      f"{'SHORT':>6} {'WORKLOAD GOT':>13}")
times = [s["t"] for s in samples]
for name in [v["name"] for v in samples[0]["status"]["vms"]]:
    rows = [next(v for v in s["status"]["vms"] if v["name"] == name) for s in samples]
    work = [s["workloads"].get(name) or {} for s in samples]
    sizes = [v["balloon_actual_bytes"] for v in rows if v["balloon_actual_bytes"]]
    # Each sample stands for the time until the next one.
    short = sum(t1 - t0 for t0, t1, w in zip(times, times[1:], work)
                if w and w["held"] < w["want"])
    peak = max(work, key=lambda w: (w.get("want", 0), w.get("held", 0)))
    got = f"{peak['held']}/{peak['want']} MiB" if peak else "-"
    print(f"{name:<8} {rows[-1]['weight']:>6} {rows[-1]['minimum_bytes'] / MiB:>6.0f} M "
          f"{max(v['demand_bytes'] for v in rows) / MiB:>10.0f} M "
          f"{min(sizes) / MiB:>5.0f}-{max(sizes) / MiB:<5.0f} M {short:>5.0f} s {got:>13}")
