#!/usr/bin/python3
"""A TCP stream whose content both ends can check.

tcp_stream.py serve PORT OUT     accept one connection, read it to the end,
                                 write "SHA256 NBYTES" to OUT (then exit 0)
tcp_stream.py send HOST PORT NBYTES [SECONDS [SRC_PORT]]
                                 send NBYTES of random data, spread over about
                                 SECONDS (0: as fast as possible), from
                                 SRC_PORT if given; print "SHA256 NBYTES" of
                                 what was sent
Both sides give up after 20-30 s of silence.
"""
import hashlib, os, socket, sys, time


def serve(port, out):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(1)
    ls.settimeout(30)
    c, _ = ls.accept()
    c.settimeout(20)
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(65536)
        if not b:
            break
        h.update(b)
        n += len(b)
    with open(out + ".tmp", "w") as f:
        f.write("%s %d\n" % (h.hexdigest(), n))
    os.rename(out + ".tmp", out)


def send(host, port, nbytes, seconds, src_port=0):
    deadline = time.monotonic() + 10
    while True:
        try:
            s = socket.create_connection((host, port), timeout=2,
                                         source_address=("0.0.0.0", src_port) if src_port else None)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    s.settimeout(20)
    h, sent, chunk = hashlib.sha256(), 0, 16384
    start = time.monotonic()
    while sent < nbytes:
        b = os.urandom(min(chunk, nbytes - sent))
        s.sendall(b)
        h.update(b)
        sent += len(b)
        if seconds > 0:
            ahead = start + seconds * sent / nbytes - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)   # wait for the server to close: everything was read
    s.close()
    print("%s %d" % (h.hexdigest(), sent))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3])
    else:
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
             float(sys.argv[5]) if len(sys.argv) > 5 else 0,
             int(sys.argv[6]) if len(sys.argv) > 6 else 0)
