#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Checks what tests/lab/scenario.sh recorded in DIR against dynmem's promises, printing what
was measured. Exit 1 at the first broken promise."""
import json
import re
import sys

MiB = 1 << 20
# The balloon moves in pages and QEMU rounds to them: a MiB of slack per guest.
SLACK = MiB


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def measured(msg):
    print(f"  {msg}")


def timeline(samples, names):
    """Every ~10 s: budget, and per VM demand/size/target in MiB, for the record."""
    last = -10
    for s in samples:
        if s["t"] - last < 10:
            continue
        last = s["t"]
        h = s["status"]["host"]
        cells = "  ".join(f"{v['name']} {v['demand_bytes'] >> 20}/{v['balloon_actual_bytes'] >> 20}"
                          f"/{v['target_bytes'] >> 20} {v['reason']}" for v in s["status"]["vms"])
        measured(f"t={s['t']:>3}s budget {h['budget_bytes'] >> 20}: {cells}")


def main(d):
    samples = [json.loads(l) for l in open(f"{d}/samples.jsonl") if l.strip()]
    if len(samples) < 30:
        fail(f"only {len(samples)} samples recorded")
    names = [v["name"] for v in samples[0]["status"]["vms"]]
    series = {n: [] for n in names}
    for s in samples:
        for v in s["status"]["vms"]:
            series[v["name"]].append((s["t"], v, s["status"]["host"]))
    measured(f"{len(samples)} samples over {samples[-1]['t']} s, VMs {', '.join(names)}")
    timeline(samples, names)

    # 1. Never below the minimum.
    for n, rows in series.items():
        low = min(v["balloon_actual_bytes"] - v["minimum_bytes"] for _, v, _ in rows
                  if v["balloon_actual_bytes"])
        measured(f"{n}: closest to its minimum: {low / MiB:+.0f} MiB")
        if low < -SLACK:
            fail(f"{n} went {-low / MiB:.0f} MiB below its minimum")

    # 2. The VMs' sizes never add up past the budget because of dynmem: once within it they
    # stay within it, and before that (guests that booted bigger) they only come down.
    sums = [(sum(v["balloon_actual_bytes"] for v in s["status"]["vms"]),
             s["status"]["host"]["budget_bytes"]) for s in samples]
    inside = next((i for i, (total, budget) in enumerate(sums) if total <= budget + SLACK), None)
    if inside is None:
        fail("the guests never came within the budget")
    for (prev, _), (total, budget) in zip(sums[:inside], sums[1:inside + 1]):
        if total > prev + SLACK * len(names):
            fail(f"above the budget and still growing: {prev / MiB:.0f} -> {total / MiB:.0f} MiB")
    worst = max(total - budget for total, budget in sums[inside:])
    short = [s for s in samples if sum(v["demand_bytes"] * (100 + v["buffer_pct"]) // 100
                                       for v in s["status"]["vms"])
             > s["status"]["host"]["budget_bytes"]]
    measured(f"within the budget from t={samples[inside]['t']} s; worst since then "
             f"{worst / MiB:+.0f} MiB; short of memory in {len(short)} samples")
    if worst > SLACK * len(names):
        fail(f"the guests held {worst / MiB:.0f} MiB more than the budget")
    if len(short) < 5:
        fail("the host was never short: the scenario did not test weights (see BUDGET_MIB)")

    # 3. Rising demand gets memory: from the sample where heavy's demand first passes
    # 300 MiB, how long until its size has grown by 128 MiB.
    rows = series["heavy"]
    rise = next((i for i, (_, v, _) in enumerate(rows) if v["demand_bytes"] >= 300 * MiB), None)
    if rise is None:
        fail("heavy's demand never rose past 300 MiB: read heavy.console.log")
    base = rows[rise][1]["balloon_actual_bytes"]
    got = next((t for t, v, _ in rows[rise:] if v["balloon_actual_bytes"] >= base + 128 * MiB),
               None)
    peak = max(v["balloon_actual_bytes"] for _, v, _ in rows)
    if got is None:
        fail(f"heavy's demand rose but its size stayed near {base / MiB:.0f} MiB")
    measured(f"heavy: demand past 300 MiB at t={rows[rise][0]} s, +128 MiB of memory by "
             f"t={got} s ({got - rows[rise][0]} s); peak {peak / MiB:.0f} MiB")

    # 4. Falling demand gives memory back: balloon and memory.high.
    end = rows[-1][1]
    measured(f"heavy at the end: demand {end['demand_bytes'] / MiB:.0f} MiB, size "
             f"{end['balloon_actual_bytes'] / MiB:.0f} MiB (peak {peak / MiB:.0f})")
    if end["balloon_actual_bytes"] > peak - 128 * MiB:
        fail("heavy's demand fell but it kept its memory")
    high = open(f"{d}/heavy.memory.high").read().strip()
    measured(f"heavy memory.high at the end: {high}")
    if high == "max" or int(high) > peak + end["overhead_bytes"]:
        fail(f"memory.high did not come down with the target: {high}")
    after = open(f"{d}/heavy.memory.high.after-exit").read().strip()
    measured(f"heavy memory.high after dynmemd exited: {after}")
    if after != "max":
        fail("dynmemd exited but heavy's memory.high stayed tightened")

    # 5. Under shortage the heavier VM keeps the better availability.
    both = [(v_h, v_l) for (_, v_h, _), (_, v_l, _) in zip(series["heavy"], series["light"])]
    short_t = {s["t"] for s in short}
    pairs = [(h, l) for (t, h, _), (_, l, _) in zip(series["heavy"], series["light"])
             if t in short_t and h["availability_pct"] is not None
             and l["availability_pct"] is not None]
    better = sum(h["availability_pct"] >= l["availability_pct"] for h, l in pairs)
    measured(f"short samples where heavy's availability >= light's: {better}/{len(pairs)}")
    if not pairs or better < 0.8 * len(pairs):
        fail("the heavier VM did not keep the better availability under shortage")
    del both

    # 6. No guest OOM kill.
    for n in names:
        log = open(f"{d}/{n}.console.log", errors="replace").read()
        if re.search(r"Out of memory|oom-kill|invoked oom-killer", log):
            fail(f"{n}'s guest OOM-killed: see {d}/{n}.console.log")
    measured("no OOM kill in any guest console")


if __name__ == "__main__":
    main(sys.argv[1])
