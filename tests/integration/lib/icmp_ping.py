#!/usr/bin/python3
"""icmp_ping.py DST [COUNT] [TIMEOUT_S]: ICMP echo with a raw socket, for
namespaces on machines without iputils-ping. Exit 0 when every echo got its
reply; prints one line per echo (reply, timeout, or an ICMP error)."""
import socket, struct, sys, time, os
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b)//2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
dst, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.settimeout(timeout)
ok = 0
for seq in range(count):
    ident = int(os.environ.get("PING_ID", os.getpid())) & 0xffff
    hdr = struct.pack('!BBHHH', 8, 0, 0, ident, seq) + b'rampart-ping' * 4
    pkt = struct.pack('!BBHHH', 8, 0, csum(hdr), ident, seq) + hdr[8:]
    t = time.time(); s.sendto(pkt, (dst, 0))
    try:
        while True:
            data, addr = s.recvfrom(2048)
            ihl = (data[0] & 15) * 4; typ, code, _, rid, rseq = struct.unpack('!BBHHH', data[ihl:ihl+8])
            if typ == 0 and rid == ident and rseq == seq:
                ok += 1; print(f"reply from {addr[0]} seq {seq} {1000*(time.time()-t):.2f} ms"); break
            if typ in (3, 11): print(f"icmp type {typ} code {code} from {addr[0]}"); break
    except socket.timeout:
        print(f"timeout seq {seq}")
sys.exit(0 if ok == count else 1)
