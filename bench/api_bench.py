#!/usr/bin/env python3
"""API benchmarks against a real rampart-api (release build) on SQLite, and on
ZooKeeper when Debian's zookeeper is installed: single-resource writes per
second (wrk, 16 connections) next to the store alone (bench_store), reads
with p99 latency at 100 concurrent clients, import of 10,000 ports, and the
time for a change to reach 100 watchers. Bounded: a few seconds each."""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration", "lib"))
os.environ.setdefault("RAMPART_API", os.path.join(os.path.dirname(__file__), "..", "build/rel/rampart-api"))
import rampart_api  # noqa: E402
from rampart_api import Api, TOKEN  # noqa: E402

rampart_api.API_BIN = os.environ["RAMPART_API"]
HERE = os.path.dirname(os.path.abspath(__file__))


def wrk(port, args, path="/", script_args=()):
    out = subprocess.run(["wrk", "--latency"] + args + [f"http://127.0.0.1:{port}{path}"] + list(script_args),
                         capture_output=True, text=True, timeout=60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "90", "99"):
        m = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", out)
        if m:
            v = float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]
            lat[pct] = v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, lat, int(errors.group(1)) if errors else 0


def peak_rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0


def watch_latency(api, n_watchers=100, n_changes=30):
    socks = []
    for _ in range(n_watchers):
        s = socket.create_connection(("127.0.0.1", api.port))
        s.sendall(f"GET /v1/watch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
        s.setblocking(False)
        socks.append([s, b""])
    time.sleep(0.5)
    for s in socks:   # drain headers
        try:
            s[1] = s[0].recv(65536)
        except BlockingIOError:
            pass
        s[1] = b""
    delays = []
    for i in range(n_changes):
        name = f"watch-{i}-{time.time()}"
        t0 = time.perf_counter()
        st, _ = api.post("/v1/chains", {"name": name})
        got = [None] * n_watchers
        deadline = time.time() + 5
        while None in got and time.time() < deadline:
            for k, s in enumerate(socks):
                if got[k] is not None:
                    continue
                try:
                    s[1] += s[0].recv(65536)
                except BlockingIOError:
                    continue
                if name.encode() in s[1]:
                    got[k] = time.perf_counter() - t0
                    s[1] = b""
        delays += [d for d in got if d is not None]
    for s in socks:
        s[0].close()
    delays.sort()
    return delays


def run(label, api):
    port = api.port
    print(f"--- rampart-api on {label}")
    rps, lat, err = wrk(port, ["-t2", "-c16", "-d5s", "-s", os.path.join(HERE, "wrk_create.lua")],
                        script_args=[TOKEN])
    st, chains = api.get("/v1/chains")
    some = chains[len(chains) // 2]["id"]
    print(f"writes (POST, 16 connections): {rps:.0f} writes/s, p50 {lat.get('50', 0):.2f} ms, "
          f"p99 {lat.get('99', 0):.2f} ms, non-2xx {err} | target (sqlite): >= 5000 writes/s")
    rps_r, lat_r, err_r = wrk(port, ["-t2", "-c100", "-d5s", "--timeout", "5s", "-H",
                                     f"Authorization: Bearer {TOKEN}"], path=f"/v1/chains/{some}")
    p99 = lat_r.get("99", 0)
    print(f"reads (GET one resource, 100 connections): {rps_r:.0f} reads/s, p99 {p99:.2f} ms | target: p99 < 5 ms")
    doc = {"hosts": [{"name": "h", "tunnel_ip": "10.0.0.1"}], "bridges": [{"name": "big"}],
           "ports": [{"name": f"vm{i}", "device": "big", "mac": f"02:00:00:00:{i >> 8 & 255:02x}:{i & 255:02x}",
                      "host": "h", "interface": f"tap{i}"} for i in range(10000)]}
    t0 = time.perf_counter()
    st, got = api.post("/v1/import", doc, timeout=120)
    t_imp = time.perf_counter() - t0
    print(f"import of 10,000 ports: {t_imp:.2f} s (HTTP {st})")
    d = watch_latency(api)
    if d:
        p50 = d[len(d) // 2] * 1e3
        p99 = d[min(len(d) - 1, int(len(d) * 0.99))] * 1e3
        print(f"watch: a change reaches 100 watchers: p50 {p50:.1f} ms, p99 {p99:.1f} ms over {len(d)} deliveries"
              f" | target: p99 < 50 ms")
    print(f"rampart-api peak RSS {peak_rss_mib(api.proc.pid):.0f} MiB")


def main():
    store_out = subprocess.run([os.path.join(HERE, "..", "build/rel/bench/bench_store")], capture_output=True,
                               text=True).stdout.strip()
    print("baseline, the store alone: " + store_out)
    api = Api(max_body=64 << 20).start()
    try:
        run("SQLite", api)
    finally:
        api.stop()
    zk = "/usr/share/zookeeper/bin/zkServer.sh"
    if not os.path.exists(zk):
        print("ZooKeeper not installed: skipped")
        return 0
    work = tempfile.mkdtemp(prefix="rampart-bench-zk-")
    os.makedirs(f"{work}/data")
    with open(f"{work}/zoo.cfg", "w") as f:
        f.write(f"tickTime=500\ninitLimit=20\nsyncLimit=10\ndataDir={work}/data\nclientPort=21850\n"
                "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=srvr\n")
    env = dict(os.environ, ZOOCFGDIR=work, ZOO_LOG_DIR=work, SERVER_JVMFLAGS="-Djute.maxbuffer=67108864")
    zkp = subprocess.Popen([zk, "start-foreground", f"{work}/zoo.cfg"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", 21850), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        api = Api(backend="zookeeper", zk="127.0.0.1:21850", chroot="/bench", max_body=64 << 20).start()
        try:
            run("ZooKeeper (one server)", api)
        finally:
            api.stop()
    finally:
        os.killpg(zkp.pid, 9)
        zkp.wait()
        subprocess.run(["rm", "-rf", work])
    return 0


if __name__ == "__main__":
    sys.exit(main())
