#!/usr/bin/env python3
"""Two API servers share a three-node ZooKeeper ensemble; the ensemble leader
is killed (SIGKILL) in the middle of a stream of writes. The API keeps
serving, every acknowledged write is readable through both API servers, and
a change made through one reaches the other."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration", "lib"))
from rampart_api import Api, Checker  # noqa: E402

c = Checker("api zookeeper ensemble failover")
hosts = os.environ["RAMPART_TEST_ZK_ENSEMBLE"]
ports = [int(p) for p in os.environ["RAMPART_TEST_ZK_PORTS"].split(",")]


def mode(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"srvr")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        for line in data.decode().splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None


a = Api(backend="zookeeper", zk=hosts, chroot="/rampart-ha").start()
b = Api(backend="zookeeper", zk=hosts, chroot="/rampart-ha").start()
acked = {}
errors = []
stop = threading.Event()


def writer(k):
    i = 0
    while not stop.is_set() and i < 2000:
        name = f"z{k}-{i}"
        try:
            st, body = (a if k % 2 == 0 else b).post("/v1/chains", {"name": name}, timeout=30)
            if st == 201:
                acked[name] = body["id"]
            else:
                errors.append(st)
        except Exception as e:   # not acknowledged
            errors.append(str(e))
        i += 1


try:
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    while len(acked) < 50:
        time.sleep(0.05)
    leader = next((p for p in ports if mode(p) == "leader"), None)
    c.check("found the ensemble leader", leader is not None)
    pid = None
    if leader:
        out = subprocess.run(["ss", "-ltnpH", f"sport = :{leader}"], capture_output=True, text=True).stdout
        if "pid=" in out:
            pid = int(out.split("pid=")[1].split(",")[0])
    c.check("leader process identified", pid is not None)
    before = len(acked)
    if pid:
        os.kill(pid, signal.SIGKILL)
    time.sleep(8)   # the writers keep going through the election
    stop.set()
    for t in threads:
        t.join()
    c.check(f"writes acknowledged after the leader was killed ({len(acked) - before})", len(acked) > before + 10,
            (before, len(acked), errors[-3:]))
    for name, api in (("first", a), ("second", b)):
        deadline = time.time() + 40   # a server blocked through the election catches up after it
        while True:
            st, chains = api.get("/v1/chains")
            have = {o["name"]: o["id"] for o in chains} if st == 200 else {}
            missing = [n for n in acked if have.get(n) != acked[n]]
            if not missing or time.time() > deadline:
                break
            time.sleep(0.3)
        c.check(f"every acknowledged write readable through the {name} API server", not missing,
                (len(missing), missing[:3]))
finally:
    a.stop()
    b.stop()
sys.exit(c.done())
