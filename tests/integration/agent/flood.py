#!/usr/bin/python3
"""A bounded flood of new flows: COUNT UDP packets to DST, each with its own
source port, within at most SECONDS. Prints how many were sent.

flood.py SRC DST COUNT SECONDS
"""
import socket, struct, sys, time

src, dst, count, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setblocking(False)
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + 16, 0, 0, 64, 17, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
payload = b"rampart-flood..."
deadline = time.monotonic() + seconds
sent = 0
for i in range(count):
    if time.monotonic() > deadline:
        break
    udp = struct.pack("!HHHH", 1024 + i % 60000, 9, 8 + len(payload), 0)
    try:
        s.sendto(ip + udp + payload, (dst, 0))
        sent += 1
    except BlockingIOError:
        time.sleep(0.001)
    except OSError:
        pass
print(sent)
