#!/usr/bin/python3
"""Forwarding check for bench/gateway_routes.sh: UDP probes and a sniffer.

probe.py send ADDR...            from a VM: 3 UDP datagrams to port 9 of each
                                 address, 100 ms apart, marked in the payload
probe.py sniff IFACE SECONDS OUT on the upstream's side of the uplink: every
                                 marked probe frame and every ARP request seen
                                 on IFACE for SECONDS, as JSON into OUT
"""
import json
import select
import socket
import struct
import sys
import time

MARK = b"rampart-bench-probe"


def send(addrs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(3):
        for a in addrs:
            try:
                s.sendto(MARK, (a, 9))
            except OSError as e:
                print("send %s: %s" % (a, e), file=sys.stderr)
        time.sleep(0.1)


def mac(b):
    return ":".join("%02x" % x for x in b)


def sniff(iface, seconds, out):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((iface, 0))
    end = time.time() + seconds
    probes, arps = [], []
    print("ready", flush=True)
    while True:
        left = end - time.time()
        if left <= 0:
            break
        r, _, _ = select.select([s], [], [], left)
        if not r:
            continue
        f, addr = s.recvfrom(4096)
        if addr[2] == socket.PACKET_OUTGOING or len(f) < 14:
            continue
        et = struct.unpack("!H", f[12:14])[0]
        if et == 0x0806 and len(f) >= 42 and f[20:22] == b"\x00\x01":
            arps.append({"who_has": socket.inet_ntoa(f[38:42]), "from": socket.inet_ntoa(f[28:32])})
        elif et == 0x0800 and len(f) >= 42 and f[23] == 17:
            ihl = (f[14] & 15) * 4
            if f[14 + ihl + 8:14 + ihl + 8 + len(MARK)] == MARK:
                probes.append({"dst": socket.inet_ntoa(f[30:34]), "dst_mac": mac(f[0:6]), "src_mac": mac(f[6:12]),
                               "ttl": f[22]})
    with open(out, "w") as fo:
        json.dump({"probes": probes, "arp_requests": arps}, fo)


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2:])
    else:
        sniff(sys.argv[2], float(sys.argv[3]), sys.argv[4])
