#!/usr/bin/python3
"""ICMP echo from a raw socket (the machine has no ping binary).

ping.py DST [-c COUNT] [-i INTERVAL] [-t TTL] [-n NEED] [-W WAIT] [--ttl-exceeded]

Sends up to COUNT echo requests every INTERVAL seconds and prints one line per
answer, flushed, so a caller can follow a running ping through a file:
  "reply SEQ from ADDR" for an echo reply from DST,
  "time-exceeded SEQ from ADDR" for an ICMP type 11 quoting one of our requests.
Stops as soon as NEED answers of the wanted kind arrived (echo replies, or
time-exceeded with --ttl-exceeded) and exits 0; exits 1 if they did not
arrive within the sends plus WAIT seconds.
"""
import argparse, os, select, socket, struct, sys, time


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dst")
    ap.add_argument("-c", type=int, default=5)
    ap.add_argument("-i", type=float, default=0.2)
    ap.add_argument("-t", type=int, default=64)
    ap.add_argument("-n", type=int, default=1)
    ap.add_argument("-W", type=float, default=1.0)
    ap.add_argument("--ttl-exceeded", action="store_true")
    a = ap.parse_args()

    ident = os.getpid() & 0xffff
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, a.t)
    got = 0
    seq = 0
    next_send = time.monotonic()
    deadline = None
    while True:
        now = time.monotonic()
        if seq < a.c and now >= next_send:
            seq += 1
            payload = struct.pack("!d", time.time()) + bytes(range(48))
            hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + payload), ident, seq) + payload
            try:
                s.sendto(pkt, (a.dst, 0))
            except OSError as e:
                print("send-error %d %s" % (seq, e), flush=True)
            next_send = now + a.i
            if seq == a.c:
                deadline = now + a.W
        if deadline is not None and now >= deadline:
            return 1
        wait = (next_send if seq < a.c else deadline) - now
        r, _, _ = select.select([s], [], [], max(0.0, min(wait, 0.5)))
        if not r:
            continue
        data, (src, _) = s.recvfrom(2048)
        ihl = (data[0] & 15) * 4
        icmp = data[ihl:]
        if len(icmp) < 8:
            continue
        typ, _, _, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
        if typ == 0 and rid == ident and src == a.dst:
            print("reply %d from %s" % (rseq, src), flush=True)
            if not a.ttl_exceeded:
                got += 1
        elif typ == 11 and len(icmp) >= 8 + 20 + 8:
            inner = icmp[8:]
            iihl = (inner[0] & 15) * 4
            q = inner[iihl:iihl + 8]
            if len(q) == 8 and q[0] == 8 and struct.unpack("!H", q[4:6])[0] == ident:
                print("time-exceeded %d from %s" % (struct.unpack("!H", q[6:8])[0], src), flush=True)
                if a.ttl_exceeded:
                    got += 1
        if got >= a.n:
            return 0


if __name__ == "__main__":
    sys.exit(main())
