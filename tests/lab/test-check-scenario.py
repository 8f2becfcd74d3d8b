#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Checks the checker: tests/lab/check-scenario.py, run as lab tests 5 and 7 run it, on records
written here in the shape tests/lab/scenario.py writes them. A run where dynmem kept its
promises passes (0); a guest that stopped with the memory it used is the lab's failure (75);
a guest that stopped while held below its use, or that went quiet but still ran, is dynmem's
to answer for (1). So are a lighter VM that keeps more than its guest uses while heavy goes
short, and, in a scenario that stopped early, an OOM kill; a guest the lab stopped then is the
lab's. Ends with "N passed, M failed".
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from scenario import GUESTS, RISING  # noqa: E402

MiB = 1 << 20
BUDGET = 720 * MiB
PHASES = dict(settle=0, short=60, rise=90, fall=300)
END = 400
FED = 200  # heavy's workload has all it wants


def ramp(t, t0, t1, a, b):
    """a before t0, b after t1, a straight line between."""
    if t <= t0:
        return a
    if t >= t1:
        return b
    return a + (b - a) * (t - t0) // (t1 - t0)


def healthy(name, t):
    """(size, demand, workload held, workload want) in MiB at t, dynmem doing its job: heavy
    and light rise at 90 s, heavy (the heavier) gets more, both give it back from 300 s."""
    if name == "steady":
        return 170, 140, 64, 64
    top = 300 if name == "heavy" else 240
    if t < PHASES["rise"]:
        return 200, 150, 32, 32
    if t < PHASES["fall"]:
        size = ramp(t, PHASES["rise"], FED, 200, top)
        held = ramp(t, PHASES["rise"], FED, 32, 192 if name == "heavy" else 150)
        return size, size * 85 // 100, held, 192
    return ramp(t, PHASES["fall"], PHASES["fall"] + 40, top, 200), 150, 32, 32


def phase_at(t, phases):
    return max((p for p, start in phases.items() if t >= start), key=phases.get)


def sample(t, guest_of, phases=PHASES):
    vms, workloads = [], {}
    for name, g in GUESTS.items():
        size, demand, held, want, source, qmp, *reason = guest_of(name, t)
        weight = g["weight"]
        vms.append(dict(name=name, weight=weight, minimum_bytes=g["minimum"] * MiB,
                        maximum_bytes=g["maximum"] * MiB, buffer_pct=g["buffer"],
                        balloon_actual_bytes=size * MiB, target_bytes=size * MiB,
                        demand_bytes=demand * MiB, demand_source=source, qmp_state=qmp,
                        reason=reason[0] if reason else "weight", node=-1,
                        overhead_bytes=16 * MiB,
                        availability_pct=(size - demand) / demand * 100 * weight / 5000))
        workloads[name] = dict(held=held, want=want)
    host = dict(budget_bytes=BUDGET, numa_spanning=True, overhead_bytes=48 * MiB,
                pending_bytes=0, numa_nodes=[])
    return dict(t=t, phase=phase_at(t, phases), status=dict(host=host, vms=vms),
                workloads=workloads,
                cgroups={})


def write_record(d, guest_of, consoles, early=False):
    """The record of a whole run, or with early of one that stopped in its settle phase."""
    end, phases = (300, dict(settle=0)) if early else (END, PHASES)
    with open(f"{d}/samples.jsonl", "w") as f:
        for t in range(0, end, 2):
            f.write(json.dumps(sample(t, guest_of, phases)) + "\n")
    with open(f"{d}/phases.json", "w") as f:
        json.dump(dict(phases=phases, guests=GUESTS, rising=RISING, spanning=True), f)
    for name in GUESTS:
        with open(f"{d}/{name}.console.log", "w") as f:
            f.write(consoles.get(name, "guest: ready\ndemand: holding 32 MiB of 32 MiB\n"))
        with open(f"{d}/{name}.memory.high", "w") as f:
            f.write(f"{(200 + 16 + 32) * MiB}\n")
        with open(f"{d}/{name}.memory.high.after-exit", "w") as f:
            f.write("max\n")


def live(name, t):
    return (*healthy(name, t), "guest", "ready")


def steady_stops(at):
    """steady's guest stops after the sample at `at`, in the settle phase: its balloon and
    workload freeze, and the host's view of it stands in for its reports."""
    def guest_of(name, t):
        if name != "steady" or t <= at:
            return live(name, t)
        size, _, held, want = healthy(name, at)
        return size, 103, held, want, "host", "ready"
    return guest_of


def heavy_stops(at, squeezed=False, heard_fall=False, qmp="ready"):
    """heavy's guest stops after the sample at `at`: its balloon and workload freeze there, no
    report comes again."""
    def guest_of(name, t):
        if name != "heavy" or t < at - 10 or (t <= at and not squeezed):
            return live(name, t)
        size, demand, held, want = healthy(name, min(t, at))
        if squeezed:  # held below what it used for its last 10 s
            demand = size + 20
        if t <= at:
            return size, demand, held, want, "guest", "ready"
        if heard_fall and t >= PHASES["fall"]:
            held, want = 32, 32
        return size, demand, held, want, "host", qmp
    return guest_of


def heavy_unfed(heavy_top, light_top, light_reasons=("hold_rate", "hold_in_use")):
    """Light grew first and heavy's workload never gets all it wants: heavy (its guest 20 MiB
    over what it uses, all it can get) ends the rise at heavy_top MiB, light (using 241) at
    light_top, its reason the first of light_reasons every 10 s and the second else; steady,
    lighter than heavy too, at its minimum."""
    def guest_of(name, t):
        if not PHASES["rise"] <= t < PHASES["fall"]:
            return live(name, t)
        if name == "steady":
            return GUESTS["steady"]["minimum"], 140, 64, 64, "guest", "ready", "minimum"
        top = heavy_top if name == "heavy" else light_top
        size = ramp(t, PHASES["rise"], FED, 200, top)
        demand = size - 20 if name == "heavy" else ramp(t, PHASES["rise"], FED, 150, 241)
        held = ramp(t, PHASES["rise"], FED, 32, 187 if name == "heavy" else 160)
        reason = "weight" if name == "heavy" else light_reasons[t % 10 != 0]
        return size, demand, held, 192, "guest", "ready", reason
    return guest_of


def reset_without_a_word():
    boots = "guest: ready\ndemand: holding 32 MiB of 32 MiB\n"
    return {"light": boots + boots}


CASES = [
    # name, how the guests behave, their consoles, the exit status, what the output must say;
    # a sixth, True: the scenario stopped in its settle phase (check-scenario.py --early)
    ("a run where dynmem kept its promises passes", live, {}, 0,
     "every memory.high back to max"),
    ("a guest stopped mid-rise with what it used: the lab's failure", heavy_stops(150), {}, 75,
     "heavy's guest stopped at t=150 s with the memory it used"),
    ("a guest stopped while held below its use: dynmem's", heavy_stops(150, squeezed=True), {},
     1, "stopped while dynmem held it at"),
    ("a guest quiet but its workload heard the fall: still ran, dynmem's",
     heavy_stops(150, heard_fall=True), {}, 1, "its workload's wants in the fall [32]"),
    ("a guest quiet while dynmem's QMP session broke: dynmem's",
     heavy_stops(150, qmp="broken"), {}, 1, "dynmem's QMP session broken"),
    ("a guest quiet for less than a minute at the end: the checks decide", heavy_stops(360), {},
     0, "every memory.high back to max"),
    ("a guest reset without a word from its kernel: the lab's failure", live,
     reset_without_a_word(), 75, "reset without a word"),
    ("heavy never fed, light held at what its guest uses and the core: passes",
     heavy_unfed(290, 253), {}, 0, "light at most its minimum or its demand + 5% in 16/16"),
    ("heavy never fed, light keeping memory its guest does not use: dynmem's",
     heavy_unfed(260, 280, ("hold_in_use", "hold_in_use")), {}, 1,
     "lighter VMs kept memory their guests do not use"),
    ("a guest OOM kill: dynmem's", live,
     {"light": "guest: ready\nOut of memory: Killed process 42 (demand)\n"}, 1, "OOM-killed"),
    ("stopped early, a guest stopped while settling with what it used: the lab's",
     steady_stops(130), {}, 75, "steady's guest stopped at t=130 s", True),
    ("stopped early, a guest OOM-killed: dynmem's", live,
     {"light": "guest: ready\nOut of memory: Killed process 42 (demand)\n"}, 1, "OOM-killed",
     True),
    ("stopped early, nothing of the lab's seen: the scenario's reason stands", live, {}, 0,
     "settle budget", True),
]


def main():
    passed = failed = 0
    for name, guest_of, consoles, rc_want, says, *early in CASES:
        with tempfile.TemporaryDirectory() as d:
            write_record(d, guest_of, consoles, bool(early))
            run = subprocess.run([sys.executable, f"{HERE}/check-scenario.py",
                                  *(["--early"] if early else []), d], text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if run.returncode == rc_want and says in run.stdout:
            print(f"ok   {name} (exit {run.returncode})")
            passed += 1
        else:
            print(f"FAIL {name}: exit {run.returncode} (want {rc_want}), output without "
                  f"'{says}':\n" + "\n".join("     " + line for line in run.stdout.splitlines()))
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
