#!/usr/bin/python3
"""N distinct random-looking unicast IPv4 prefixes as a BIRD static protocol.

gen_routes.py N OUT [PROBES]

OUT: an include file holding `protocol static offered { ipv4; route P blackhole; ... }`
(N = 0: the protocol with no routes). PROBES (optional): three host addresses
inside generated /24s, one per line, for the forwarding check.

Lengths follow the mix of today's Internet table (about 60 % /24, then /22,
/23, /21, /20, ... down to a few /8-/15; nothing longer than /24). Addresses
are random over public unicast space: 0/8, 10/8, 100.64/10, 127/8,
169.254/16, 172.16/12, 192.168/16, 198.18/15 (kept free for the "no route"
control probe) and 224/3 are left out. Seeded by N: the same N gives the same
table every run.
"""
import random
import sys

MIX = [(24, 620), (23, 90), (22, 130), (21, 50), (20, 45), (19, 25), (18, 13), (17, 9), (16, 13),
       (15, 2), (14, 1), (13, 1), (12, 1)]   # per mille (sums to 1000)


def excluded(a):
    o1, o2 = a >> 24, (a >> 16) & 255
    return (o1 in (0, 10, 127) or o1 >= 224 or (o1 == 100 and 64 <= o2 < 128) or (o1 == 169 and o2 == 254)
            or (o1 == 172 and 16 <= o2 < 32) or (o1 == 192 and o2 == 168) or (o1 == 198 and o2 in (18, 19)))


def main():
    n = int(sys.argv[1])
    out = sys.argv[2]
    rnd = random.Random(n)
    lens = []
    for ln, w in MIX:
        lens += [ln] * w
    seen = set()
    lines = []
    probes = []
    while len(seen) < n:
        ln = lens[rnd.randrange(1000)]
        a = rnd.getrandbits(32) & (0xffffffff << (32 - ln)) & 0xffffffff
        if excluded(a) or (excluded(a | ((1 << (32 - ln)) - 1))):
            continue
        key = (a << 6) | ln
        if key in seen:
            continue
        seen.add(key)
        lines.append("route %d.%d.%d.%d/%d blackhole;" % (a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, ln))
        if ln == 24 and len(probes) < 3 and len(seen) > n // 2:
            probes.append("%d.%d.%d.77" % (a >> 24, (a >> 16) & 255, (a >> 8) & 255))
    with open(out + ".tmp", "w") as f:
        f.write("protocol static offered {\n    ipv4;\n")
        if lines:
            f.write("\n".join(lines))
            f.write("\n")
        f.write("}\n")
    import os
    os.replace(out + ".tmp", out)
    if len(sys.argv) > 3:
        with open(sys.argv[3], "w") as f:
            f.write("\n".join(probes) + "\n")


if __name__ == "__main__":
    main()
