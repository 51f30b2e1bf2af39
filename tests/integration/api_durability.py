#!/usr/bin/env python3
"""SQLite durability: rampart-api is killed with SIGKILL in the middle of a
stream of writes and restarted on the same database; every acknowledged
write must be there, complete, and nothing half-written."""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from rampart_api import Api, Checker  # noqa: E402

c = Checker("api durability (sqlite)")
api = Api().start()
acked = {}
stop = threading.Event()


def writer(k):
    i = 0
    while not stop.is_set() and i < 5000:
        name = f"w{k}-{i}"
        try:
            st, body = api.post("/v1/chains", {"name": name, "tenant": f"t{k}"}, timeout=5)
        except Exception:
            break   # the server died under us: this write was never acknowledged
        if st == 201:
            acked[name] = body["id"]
        i += 1


threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
deadline = time.time() + 20
while len(acked) < 300 and time.time() < deadline:
    time.sleep(0.05)
api.proc.send_signal(signal.SIGKILL)   # in the middle of the stream
api.proc.wait()
stop.set()
for t in threads:
    t.join()
c.check(f"writes were acknowledged before the kill ({len(acked)})", len(acked) >= 100, len(acked))

api2 = Api(workdir=api.dir, db=api.db).start()
try:
    st, chains = api2.get("/v1/chains")
    by_name = {o.get("name"): o for o in chains} if st == 200 else {}
    missing = [n for n in acked if n not in by_name]
    c.check("every acknowledged write survived SIGKILL", st == 200 and not missing, missing[:5])
    wrong = [n for n, i in acked.items() if n in by_name and by_name[n]["id"] != i]
    c.check("acknowledged resources kept their ids", not wrong, wrong[:5])
    half = [o for o in chains if not o.get("id") or not o.get("name") or not o.get("tenant")]
    c.check("no half-written resource", not half, half[:3])
    st, got = api2.post("/v1/chains", {"name": "after-restart"})
    c.check("the restarted server accepts writes", st == 201, (st, got))
finally:
    api2.stop()
sys.exit(c.done())
