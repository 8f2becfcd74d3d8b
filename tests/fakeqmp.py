#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""A stand-in for QEMU's QMP monitor, for host tests and benchmarks only (the lab runs real
QEMU). It serves one or more unix sockets, answers what dynmemd asks (qmp_capabilities,
query-balloon, balloon, qom-set/qom-get of guest-stats) like QEMU 7.2 does, moves the
balloon at once and reports it with BALLOON_CHANGE, and logs every command it gets.

    fakeqmp.py --socket PATH[:TOTAL_MB:USED_MB[:ACTUAL_MB]] ... --log FILE [--garbage PATH]

TOTAL is the guest's -m, ACTUAL its size after the balloon (default TOTAL), USED what it
uses; it reports available = ACTUAL - USED. A file PATH.used holding a number of MiB, when
present, sets USED on the next report: a test changes a guest's demand on cue. While a file
PATH.stuck exists, "balloon" is accepted but the size does not move (a guest inflating
slowly, as real ones do under load). While a file PATH.booting exists, guest-stats has no
report yet (last-update 0, as QEMU answers before the guest's balloon driver is up). A --garbage
socket answers the capabilities handshake with bytes that are not JSON.
"""
import argparse
import json
import os
import selectors
import signal
import socket
import sys
import time

GREETING = {"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7},
                                "package": "fakeqmp"}, "capabilities": ["oob"]}}
MiB = 1 << 20


class Guest:
    def __init__(self, path, total_mb, used_mb, actual_mb, garbage):
        self.path = path
        self.total = total_mb * MiB
        self.actual = actual_mb * MiB
        self.used = used_mb * MiB
        self.garbage = garbage

    def stats(self):
        used_file = self.path + ".used"
        if os.path.exists(used_file):
            with open(used_file) as f:
                self.used = int(f.read().strip() or 0) * MiB
        available = max(self.actual - self.used, 0)
        return {"stats": {"stat-total-memory": self.actual,
                          "stat-available-memory": available,
                          "stat-free-memory": available,
                          "stat-swap-in": 0, "stat-swap-out": 0,
                          "stat-major-faults": 0, "stat-minor-faults": 0,
                          "stat-disk-caches": 0, "stat-htlb-pgalloc": 0,
                          "stat-htlb-pgfail": 0},
                "last-update": int(time.time() * 1000)}  # changes on every ask


def send(conn, obj):
    conn.sendall(json.dumps(obj).encode() + b"\r\n")


def answer(guest, conn, msg, log):
    cmd, args, mid = msg.get("execute"), msg.get("arguments", {}), msg.get("id")
    log.write(json.dumps({"socket": guest.path, "execute": cmd, "arguments": args}) + "\n")
    log.flush()
    if cmd == "qmp_capabilities" and guest.garbage:
        conn.sendall(b"this is not QMP at all\r\n")
        return
    if cmd == "query-balloon":
        ret = {"actual": guest.actual}
    elif cmd == "balloon" and os.path.exists(guest.path + ".stuck"):
        ret = {}
    elif cmd == "balloon":
        guest.actual = min(max(int(args["value"]), MiB), guest.total)
        send(conn, {"return": {}, "id": mid})
        send(conn, {"event": "BALLOON_CHANGE", "data": {"actual": guest.actual},
                    "timestamp": {"seconds": int(time.time()), "microseconds": 0}})
        return
    elif cmd == "qom-get" and args.get("property") == "guest-stats":
        ret = guest.stats()
        if os.path.exists(guest.path + ".booting"):
            ret = {"stats": {k: -1 for k in ret["stats"]}, "last-update": 0}
    elif cmd in ("qmp_capabilities", "qom-set"):
        ret = {}
    else:
        send(conn, {"error": {"class": "CommandNotFound",
                              "desc": f"The command {cmd} has not been found"}, "id": mid})
        return
    send(conn, {"return": ret, "id": mid})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", action="append", default=[])
    ap.add_argument("--garbage", action="append", default=[])
    ap.add_argument("--log", required=True)
    opts = ap.parse_args()
    sel = selectors.DefaultSelector()
    log = open(opts.log, "a")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    for spec, garbage in [(s, False) for s in opts.socket] + [(s, True) for s in opts.garbage]:
        path, *sizes = spec.split(":")
        total, used = (int(sizes[0]), int(sizes[1])) if sizes else (1024, 256)
        actual = int(sizes[2]) if len(sizes) > 2 else total
        if os.path.exists(path):
            os.unlink(path)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(4)
        sel.register(srv, selectors.EVENT_READ, ("listen", Guest(path, total, used, actual, garbage)))
    print("fakeqmp: ready", flush=True)
    buffers = {}
    while True:
        for key, _ in sel.select():
            kind, guest = key.data
            if kind == "listen":
                conn, _ = key.fileobj.accept()
                send(conn, GREETING)
                buffers[conn] = b""
                sel.register(conn, selectors.EVENT_READ, ("conn", guest))
                continue
            conn = key.fileobj
            data = conn.recv(65536)
            if not data:
                sel.unregister(conn)
                conn.close()
                continue
            buffers[conn] += data
            while b"\n" in buffers[conn]:
                line, buffers[conn] = buffers[conn].split(b"\n", 1)
                if line.strip():
                    try:
                        answer(guest, conn, json.loads(line), log)
                    except (BrokenPipeError, ConnectionResetError):
                        break


if __name__ == "__main__":
    main()
