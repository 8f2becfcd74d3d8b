#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Checks what tests/lab/scenario.py recorded in DIR against dynmem's promises, printing what
was measured. Exit 1 at the first broken promise.

    check-scenario.py [--early] DIR

--early: the scenario stopped before its end. Prints what was recorded and asks only whether
the lab stopped it (a guest reset or stopped by the emulation: exit 75) or dynmem did (a guest
rebooted by its kernel, OOM-killed or squeezed: exit 1); else exit 0, and the scenario's own
reason stands.
"""
import json
import re
import sys

from scenario import LAB_FAILED, back_to, pools

MiB = 1 << 20
# The balloon moves in pages and QEMU rounds to them: a MiB of slack per guest.
SLACK = MiB
# How much memory counts as a rise's answer: most of the 160 MiB the workload adds (heavy's
# peak is bounded by the budget).
BACK = 96 * MiB
# When heavy is not fed (the lighter guest grew first and uses the memory), heavy must still
# have grown by this much, and the lighter VMs be at what their guests use over the rise's
# last END_S seconds.
GREW = 48 * MiB
END_S = 30
# Placement: a guest's anonymous memory counts as on its node when this share of it is there.
ON_NODE = 0.90
# What a lighter VM keeps above its demand against a heavier VM's need (user/alloc.h,
# ALLOC_IN_USE_CORE_PCT).
CORE_PCT = 5
PAGE = 4096


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def measured(msg):
    print(f"  {msg}")


def mib(b):
    return f"{b / MiB:.0f} MiB"


class Record:
    def __init__(self, d, complete=True):
        self.dir = d
        self.samples = [json.loads(l) for l in open(f"{d}/samples.jsonl") if l.strip()]
        self.samples = [s for s in self.samples if s["status"]]
        meta = json.load(open(f"{d}/phases.json"))
        self.phases, self.guests, self.rising = meta["phases"], meta["guests"], meta["rising"]
        self.spanning = meta["spanning"]
        if not complete:
            return
        if len(self.samples) < 30:
            fail(f"only {len(self.samples)} samples recorded: read {d}/dynmemd.log")
        for p in ("settle", "short", "rise", "fall"):
            if p not in self.phases:
                fail(f"the scenario stopped before its {p} phase: read {d}/run.log")

    def vm(self, s, name):
        return next(v for v in s["status"]["vms"] if v["name"] == name)

    def phase(self, *names):
        return [s for s in self.samples if s["phase"] in names]

    def since(self, phase, s):
        return s["t"] - self.phases[phase]

    def timeline(self):
        """Every ~10 s: the budget, and per VM its size/target/demand in MiB (a ? after the
        demand: its guest did not report it, the host's view stood in), the reason for its
        target (r), what its workload holds/wants (w), the QEMU's overhead (o), its cgroup's
        memory.current (c), how often it went over memory.high (h), and its page cache / the
        part of it mapped (f)."""
        last = -10
        for s in self.samples:
            if s["t"] - last < 10:
                continue
            last = s["t"]
            cells = []
            for v in s["status"]["vms"]:
                w = s["workloads"].get(v["name"]) or {}
                cg = (s.get("cgroups") or {}).get(v["name"]) or {}
                cells.append(f"{v['name']} {v['balloon_actual_bytes'] >> 20}/"
                             f"{v['target_bytes'] >> 20}/{v['demand_bytes'] >> 20}"
                             f"{'' if reported(v) else '?'} r{v['reason']}"
                             f" w{w.get('held', '?')}/{w.get('want', '?')}"
                             f" o{v['overhead_bytes'] >> 20}"
                             f" c{cg.get('current', 0) >> 20}/h{cg.get('high_events', '?')}"
                             f" f{cg.get('file', 0) >> 20}/{cg.get('file_mapped', 0) >> 20}")
            h = s["status"]["host"]
            measured(f"t={s['t']:>5.0f} {s['phase']:<6} budget {h['budget_bytes'] >> 20} "
                     f"(overhead {h['overhead_bytes'] >> 20}, pending {h['pending_bytes'] >> 20})"
                     f": {'  '.join(cells)}")


def reported(v):
    """The VM's demand is its guest's own word (a fresh virtio-balloon report)."""
    return v["demand_source"] in ("guest", "guest-capped")


def heavy_pool(s):
    """heavy's pool in sample s: (its VMs, their budget); nothing while heavy is not planned."""
    return next(((vms, budget) for _, vms, budget in pools(s["status"])
                 if any(v["name"] == "heavy" for v in vms)), ([], 0))


def want(v):
    """What dynmem wants for the VM: its demand plus its buffer, within its limits."""
    w = v["demand_bytes"] * (100 + v["buffer_pct"]) // 100
    return min(max(w, v["minimum_bytes"]), v["maximum_bytes"])


def check_limits(r):
    for name in r.guests:
        low = min(r.vm(s, name)["balloon_actual_bytes"] - r.vm(s, name)["minimum_bytes"]
                  for s in r.samples if r.vm(s, name)["balloon_actual_bytes"])
        measured(f"{name}: closest to its minimum {low / MiB:+.0f} MiB")
        if low < -SLACK:
            fail(f"{name} went {-low / MiB:.0f} MiB below its minimum")
    slack = SLACK * len(r.guests)

    def over(s, key):
        """The pool most above its budget: (by how much, its name)."""
        return max((sum(v[key] for v in vms) - budget, name)
                   for name, vms, budget in pools(s["status"]))

    # dynmem's decisions always fit the budget ...
    (worst, pool), at = max(((over(s, "target_bytes"), s) for s in r.samples),
                            key=lambda o: o[0][0])
    measured(f"the targets against the budget: at worst {worst / MiB:+.0f} MiB "
             f"({pool}, t={at['t']:.0f} s, {at['phase']})")
    if worst > slack:
        fail(f"dynmem's targets added up to {mib(worst)} more than {pool}'s budget at "
             f"t={at['t']:.0f} s")
    # ... and what the VMs hold is above it only while coming down: the budget can shrink
    # under them (a QEMU's overhead grows), and a balloon gives memory back at its own pace.
    (worst, pool), at = max(((over(s, "balloon_actual_bytes"), s) for s in r.samples),
                            key=lambda o: o[0][0])
    measured(f"what the VMs held against the budget: at worst {worst / MiB:+.0f} MiB "
             f"({pool}, t={at['t']:.0f} s, {at['phase']})")
    held = {v["name"]: v["balloon_actual_bytes"] for v in r.samples[0]["status"]["vms"]}
    for s in r.samples[1:]:
        for name, vms, budget in pools(s["status"]):
            now = sum(v["balloon_actual_bytes"] for v in vms)
            before = sum(held.get(v["name"], 0) for v in vms)
            if now - budget > slack and now > before + slack:
                fail(f"the VMs of {name} grew to {mib(now)} above its budget of "
                     f"{mib(budget)} at t={s['t']:.0f} s")
        held = {v["name"]: v["balloon_actual_bytes"] for v in s["status"]["vms"]}


def at_its_use(v):
    """The VM's target is no more than its minimum, or than what its guest uses and the core
    dynmem leaves it against a heavier VM's need (its demand and 5%, up to a page)."""
    d = v["demand_bytes"]
    core = -(-(d + d // 100 * CORE_PCT) // PAGE) * PAGE
    return v["target_bytes"] <= max(v["minimum_bytes"], core) + SLACK


def not_fed(r, rise, base, full):
    """Heavy's workload did not get all it asked for. dynmem takes for weight what the lighter
    VMs have above their minimum and above what their guests use (their demand, and 10% more
    while heavy has its own demand and 10%; 5% more, the core, once heavy is short of that),
    never what they use: when the lighter guest grew first, before the host was short, heavy
    gets what is left. So heavy must have grown, and at the end of the rise every lighter VM in
    its pool must be at its minimum or at what its guest uses. dynmem's target for it is
    measured, not the reason shown: a VM at its core whose demand wobbles shrinks by a fraction
    of a MiB now and then, and the rate limit is its reason for the next seconds. Returns where
    that end starts."""
    peak = max(r.vm(s, "heavy")["balloon_actual_bytes"] for s in rise)
    if peak < base + GREW:
        fail(f"heavy wanted more but its size stayed near {mib(base)} (at most {mib(peak)})")
    end = [s for s in rise if s["t"] >= rise[-1]["t"] - END_S]
    heavy = r.vm(end[-1], "heavy")
    lighter = [v["name"] for v in heavy_pool(end[-1])[0] if v["weight"] < heavy["weight"]]
    taken = {name: sum(at_its_use(r.vm(s, name)) for s in end) for name in lighter}
    held = (end[-1]["workloads"]["heavy"] or {}).get("held", 0)

    def seen(name):
        reasons = sorted({r.vm(s, name)["reason"] for s in end})
        last = r.vm(end[-1], name)
        return (f"{name} at most its minimum or its demand + {CORE_PCT}% in {taken[name]}/"
                f"{len(end)} samples (target {mib(last['target_bytes'])}, demand "
                f"{mib(last['demand_bytes'])}; {'/'.join(reasons)})")
    measured(f"heavy: +{mib(peak - base)} in the rise; its workload held {held} of {full} "
             f"MiB: the rest is what the lighter guests use ("
             + ", ".join(seen(name) for name in lighter) + ")")
    if any(n < len(end) for n in taken.values()):
        fail(f"heavy's workload never got its {full} MiB, and lighter VMs kept memory their "
             f"guests do not use")
    return end[0]


def check_rise(r):
    rise = r.phase("rise")
    short = []
    for s in rise:
        vms, budget = heavy_pool(s)
        if vms and sum(want(v) for v in vms) > budget:
            short.append(s)
    measured(f"host short (the VMs want more than the budget) in {len(short)} of {len(rise)} "
             f"samples of the rise")
    if len(short) < 5:
        fail("the host was never short: the scenario did not test weights")

    base = r.vm(r.phase("short")[-1], "heavy")["balloon_actual_bytes"]
    full = r.guests["heavy"]["high"]
    fed = next((s for s in rise if (s["workloads"]["heavy"] or {}).get("held") == full), None)
    if fed:
        grew = next((s for s in rise if r.vm(s, "heavy")["balloon_actual_bytes"] >= base + BACK),
                    None)
        if not grew:
            fail(f"heavy's workload was fed but its size never rose {BACK >> 20} MiB above "
                 f"{mib(base)}")
        measured(f"heavy: +{BACK >> 20} MiB {r.since('rise', grew):.0f} s after its demand rose; "
                 f"its workload held all {full} MiB after {r.since('rise', fed):.0f} s")
    else:
        fed = not_fed(r, rise, base, full)

    # Weight: once heavy is fed (or has all it can), the rest of the rise is the host short and
    # both wanting.
    after = [s for s in short if s["t"] >= fed["t"]]
    if len(after) < 5:
        fail(f"only {len(after)} short samples after heavy was fed")
    gap = min(r.vm(s, "heavy")["balloon_actual_bytes"] - r.vm(s, "light")["balloon_actual_bytes"]
              for s in after)
    light = [(s["workloads"]["light"] or {}).get("held", 0) for s in after]
    better = sum(r.vm(s, "heavy")["availability_pct"] >= r.vm(s, "light")["availability_pct"]
                 for s in after)
    measured(f"while short: heavy held at least {mib(gap)} more than light (same limits, same "
             f"want, weight 8000 vs 2000); light's workload held {min(light)}-{max(light)} of "
             f"{r.guests['light']['high']} MiB; heavy's availability >= light's in "
             f"{better}/{len(after)} samples")
    if gap <= 0:
        fail("the heavier VM did not get more memory than the lighter one")
    if better < 0.8 * len(after):
        fail("the heavier VM did not keep the better availability under shortage")


def check_fall(r):
    fall = r.phase("fall")
    settled = r.phase("settle")[-1]
    for name in r.rising:
        peak = max(r.vm(s, name)["balloon_actual_bytes"] for s in r.phase("rise", "fall"))
        before = r.vm(settled, name)["balloon_actual_bytes"]
        back = next((s for s in fall if r.vm(s, name)["balloon_actual_bytes"]
                     <= back_to(before)), None)
        end = r.vm(fall[-1], name)["balloon_actual_bytes"]
        if not back:
            fail(f"{name}'s demand fell but it kept its memory: {mib(peak)} -> {mib(end)}, "
                 f"{mib(before)} before the rise")
        measured(f"{name}: back to its size before the rise ({mib(before)}) "
                 f"{r.since('fall', back):.0f} s after its demand fell, from {mib(peak)}")
    heavy = r.vm(fall[-1], "heavy")
    # memory.high follows at the next tick: the size of the last few samples counts.
    size = max(max(r.vm(s, "heavy")["target_bytes"], r.vm(s, "heavy")["balloon_actual_bytes"])
               for s in fall[-3:])
    high = open(f"{r.dir}/heavy.memory.high").read().strip()
    measured(f"heavy memory.high at the end: {high} (size {mib(size)} + overhead "
             f"{mib(heavy['overhead_bytes'])} + headroom)")
    # The headroom is max(32 MiB, 2%); the overhead may have moved since it was written.
    if high == "max" or int(high) > size + heavy["overhead_bytes"] + 48 * MiB:
        fail(f"memory.high did not come down with heavy's balloon: {high}")
    for name in r.guests:
        after = open(f"{r.dir}/{name}.memory.high.after-exit").read().strip()
        if after != "max":
            fail(f"dynmemd exited but {name}'s memory.high stayed at {after}")
    measured("every memory.high back to max after dynmemd exited")


# What the guest's kernel says, as opposed to its init and workload.
OURS = re.compile(r"^(guest: |demand: )")
# What a guest kernel says when it goes down by itself.
DOWN = re.compile(r"Kernel panic|Oops|BUG:|Out of memory|invoked oom-killer|reboot:")


def check_guests(r):
    for name in r.guests:
        lines = open(f"{r.dir}/{name}.console.log", errors="replace").read().splitlines()
        boots = [i for i, line in enumerate(lines) if line.startswith("guest: ready")]
        if len(boots) > 1:
            # A reboot resets the balloon to the maximum and restarts the workload: every
            # other check would fail for it. Show why the guest went down.
            before = [line for line in lines[boots[0]:boots[1]] if not OURS.match(line)]
            print("\n".join(f"    {name}| {line}" for line in before[-40:]))
            if not any(DOWN.search(line) for line in before):
                # Not a word from its kernel: the virtual CPU was reset under it, which
                # the lab's nested SVM emulated by TCG does now and then (seen while booting
                # and under memory pressure). Not dynmem's: a balloon or memory.high makes a
                # guest reclaim, swap or OOM-kill, and it says so.
                print(f"FAIL: {name}'s guest was reset without a word from its kernel: the "
                      f"lab's emulation, not dynmem")
                sys.exit(LAB_FAILED)
            fail(f"{name}'s guest rebooted {len(boots) - 1} time(s) during the run")
        log = "\n".join(lines)
        if re.search(r"Out of memory|oom-kill|invoked oom-killer", log):
            fail(f"{name}'s guest OOM-killed: see {r.dir}/{name}.console.log")
        if "demand exited" in log:
            fail(f"{name}'s workload died: see {r.dir}/{name}.console.log")
    measured("no reboot and no OOM kill in any guest console; every workload ran to the end")


# A guest whose kernel reports nothing for this long, to the end of the run, has stopped: its
# balloon driver reports every few seconds, under memory pressure too.
SILENT_S = 60


def check_alive(r):
    """A guest that stopped mid-run: its virtual CPUs no longer run, which the lab's nested SVM
    emulated by TCG does now and then, like the resets check_guests() sees. Every later check
    would blame dynmem for it (its workload never takes its memory, nor gives it back). It is
    the lab's failure only when everything says the guest stopped: no balloon report to the end
    of the run while its QEMU answered dynmem, its balloon frozen through that silence, a rising
    workload that never heard the fall's want. And dynmem must not have caused it: the guest
    held at least what it used when it went silent."""
    end = r.samples[-1]
    for name in r.guests:
        heard = [s for s in r.samples if reported(r.vm(s, name))]
        last = heard[-1] if heard else r.samples[0]
        silent = end["t"] - last["t"]
        if silent < SILENT_S:
            continue
        vm = r.vm(last, name)
        after = [s for s in r.samples if s["t"] >= last["t"]]
        sizes = {r.vm(s, name)["balloon_actual_bytes"] for s in after}
        qmp = {r.vm(s, name)["qmp_state"] for s in after}
        wants = {(s["workloads"].get(name) or {}).get("want") for s in r.phase("fall")}
        low = r.guests[name]["low"]
        evidence = (f"{name}'s guest went silent at t={last['t']:.0f} s ({last['phase']}): no "
                    f"balloon report for the last {silent:.0f} s, its balloon at "
                    f"{mib(vm['balloon_actual_bytes'])} in {len(sizes)} size(s) since, target "
                    f"{mib(r.vm(end, name)['target_bytes'])}, dynmem's QMP session "
                    f"{'/'.join(sorted(qmp))}")
        if name in r.rising:
            evidence += f", its workload's wants in the fall {sorted(wants, key=str)}"
        print(f"  {evidence}")
        if len(sizes) > 1 or (name in r.rising and low in wants) or qmp != {"ready"}:
            continue  # it still ran, or dynmem stopped asking: the checks below decide
        if vm["balloon_actual_bytes"] < vm["demand_bytes"]:
            fail(f"{name}'s guest stopped while dynmem held it at "
                 f"{mib(vm['balloon_actual_bytes'])}, below the {mib(vm['demand_bytes'])} it used")
        print(f"FAIL: {name}'s guest stopped at t={last['t']:.0f} s with the memory it used: the "
              f"lab's emulation, not dynmem")
        sys.exit(LAB_FAILED)


def check_placement(r):
    for name in r.guests:
        node = r.vm(r.samples[-1], name)["node"]
        if node < 0:
            fail(f"spanning is off but {name} has no node")
        anon = open(f"{r.dir}/{name}.memory.numa_stat").readline().split()
        if anon[0] != "anon":
            fail(f"{name}.memory.numa_stat does not start with anon: {anon}")
        per_node = {int(k[1:]): int(v) for k, v in (f.split("=") for f in anon[1:])}
        share = per_node.get(node, 0) / max(1, sum(per_node.values()))
        measured(f"{name}: node {node}, {share:.1%} of its {mib(sum(per_node.values()))} of "
                 f"anonymous memory there")
        if share < ON_NODE:
            fail(f"{name} is on node {node} but only {share:.0%} of its memory is there")


def main(d, early=False):
    if early:
        try:
            r = Record(d, complete=False)
            r.timeline()
            if r.samples:
                check_guests(r)
                check_alive(r)
        except (OSError, ValueError, KeyError) as e:  # a record cut short: nothing to tell
            print(f"  the record of {d} is incomplete ({e}): the scenario's reason stands")
        return
    r = Record(d)
    measured(f"{len(r.samples)} samples over {r.samples[-1]['t']:.0f} s; phases at "
             + ", ".join(f"{p} {t:.0f} s" for p, t in r.phases.items()))
    r.timeline()
    check_guests(r)
    check_limits(r)
    check_alive(r)
    check_rise(r)
    check_fall(r)
    if not r.spanning:
        check_placement(r)


if __name__ == "__main__":
    main(sys.argv[-1], "--early" in sys.argv[1:-1])
