#!/usr/bin/python3
"""Offer N routes upstream and time each stage until the gateway has them all.

Run inside the gateway's namespace (the kernel table is read there):
watch_routes.py --n N --up-sock S --gw-sock S --gw-pid P --stats F
                --install NEW LIVE [--table 100] [--poll-ms 50] [--timeout 120]

t0 is taken just before NEW is renamed over LIVE (the upstream BIRD's
include) and `configure` is sent to the upstream BIRD. Then, until every
stage holds N or the timeout:
  up_static    the upstream's static protocol has imported N (`show protocols all`)
  up_exported  the upstream's BGP protocol has exported N (queued to the session)
  bird         the gateway's BIRD has imported N over BGP
  bird_kernel  the gateway's BIRD kernel protocol has exported N (its own count)
  kernel       kernel table TABLE holds N: counted from RTM_NEWROUTE/RTM_DELROUTE
               notifications (new = no NLM_F_REPLACE), timestamped as they are
               read: no dump per poll (a dump of 1M routes costs seconds, and
               /proc/net/fib_triestat ~0.1 s of kernel time per read)
  gw           the gateway's learned_routes = N: SIGUSR1, then its stats file,
               timed by the file's mtime (when the gateway wrote it)
Prints one JSON object: seconds after t0 per stage (null: not reached), the
last counts, and how the kernel count was checked at the end.
"""
import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import birdsock  # noqa: E402

RTMGRP_IPV4_ROUTE = 0x40
RTM_NEWROUTE, RTM_DELROUTE = 24, 25
NLM_F_REPLACE = 0x100


def triestat_prefixes(table):
    with open("/proc/net/fib_triestat") as f:
        t = f.read()
    i = t.find("Id %d:" % table)
    if i < 0:
        return 0
    j = t.find("Prefixes:", i)
    return int(t[j + 9:t.find("\n", j)])


class KernelWatch(threading.Thread):
    def __init__(self, table, n):
        super().__init__(daemon=True)
        self.table, self.n = table, n
        self.count = 0
        self.t_full = None
        self.overrun = False
        self.stop = False
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
        try:
            self.s.setsockopt(socket.SOL_SOCKET, 33, 256 << 20)   # SO_RCVBUFFORCE
        except OSError:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
        self.s.bind((0, RTMGRP_IPV4_ROUTE))
        self.s.settimeout(0.2)

    def run(self):
        tb = self.table
        unpack = struct.unpack_from
        while not self.stop:
            try:
                d = self.s.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:   # ENOBUFS: notifications lost, the count is unknown from here
                self.overrun = True
                return
            off, c = 0, self.count
            while off + 21 <= len(d):
                ln, ty, fl = unpack("=IHH", d, off)
                if d[off + 20] == tb:
                    if ty == RTM_NEWROUTE and not fl & NLM_F_REPLACE:
                        c += 1
                    elif ty == RTM_DELROUTE:
                        c -= 1
                off += (ln + 3) & ~3
            self.count = c
            if self.t_full is None and c >= self.n:
                self.t_full = time.time()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--up-sock", required=True)
    ap.add_argument("--gw-sock", required=True)
    ap.add_argument("--gw-pid", type=int, required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--install", nargs=2, required=True)
    ap.add_argument("--table", type=int, default=100)
    ap.add_argument("--poll-ms", type=float, default=50)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--progress", action="store_true")
    a = ap.parse_args()
    n = a.n
    poll = a.poll_ms / 1000.0

    kw = KernelWatch(a.table, n)
    kw.start()
    up = birdsock.Bird(a.up_sock)
    gw = birdsock.Bird(a.gw_sock)
    names = {}
    for nm, p in birdsock.protocols(gw).items():
        names.setdefault(p["proto"], nm)
    gw_bgp, gw_kernel = names.get("BGP"), names.get("Kernel")

    t = {k: None for k in ("up_static", "up_exported", "bird", "bird_kernel", "kernel", "gw")}
    last = {}
    t0 = time.time()
    os.rename(a.install[0], a.install[1])
    codes, lines = up.cmd("configure")
    t_conf = time.time()
    if birdsock.failed(codes):
        print(json.dumps({"error": "upstream configure: " + " ".join(lines)}))
        return 1
    deadline = t0 + a.timeout
    next_progress = t0 + 2
    stats_mtime = 0
    while time.time() < deadline:
        now = time.time()
        pu = birdsock.protocols(up)
        sp, bp = pu.get("offered", {}), pu.get("to_gateway", {})
        last["up_static"], last["up_exported"] = sp.get("imported", 0), bp.get("exported", 0)
        if t["up_static"] is None and last["up_static"] >= n:
            t["up_static"] = now
        if t["up_exported"] is None and last["up_exported"] >= n:
            t["up_exported"] = now
        now = time.time()
        pg = birdsock.protocols(gw)
        last["bird"] = pg.get(gw_bgp, {}).get("imported", 0)
        last["bird_kernel"] = pg.get(gw_kernel, {}).get("exported", 0)
        if t["bird"] is None and last["bird"] >= n:
            t["bird"] = now
        if t["bird_kernel"] is None and last["bird_kernel"] >= n:
            t["bird_kernel"] = now
        last["kernel"] = kw.count
        if t["kernel"] is None and kw.t_full is not None:
            t["kernel"] = kw.t_full
        if t["kernel"] is None and kw.overrun:
            c = triestat_prefixes(a.table)   # fallback once notifications were lost
            last["kernel"] = c
            if c >= n:
                t["kernel"] = time.time()
        if t["gw"] is None:
            try:
                os.kill(a.gw_pid, signal.SIGUSR1)
            except ProcessLookupError:
                print(json.dumps({"error": "the gateway exited"}))
                return 1
        time.sleep(poll)
        if t["gw"] is None:
            try:
                st = os.stat(a.stats)
                if st.st_mtime_ns != stats_mtime:
                    stats_mtime = st.st_mtime_ns
                    with open(a.stats) as f:
                        g = json.load(f)["gateway"]
                    last["gw"] = g.get("learned_routes", 0)
                    if last["gw"] >= n:
                        t["gw"] = st.st_mtime_ns / 1e9
            except (OSError, ValueError, KeyError):
                pass
        if a.progress and time.time() >= next_progress:
            print("  %5.1fs %s" % (time.time() - t0, " ".join("%s=%s" % kv for kv in last.items())),
                  file=sys.stderr, flush=True)
            next_progress += 2
        if all(v is not None for v in t.values()):
            break
    kw.stop = True
    end = {"n": n, "t0": t0, "configure_s": t_conf - t0,
           "s": {k: (None if v is None else round(v - t0, 4)) for k, v in t.items()},
           "last": last, "kernel_overrun": kw.overrun,
           "kernel_final_triestat": triestat_prefixes(a.table), "poll_ms": a.poll_ms}
    t1 = time.time()
    end["bird_route_count"] = birdsock.route_count(gw)
    end["bird_route_count_s"] = round(time.time() - t1, 3)
    print(json.dumps(end))
    return 0 if all(v is not None for v in t.values()) else 2


if __name__ == "__main__":
    sys.exit(main())
