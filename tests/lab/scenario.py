#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The dynamic-memory scenario, inside the lab; shared by lab test 5 and the demo.

    scenario.py DIR [--spanning no] [--top SECONDS]

Three real KVM guests, each with a workload that wants what the scenario tells it (through
lab-guest.sh demand) and grows only as its guest gets memory:

    heavy   weight 8000, 192M..384M, buffer 25%: wants 32M, then 192M, then 32M again
    light   weight 2000, 192M..384M, buffer 25%: the same wants as heavy, at the same moments
    steady  weight 5000, 160M..256M, buffer 20%: wants 64M throughout

dynmemd (cgroup and balloon, plus numa with --spanning no) manages them. The phases:

    settle  the guests boot at their maximum and dynmemd, with memory to spare, brings each
            down to what it needs (balloons move slowly in the lab: about a minute);
    short   the reserve is raised (a reload) until the VMs share the budget they hold now plus
            what heavy alone will want when it rises: so when both rise the host is short,
            and only weight can say who gets the memory (with spanning off, heavy's node's
            budget: heavy and light share node 1);
    rise    heavy and light want 160M more, at once, until heavy's workload has it all;
    fall    they want 32M again: the memory must come back, each to its settled size.

Every second it records `dynmem status --json` and what each workload holds and wants (its
console's "demand: holding N MiB of M MiB") in DIR/samples.jsonl, the phases' start times in
DIR/phases.json; at the end each guest's memory.high (before and after dynmemd exits) and
memory.numa_stat, and its console. With --top it prints a `dynmem top` frame every SECONDS and
says what is happening, for the demo. It stops everything it started.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_GUEST = f"{REPO}/scripts/lab-guest.sh"
LAB_FAILED = 75  # lab-guest.sh and lab.sh: the lab failed (its emulation), not the test
DYNMEM = f"{REPO}/.output/dynmem"
DYNMEMD = f"{REPO}/.output/dynmemd"
MiB = 1 << 20

# Sizes in MiB. Small, because the lab is slow: a nested guest under TCG takes its new pages
# at 2-3 MiB/s.
# With spanning off each guest is kept on its node: heavy and light share node 1 (they
# compete there), steady has node 0. Pinned in the config, since best fit would put all three
# on one node, and the lab's nodes have one CPU each.
GUESTS = {
    "heavy": dict(weight=8000, minimum=192, startup=256, maximum=384, buffer=25, low=32, high=192,
                  node=1),
    "light": dict(weight=2000, minimum=192, startup=256, maximum=384, buffer=25, low=32, high=192,
                  node=1),
    "steady": dict(weight=5000, minimum=160, startup=192, maximum=256, buffer=20, low=64, high=64,
                   node=0),
}
RISING = ("heavy", "light")
# Bounds for a phase to reach its end, not performance targets: the lab's balloons move at a
# few MiB/s under nested KVM on TCG.
SETTLE_S, RISE_S, FALL_S = 300, 300, 180
HOLD_S = 30  # recorded after the rise has settled, while the host stays short
SETTLED = 8 * MiB  # a balloon this close to its target has arrived


def back_to(size):
    """Given back down to size: dynmem leaves a VM where it is when the shrink would be under
    5% of its size (hysteresis, docs/allocator.md), and a balloon stops within SETTLED."""
    return size * 100 // 95 + SETTLED
HOLDING = re.compile(rb"demand: holding (\d+) MiB of (\d+) MiB")


def pools(status):
    """What shares a budget: (name, its VMs, the budget). The host's VMs, or with spanning off
    each node's. A pending VM (its balloon's size unknown, or its guest not reported yet) is not
    planned: what it may hold is already taken out of the budget."""
    h = status["host"]
    vms = [v for v in status["vms"] if v["reason"] != "pending"]
    if h["numa_spanning"]:
        return [("the host", vms, h["budget_bytes"])]
    return [(f"node {n['node']}", [v for v in vms if v["node"] == n["node"]], n["budget_bytes"])
            for n in h["numa_nodes"]]


def pool_budget(status, name):
    """What the VM's pool shares: the host's budget, or with spanning off its node's."""
    return next((budget for _, vms, budget in pools(status)
                 if any(v["name"] == name for v in vms)), 0)


def say(msg):
    print(f"scenario: {msg}", file=sys.stderr, flush=True)


def guest(verb, name, *args, capture=False):
    run = subprocess.run([LAB_GUEST, verb, name, *args], check=True, text=True,
                         stdout=subprocess.PIPE if capture else None)
    return run.stdout.strip() if capture else None


class Scenario:
    def __init__(self, d, spanning, top_every):
        self.dir = d
        self.spanning = spanning
        self.top_every = top_every
        self.daemon = None
        self.started = []
        self.samples = open(f"{d}/samples.jsonl", "w")
        self.phases = {}
        self.t0 = time.monotonic()
        self.last_top = -top_every if top_every else None
        self.env = dict(os.environ, DYNMEM_SOCKET=f"{d}/dynmem.sock")
        self.paths = {}  # per guest: its QMP socket, console log and cgroup, asked once
        self.settled = None  # per guest: its size once settled, in bytes

    # --- dynmemd ---------------------------------------------------------------------------

    def write_config(self, reserve_mib):
        enforcers = "cgroup, balloon" + ("" if self.spanning else ", numa")
        lines = ["[host]", f"reserve = {reserve_mib}M", "interval = 1000",
                 f"numa-spanning = {'yes' if self.spanning else 'no'}",
                 f"control-socket = {self.dir}/dynmem.sock", f"state-dir = {self.dir}/state",
                 "", "[export]", f"textfile = {self.dir}/dynmem.prom"]
        for name, g in GUESTS.items():
            lines += ["", f"[vm {name}]", f"cgroup = machine.slice/{name}.scope",
                      f"qmp = {self.paths[name]['qmp']}",
                      f"startup = {g['startup']}M", f"minimum = {g['minimum']}M",
                      f"maximum = {g['maximum']}M", f"buffer = {g['buffer']}",
                      f"weight = {g['weight']}", f"enforcers = {enforcers}"]
            lines += [] if self.spanning else [f"numa = {g['node']}"]
        with open(f"{self.dir}/dynmem.conf", "w") as f:
            f.write("\n".join(lines) + "\n")

    def status(self):
        out = subprocess.run([DYNMEM, "status", "--json"], env=self.env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return json.loads(out.stdout) if out.returncode == 0 else None

    # --- recording --------------------------------------------------------------------------

    def now(self):
        return round(time.monotonic() - self.t0, 1)

    def workloads(self):
        """What each workload holds and wants, in MiB, from the last line it printed."""
        seen = {}
        for name in GUESTS:
            try:
                with open(self.paths[name]["log"], "rb") as f:
                    found = HOLDING.findall(f.read())
            except OSError:
                found = []
            seen[name] = dict(held=int(found[-1][0]), want=int(found[-1][1])) if found else None
        return seen

    def cgroups(self):
        """What each guest's cgroup holds and how often it hit memory.high, in bytes."""
        seen = {}
        for name in GUESTS:
            d = self.paths[name]["cgroup"]
            try:
                with open(f"{d}/memory.current") as f:
                    row = dict(current=int(f.read()))
                with open(f"{d}/memory.high") as f:
                    row["high"] = f.read().strip()
                with open(f"{d}/memory.events") as f:
                    row["high_events"] = int(f.read().split("high ")[1].split()[0])
                with open(f"{d}/memory.stat") as f:
                    stat = dict(line.split() for line in f)
                keys = ("anon", "anon_thp", "file", "file_mapped", "kernel")
                row.update({k: int(stat.get(k, 0)) for k in keys})
            except (OSError, IndexError, ValueError):
                row = None
            seen[name] = row
        return seen

    def sample(self, phase):
        st = self.status()
        row = dict(t=self.now(), phase=phase, status=st, workloads=self.workloads(),
                   cgroups=self.cgroups())
        self.samples.write(json.dumps(row) + "\n")
        self.samples.flush()
        if self.top_every and row["t"] - self.last_top >= self.top_every:
            self.last_top = row["t"]
            print(flush=True)
            subprocess.run([DYNMEM, "top", "--once", "--width", "150"], env=self.env)
        return row

    def sample_until(self, phase, seconds, done):
        """Sample every second until done(row) holds (True) or seconds pass (False)."""
        self.phases[phase] = self.now()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            row = self.sample(phase)
            if row["status"] and done(row):
                return True
            time.sleep(1)
        return False

    # --- the phases -------------------------------------------------------------------------

    def start(self):
        for name, g in GUESTS.items():
            self.paths[name] = dict(qmp=guest("qmp-path", name, capture=True),
                                    log=guest("log-path", name, capture=True),
                                    cgroup=guest("cgroup", name, capture=True))
            # No transparent huge pages behind guest RAM in the lab: with them, balloon
            # traffic once soft-locked the lab's kernel inside two QEMUs for over ten minutes
            # (nested KVM emulated by TCG). A real host keeps its THP; dynmem allows for them.
            no_thp = ["--no-thp"] if os.environ.get("DYNMEM_LAB") else []
            # Each guest's vCPUs stay on one of the lab's CPUs, its node's: moving a running
            # nested guest's vCPUs can hang the lab's kernel (TCG), and with them free to
            # move, guests were reset more often (docs/lab-scenario.md, session 8). Spanning
            # off, dynmemd keeps each guest there (cpuset.cpus and .mems) and moves its
            # memory; spanning on, its memory spans.
            cpus = ["--cpu-node", str(g["node"])]
            guest("start", name, "--mem", str(g["maximum"]), *no_thp, *cpus, "--follow")
            self.started.append(name)
            guest("demand", name, f"{g['low']}M")
        # Memory to spare at first: the guests booted at their maximum fit.
        self.write_config(0)
        self.daemon = subprocess.Popen([DYNMEMD, "--config", f"{self.dir}/dynmem.conf",
                                        "--foreground"],
                                       stderr=open(f"{self.dir}/dynmemd.log", "w"))
        for name in GUESTS:
            guest("wait", name, "240")
        say(f"{len(GUESTS)} guests up; dynmemd brings them down to what they need")

    def settle(self):
        calm = []

        def settled(row):
            vms = row["status"]["vms"]
            ok = len(vms) == len(GUESTS) and all(
                v["qmp_state"] == "ready" and v["overhead_bytes"] > 0
                and v["balloon_actual_bytes"]
                and abs(v["balloon_actual_bytes"] - v["target_bytes"]) <= SETTLED
                and row["workloads"][v["name"]]
                and row["workloads"][v["name"]]["held"] == GUESTS[v["name"]]["low"]
                for v in vms)
            calm.append(ok)
            return calm[-3:] == [True] * 3

        if not self.sample_until("settle", SETTLE_S, settled):
            raise SystemExit(f"scenario: the guests did not settle in {SETTLE_S} s: "
                             f"read {self.dir}/samples.jsonl and dynmemd.log")
        self.settled = {v["name"]: v["balloon_actual_bytes"] for v in self.status()["vms"]}

    def make_short(self):
        """Reload with a reserve that leaves heavy's pool (the host, or with spanning off its
        node) what its VMs hold now plus what heavy alone will want once it rises."""
        st = self.status()
        heavy = next(v for v in st["vms"] if v["name"] == "heavy")
        pool = [v for v in st["vms"] if self.spanning or v["node"] == heavy["node"]]
        if {"heavy", "light"} - {v["name"] for v in pool}:
            raise SystemExit(f"scenario: heavy and light were placed on different nodes "
                             f"({[(v['name'], v['node']) for v in st['vms']]}): weight "
                             f"cannot be tested; read {self.dir}/dynmemd.log")
        held = sum(v["balloon_actual_bytes"] for v in pool) // MiB
        g = GUESTS["heavy"]
        # What heavy will want: its demand now plus the rise, plus its buffer.
        peak = (heavy["demand_bytes"] // MiB + g["high"] - g["low"]) * (100 + g["buffer"]) // 100
        budget = held + min(peak, g["maximum"]) - heavy["balloon_actual_bytes"] // MiB + 8
        h = st["host"]
        overhead = sum(v["overhead_bytes"] for v in pool) // MiB
        if self.spanning:
            reserve = h["total_bytes"] // MiB - overhead - budget
        else:  # a node carries a share of the reserve in proportion to its size
            node = h["numa_nodes"][heavy["node"]]["total_bytes"] // MiB
            reserve = (node - overhead - budget) * (h["total_bytes"] // MiB) // node
        self.write_config(max(0, reserve))
        self.daemon.send_signal(signal.SIGHUP)
        where = "the VMs" if self.spanning else f"node {heavy['node']}'s VMs"
        say(f"host made short: {where} share {budget} MiB (they hold {held} MiB)")
        self.sample_until("short", 30, lambda row: pool_budget(row["status"], "heavy")
                          <= (budget + 16) * MiB)

    def rise(self):
        for name in RISING:
            guest("demand", name, f"{GUESTS[name]['high']}M")
        say(f"{' and '.join(RISING)} now want {GUESTS['heavy']['high']} MiB")

        def risen(row):
            w = row["workloads"]["heavy"]
            return w and w["held"] == GUESTS["heavy"]["high"]

        self.sample_until("rise", RISE_S, risen)
        end = time.monotonic() + HOLD_S
        while time.monotonic() < end:
            self.sample("rise")
            time.sleep(1)

    def fall(self):
        settled = {v["name"]: v["balloon_actual_bytes"] for v in self.status()["vms"]} \
            if not self.settled else self.settled
        for name in RISING:
            guest("demand", name, f"{GUESTS[name]['low']}M")
        say(f"{' and '.join(RISING)} want {GUESTS['heavy']['low']} MiB again")

        def given_back(row):
            return all(v["balloon_actual_bytes"] <= back_to(settled[v["name"]])
                       for v in row["status"]["vms"] if v["name"] in RISING)

        self.sample_until("fall", FALL_S, given_back)

    def keep(self, name, what, suffix):
        try:
            with open(f"{self.paths[name]['cgroup']}/{what}") as src:
                text = src.read()
        except OSError as e:
            text = f"unreadable: {e}\n"
        with open(f"{self.dir}/{name}.{what}{suffix}", "w") as dst:
            dst.write(text)

    def stop_daemon(self):
        for name in GUESTS:
            self.keep(name, "memory.high", "")
            self.keep(name, "memory.numa_stat", "")
        self.daemon.send_signal(signal.SIGTERM)
        rc = self.daemon.wait(timeout=60)
        self.daemon = None
        if rc:
            say(f"dynmemd exited with {rc}: read {self.dir}/dynmemd.log")
        for name in GUESTS:
            self.keep(name, "memory.high", ".after-exit")

    def cleanup(self):
        if self.daemon:
            self.daemon.kill()
            self.daemon.wait()
        for name in self.started:
            try:
                with open(self.paths[name]["log"], "rb") as src, \
                        open(f"{self.dir}/{name}.console.log", "wb") as dst:
                    dst.write(src.read())
            except OSError:
                pass
            subprocess.run([LAB_GUEST, "stop", name], stderr=subprocess.DEVNULL)
        with open(f"{self.dir}/phases.json", "w") as f:
            json.dump(dict(phases=self.phases, guests=GUESTS, rising=RISING,
                           spanning=self.spanning), f)

    def run(self):
        self.start()
        self.settle()
        self.make_short()
        self.rise()
        self.fall()
        self.stop_daemon()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--spanning", choices=("yes", "no"), default="yes")
    ap.add_argument("--top", type=float, default=0, metavar="SECONDS")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    s = Scenario(a.dir, a.spanning == "yes", a.top)
    # A timeout's SIGTERM must still stop the guests.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        s.run()
    except subprocess.CalledProcessError as e:
        # A guest the lab's emulation never ran (lab-guest.sh says 75): the lab's failure,
        # to be told from dynmem's, as lab.sh runs the test once more in a new lab for it.
        if e.returncode != LAB_FAILED:
            raise
        say(f"{' '.join(e.cmd[1:3])}: the lab failed under it (exit {LAB_FAILED})")
        sys.exit(LAB_FAILED)
    finally:
        s.cleanup()


if __name__ == "__main__":
    main()
