#!/usr/bin/python3
"""Broken input for the agent.

malformed.py frames IFACE SRC_MAC DST_MAC   truncated / invalid frames on IFACE
malformed.py vxlan ADDR PORT                junk VXLAN datagrams to ADDR:PORT
Prints how many were sent. (Frames shorter than an Ethernet header cannot be
sent: AF_PACKET refuses them, so the shortest here is the bare 14-byte header.)
"""
import socket, struct, sys


def mac(m):
    return bytes(int(x, 16) for x in m.split(":"))


def ipv4(tot_len, ihl=5, proto=17):
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tot_len, 1, 0, 64, proto, 0,
                    socket.inet_aton("10.0.1.10"), socket.inet_aton("10.0.1.11"))
    return h


def frames(ifname, src, dst):
    eth = mac(dst) + mac(src) + b"\x08\x00"
    bad = [
        eth + ipv4(1000) + b"\x00" * 8,          # IPv4 header claims 1000 bytes, has 28
        eth + ipv4(40, ihl=3) + b"\x00" * 20,    # IHL below 5
        eth + ipv4(40, ihl=15) + b"\x00" * 4,    # options run past the frame
        eth + b"\x45\x00\x00",                   # IPv4 header cut short
        eth,                                     # IPv4 ethertype, no IPv4 header at all
        mac(dst) + mac(src) + b"\x08\x06" + b"\x00\x01\x08\x00",   # ARP cut short
    ]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    n = 0
    for _ in range(5):
        for f in bad:
            try:
                s.send(f)
                n += 1
            except OSError:
                pass
    print(n)


def vxlan(addr, port):
    inner = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x99" + b"\x08\x00" + b"\x45" + b"\x00" * 19
    bad = [
        b"\x08\x00",                                           # shorter than a VXLAN header
        b"\x00\x00\x00\x00\x00\x00\x01\x00" + inner,           # I flag clear
        b"\xff\xff\xff\xff\x00\x00\x01\x00" + inner,           # reserved bits set
        b"\x08\x00\x00\x00\x00\x00\x01\x00" + b"\x01\x02\x03",  # inner frame a runt
        b"\x08\x00\x00\x00\xff\xff\xfe\x00" + inner,           # a VNI nobody has
    ]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n = 0
    for _ in range(5):
        for d in bad:
            s.sendto(d, (addr, port))
            n += 1
    print(n)


if __name__ == "__main__":
    if sys.argv[1] == "frames":
        frames(*sys.argv[2:5])
    else:
        vxlan(sys.argv[2], int(sys.argv[3]))
