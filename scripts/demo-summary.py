#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The demo's closing table, from what tests/lab/scenario.sh recorded: per VM its minimum,
peak demand, the range of memory it was given, and how long it was short (assigned below
demand)."""
import json
import sys

MiB = 1 << 20

samples = [json.loads(l) for l in open(f"{sys.argv[1]}/samples.jsonl") if l.strip()]
if not samples:
    sys.exit("demo: nothing was recorded")
vms = {}
for s in samples:
    for v in s["status"]["vms"]:
        vms.setdefault(v["name"], []).append(v)
host = samples[-1]["status"]["host"]
print(f"dynmem demo: {samples[-1]['t']} s recorded ({len(samples)} samples); the VMs shared a budget of "
      f"{host['budget_bytes'] / MiB:.0f} MiB (host {host['total_bytes'] / MiB:.0f} MiB, "
      f"reserve {host['reserve_bytes'] / MiB:.0f} MiB)")
print(f"{'VM':<8} {'WEIGHT':>6} {'MINIMUM':>8} {'PEAK DEMAND':>12} {'ASSIGNED':>16} {'SHORT':>7}")
for name, rows in vms.items():
    sizes = [v["balloon_actual_bytes"] for v in rows if v["balloon_actual_bytes"]]
    # Seconds short: each sample stands for the time until the next one.
    times = [s["t"] for s in samples]
    short = sum(t1 - t0 for (t0, t1), v in zip(zip(times, times[1:] + times[-1:]), rows)
                if v["balloon_actual_bytes"] and v["balloon_actual_bytes"] < v["demand_bytes"])
    print(f"{name:<8} {rows[-1]['weight']:>6} {rows[-1]['minimum_bytes'] / MiB:>6.0f} M "
          f"{max(v['demand_bytes'] for v in rows) / MiB:>10.0f} M "
          f"{min(sizes) / MiB:>6.0f}-{max(sizes) / MiB:<5.0f} M {short:>5} s")
