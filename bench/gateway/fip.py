#!/usr/bin/python3
"""Helpers of bench/gateway_fip.sh. Every time printed is time.time() (one
clock for every namespace and process).

fip.py watch ADDR --frr-vty SOCK [--bird SOCK] [--vanish] [--timeout S] [--poll-ms 10]
    Run in the upstream's namespace. Prints "ready", then waits until ADDR/32
    appears (or, with --vanish, is gone) in: the upstream kernel's FIB
    (rtnetlink notification, timed as read), FRR bgpd's RIB (its vty socket,
    polled), and with --bird the gateway's BIRD (`show route for`, polled).
    Prints one JSON line {"fib": t, "frr": t, "bird": t} (null: not seen).
fip.py ping ADDR [--interval 0.005] [--timeout S] [--ttl 16]
    Run in the internet host's namespace. Prints "ready", then sends ICMP
    echo requests every INTERVAL until the first echo reply from ADDR; prints
    {"first_send": t, "reply": t, "sent": n} (reply null on timeout).
fip.py announce ADDR --bird SOCK --file ANNOUNCE [--restore SAVED]
    The baseline's step: adds `route ADDR/32 blackhole;` to the gateway's
    announce include (the copy SAVED first) and sends `configure` to its
    BIRD; with --restore, puts SAVED back and configures. Prints
    {"t0": before the file is written, "configured": after BIRD's reply}.
"""
import argparse
import json
import os
import select
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import birdsock  # noqa: E402


class Vty:
    """An FRR daemon's vty socket: command + NUL; output ends with 3 NULs and a status byte."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(5)
        self.s.connect(path)

    def cmd(self, c):
        self.s.sendall(c.encode() + b"\0")
        buf = b""
        while not (len(buf) >= 4 and buf[-4:-1] == b"\0\0\0"):
            d = self.s.recv(65536)
            if not d:
                raise ConnectionError("vty closed")
            buf += d
        return buf[:-4].decode("utf-8", "replace")


def fib_watch(addr, vanish, out, stop):
    want = socket.inet_aton(addr)
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((0, 0x40))   # RTMGRP_IPV4_ROUTE
    s.settimeout(0.05)
    ty_want = 25 if vanish else 24
    while not stop.is_set():
        try:
            d = s.recv(1 << 16)
        except socket.timeout:
            continue
        now = time.time()
        off = 0
        while off + 28 <= len(d):
            ln, ty = struct.unpack_from("=IH", d, off)
            if ty == ty_want and d[off + 17] == 32:   # rtm_dst_len
                a = off + 28
                while a + 4 <= off + ln:
                    alen, atype = struct.unpack_from("=HH", d, a)
                    if alen < 4:
                        break
                    if atype == 1 and d[a + 4:a + 8] == want:   # RTA_DST
                        if out.get("fib") is None:
                            out["fib"] = now
                    a += (alen + 3) & ~3
            off += (ln + 3) & ~3


def watch(a):
    out = {"fib": None, "frr": None}
    stop = threading.Event()
    vty = Vty(a.frr_vty)
    bird = birdsock.Bird(a.bird) if a.bird else None
    if bird:
        out["bird"] = None
    th = threading.Thread(target=fib_watch, args=(a.addr, a.vanish, out, stop), daemon=True)
    th.start()
    time.sleep(0.05)
    print("ready", flush=True)
    end = time.time() + a.timeout
    q = "show bgp ipv4 unicast %s/32 json" % a.addr
    while time.time() < end and any(v is None for v in out.values()):
        now = time.time()
        if out["frr"] is None:
            has = '"paths"' in vty.cmd(q)
            if has != a.vanish:
                out["frr"] = now
        if bird and out["bird"] is None:
            now = time.time()
            codes, lines = bird.cmd("show route %s/32 table master4" % a.addr)
            has = any(ln.startswith("%s/32" % a.addr) for ln in lines)
            if has != a.vanish:
                out["bird"] = now
        time.sleep(a.poll_ms / 1000.0)
    stop.set()
    print(json.dumps(out), flush=True)
    return 0 if all(v is not None for v in out.values()) else 1


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ping(a):
    ident = os.getpid() & 0xffff
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, a.ttl)
    s.setblocking(False)
    print("ready", flush=True)
    # pings before the caller's t0 are harmless: no reply can come before the FIP exists
    seq, first, reply = 0, None, None
    nxt = time.time()
    end = nxt + a.timeout
    while True:
        now = time.time()
        if now >= end:
            break
        if now >= nxt:
            seq = (seq + 1) & 0xffff
            payload = bytes(32)
            hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            try:
                s.sendto(struct.pack("!BBHHH", 8, 0, csum(hdr + payload), ident, seq) + payload, (a.addr, 0))
            except OSError:
                pass
            if first is None:
                first = now
            nxt += a.interval
        r, _, _ = select.select([s], [], [], max(0.0, min(nxt, end) - time.time()))
        if not r:
            continue
        try:
            data, (src, _) = s.recvfrom(2048)
        except BlockingIOError:
            continue
        t = time.time()
        icmp = data[(data[0] & 15) * 4:]
        if len(icmp) >= 8 and icmp[0] == 0 and src == a.addr and struct.unpack("!H", icmp[4:6])[0] == ident:
            reply = t
            break
    print(json.dumps({"first_send": first, "reply": reply, "sent": seq}), flush=True)
    return 0 if reply else 1


def announce(a):
    bird = birdsock.Bird(a.bird)
    t0 = time.time()
    if a.restore:
        with open(a.restore) as f:
            text = f.read()
    else:
        with open(a.file) as f:
            text = f.read()
        with open(a.saved, "w") as f:
            f.write(text)
        i = text.rindex("}")
        text = text[:i] + "    route %s/32 blackhole;\n" % a.addr + text[i:]
    with open(a.file + ".bench", "w") as f:
        f.write(text)
    os.rename(a.file + ".bench", a.file)
    codes, lines = bird.cmd("configure")
    t1 = time.time()
    print(json.dumps({"t0": t0, "configured": t1, "ok": not birdsock.failed(codes)}), flush=True)
    return 1 if birdsock.failed(codes) else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    w = sub.add_parser("watch")
    w.add_argument("addr")
    w.add_argument("--frr-vty", required=True)
    w.add_argument("--bird")
    w.add_argument("--vanish", action="store_true")
    w.add_argument("--timeout", type=float, default=10)
    w.add_argument("--poll-ms", type=float, default=10)
    p = sub.add_parser("ping")
    p.add_argument("addr")
    p.add_argument("--interval", type=float, default=0.005)
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--ttl", type=int, default=16)
    n = sub.add_parser("announce")
    n.add_argument("addr")
    n.add_argument("--bird", required=True)
    n.add_argument("--file", required=True)
    n.add_argument("--saved")
    n.add_argument("--restore")
    a = ap.parse_args()
    return {"watch": watch, "ping": ping, "announce": announce}[a.what](a)


if __name__ == "__main__":
    sys.exit(main())
