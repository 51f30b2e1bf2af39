#!/usr/bin/env python3
"""API contract tests against a real rampart-api (SQLite by default, or
ZooKeeper when RAMPART_TEST_ZK is set): CRUD for every resource type, every
error class, auth on every endpoint, import/export, trace, watch resume,
status, metrics, the OpenAPI document."""
import json
import os
import socket
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from rampart_api import Api, Checker, ROOT, TOKEN  # noqa: E402

c = Checker("api contract" + (" (zookeeper)" if os.environ.get("RAMPART_TEST_ZK") else " (sqlite)"))


def new_api(**kw):
    zk = os.environ.get("RAMPART_TEST_ZK")
    if zk:
        kw.setdefault("backend", "zookeeper")
        kw.setdefault("zk", zk)
        kw.setdefault("chroot", f"/rampart-contract-{uuid.uuid4().hex[:8]}")
    return Api(**kw).start()


api = new_api(max_body=256 * 1024)
try:
    # --- a base topology through the API, one resource type at a time -------
    st, host = api.post("/v1/hosts", {"name": "hv-1", "tunnel_ip": "172.31.0.11"})
    c.check("create host -> 201 with id", st == 201 and "id" in host, (st, host))
    st, chain = api.post("/v1/chains", {"name": "c-in"})
    c.check("create chain -> 201", st == 201, (st, chain))
    st, ipg = api.post("/v1/ip_groups", {"name": "admins", "addresses": ["10.9.0.1", "10.9.0.2"]})
    c.check("create ip_group -> 201", st == 201, (st, ipg))
    st, prov = api.post("/v1/routers", {"name": "provider"})
    c.check("create router -> 201", st == 201, (st, prov))
    st, tr = api.post("/v1/routers", {"name": "acme", "tenant": "acme", "inbound_filter": "c-in"})
    c.check("create router with chain ref by name -> 201, ref returned as id",
            st == 201 and tr.get("inbound_filter") == chain["id"], (st, tr))
    st, br = api.post("/v1/bridges", {"name": "acme-net", "tenant": "acme"})
    c.check("create bridge -> 201", st == 201, (st, br))
    st, up = api.post("/v1/ports", {"name": "uplink", "device": "provider", "mac": "02:10:00:00:00:01",
                                    "address": "192.0.2.2/30", "host": "hv-1", "interface": "eth1"})
    c.check("create exterior router port -> 201 with tunnel_key", st == 201 and up.get("tunnel_key"), (st, up))
    st, pa = api.post("/v1/ports", {"name": "prov-acme", "device": "provider", "mac": "02:10:00:00:00:02",
                                    "address": "100.64.10.1/24"})
    st2, ag = api.post("/v1/ports", {"name": "acme-gw", "device": "acme", "mac": "02:20:00:00:00:01",
                                     "address": "100.64.10.2/24", "peer": "prov-acme"})
    c.check("create linked router ports -> 201", st == 201 and st2 == 201, (st, pa, st2, ag))
    st, pa2 = api.get(f"/v1/ports/{pa['id']}")
    c.check("peer link shows on both sides", st == 200 and pa2.get("peer") == ag["id"], pa2)
    st, al = api.post("/v1/ports", {"name": "acme-lan", "device": "acme", "mac": "02:20:00:00:00:02",
                                    "address": "10.1.0.1/24"})
    st2, bp = api.post("/v1/ports", {"name": "acme-net-r", "device": "acme-net", "peer": "acme-lan"})
    st3, vm = api.post("/v1/ports", {"name": "web1", "device": "acme-net", "mac": "02:30:00:00:00:0a",
                                     "fixed_ips": ["10.1.0.10"], "host": "hv-1", "interface": "tap-web1"})
    c.check("create bridge ports -> 201", (st, st2, st3) == (201, 201, 201), (al, bp, vm))
    st, rt = api.post("/v1/routes", {"router": "acme", "dst": "0.0.0.0/0", "next_hop_port": "acme-gw",
                                     "next_hop_gateway": "100.64.10.1"})
    c.check("create route -> 201, src defaults to 0.0.0.0/0", st == 201 and rt.get("src", "0.0.0.0/0") == "0.0.0.0/0",
            (st, rt))
    st, rule = api.post("/v1/rules", {"chain": "c-in", "position": 1, "nw_src": "10.9.0.0/24",
                                      "inv_nw_src": True, "action": "drop"})
    c.check("create rule -> 201", st == 201, (st, rule))
    st, pg = api.post("/v1/port_groups", {"name": "uplinks", "stateful": True, "ports": ["uplink"]})
    c.check("create port_group -> 201", st == 201, (st, pg))
    st, nb = api.post("/v1/neighbors", {"port": "uplink", "address": "192.0.2.1", "mac": "02:99:00:00:00:01"})
    c.check("create neighbor -> 201", st == 201, (st, nb))
    st, fip = api.post("/v1/floating_ips", {"address": "100.64.10.50", "router": "provider", "port": "web1",
                                            "fixed_ip": "10.1.0.10"})
    c.check("create floating_ip -> 201", st == 201, (st, fip))
    st, peer = api.post("/v1/bgp_peers", {"port": "uplink", "peer_address": "192.0.2.1", "peer_asn": 64500,
                                          "local_asn": 64512})
    c.check("create bgp_peer -> 201, bfd defaults to true", st == 201 and peer.get("bfd", True) is True, (st, peer))
    st, net = api.post("/v1/bgp_networks", {"router": "provider", "prefix": "100.64.10.0/24"})
    c.check("create bgp_network -> 201", st == 201, (st, net))

    created = {"hosts": host, "chains": chain, "ip_groups": ipg, "routers": tr, "bridges": br, "ports": vm,
               "routes": rt, "rules": rule, "port_groups": pg, "neighbors": nb, "floating_ips": fip,
               "bgp_peers": peer, "bgp_networks": net}

    # --- read and list every type --------------------------------------------
    for t, obj in created.items():
        st, got = api.get(f"/v1/{t}/{obj['id']}")
        c.check(f"GET {t}/id -> 200 same resource", st == 200 and got.get("id") == obj["id"], (st, got))
        st, lst = api.get(f"/v1/{t}")
        c.check(f"GET {t} lists it", st == 200 and any(o.get("id") == obj["id"] for o in lst), st)
        st, got = api.get(f"/v1/{t}/{uuid.uuid4()}")
        c.check(f"GET {t}/unknown -> 404", st == 404 and "error" in got, (st, got))
    st, got = api.get("/v1/ports/web1")
    c.check("GET by name -> 200", st == 200 and got.get("id") == vm["id"], (st, got))

    # --- update ---------------------------------------------------------------
    st, got = api.request("PATCH", f"/v1/routers/{tr['id']}", {"tenant": "acme2"})
    c.check("PATCH router -> 200 changed", st == 200 and got.get("tenant") == "acme2", (st, got))
    body = dict(tr)
    body["tenant"] = "acme3"
    body["inbound_filter"] = chain["id"]
    st, got = api.request("PUT", f"/v1/routers/{tr['id']}", body)
    c.check("PUT router -> 200 replaced", st == 200 and got.get("tenant") == "acme3", (st, got))
    st, got = api.request("PUT", f"/v1/routers/{uuid.uuid4()}", {"name": "x"})
    c.check("PUT unknown -> 404", st == 404, (st, got))
    st, got = api.request("PUT", f"/v1/routers/{tr['id']}", dict(body, id=str(uuid.uuid4())))
    c.check("PUT with another id in the body -> 400", st == 400, (st, got))

    # --- error classes ----------------------------------------------------------
    before = api.get("/v1/export")[1]
    cases = [
        ("unknown field", "/v1/routers", {"name": "r9", "colour": "red"}, 400, "colour"),
        ("wrong type", "/v1/routers", {"name": 5}, 400, "name"),
        ("bad address", "/v1/hosts", {"name": "h9", "tunnel_ip": "10.0.0.300"}, 400, "tunnel_ip"),
        ("bad prefix", "/v1/routes", {"router": "acme", "dst": "10.0.0.0/33", "next_hop_port": "acme-gw"}, 400, "dst"),
        ("bad mac", "/v1/ports", {"name": "p9", "device": "acme-net", "mac": "02:00:00:00:00"}, 400, "mac"),
        ("dangling reference", "/v1/ports", {"name": "p9", "device": "no-such-bridge"}, 400, "device"),
        ("duplicate name", "/v1/routers", {"name": "provider"}, 409, None),
        ("duplicate id", "/v1/routers", {"id": prov["id"], "name": "other"}, 409, None),
    ]
    for what, path, b, code, field in cases:
        st, got = api.post(path, b)
        ok = st == code and isinstance(got, dict) and "error" in got
        if field:
            ok = ok and got.get("field") == field
        c.check(f"{what} -> {code}" + (f" naming '{field}'" if field else ""), ok, (st, got))
    st, got = api.request("DELETE", f"/v1/chains/{chain['id']}")
    c.check("delete referenced chain -> 409", st == 409 and "error" in got, (st, got))
    st, got = api.request("POST", "/v1/routers", raw=b'{"name": "r9",')
    c.check("malformed JSON -> 400", st == 400 and "error" in got, (st, got))
    st, got = api.request("POST", "/v1/routers", raw=b'[1,2]')
    c.check("non-object body -> 400", st == 400, (st, got))
    st, got = api.request("POST", "/v1/routers", raw=b'{"name": "big", "tenant": "' + b"x" * (300 * 1024) + b'"}')
    c.check("oversized body -> 413", st == 413, st)
    c.check("refused requests changed nothing", api.get("/v1/export")[1] == before)
    st, got = api.get("/v1/nonsense")
    c.check("unknown endpoint -> 404", st == 404, st)

    # --- auth on every endpoint ---------------------------------------------------
    endpoints = [("GET", "/v1/routers"), ("POST", "/v1/routers"), ("GET", f"/v1/routers/{prov['id']}"),
                 ("PUT", f"/v1/routers/{prov['id']}"), ("PATCH", f"/v1/routers/{prov['id']}"),
                 ("DELETE", f"/v1/routers/{prov['id']}"), ("GET", "/v1/export"), ("POST", "/v1/import"),
                 ("POST", "/v1/trace"), ("GET", "/v1/watch"), ("GET", "/v1/status"),
                 ("GET", "/v1/openapi.yaml")]
    for m, p in endpoints:
        st1, _ = api.request(m, p, {"name": "x"} if m in ("POST", "PUT", "PATCH") else None, token=None)
        st2, _ = api.request(m, p, {"name": "x"} if m in ("POST", "PUT", "PATCH") else None, token="wrong")
        c.check(f"{m} {p} without/with bad token -> 401", st1 == 401 and st2 == 401, (st1, st2))
    st, _ = api.get(f"/v1/routers/{prov['id']}")
    c.check("router still there after unauthorized DELETE", st == 200, st)

    # --- delete -----------------------------------------------------------------------
    st, _ = api.request("DELETE", f"/v1/bgp_networks/{net['id']}")
    c.check("DELETE -> 204", st == 204, st)
    st, _ = api.get(f"/v1/bgp_networks/{net['id']}")
    c.check("GET after DELETE -> 404", st == 404, st)
    st, _ = api.request("DELETE", f"/v1/bgp_networks/{net['id']}")
    c.check("DELETE again -> 404", st == 404, st)

    # --- export / import ------------------------------------------------------------------
    with open(os.path.join(ROOT, "scripts/demo/cloud.json")) as f:
        cloud = json.load(f)
    st, got = api.post("/v1/import", cloud)
    c.check("import the demo cloud -> 200", st == 200 and got.get("revision"), (st, got))
    st, exp = api.get("/v1/export")
    ids = lambda d: sorted((k, o["id"]) for k, v in d.items() for o in v)
    c.check("export after import holds exactly the imported resources", st == 200 and ids(exp) == ids(cloud),
            set(ids(exp)) ^ set(ids(cloud)))
    bad = json.loads(json.dumps(cloud))
    bad["ports"][0]["device"] = "nowhere"
    st, got = api.post("/v1/import", bad)
    c.check("import with a dangling reference -> 400", st == 400 and "error" in got, (st, got))
    c.check("rejected import left the store exactly as it was", api.get("/v1/export")[1] == exp)

    # --- trace on the live topology and state ------------------------------------------------
    out = {"in_port": "web2", "packets": [{"ip_src": "10.1.0.11", "ip_dst": "203.0.113.7", "proto": "tcp",
                                           "src_port": 40000, "dst_port": 80, "tcp_flags": "S"}]}
    st, got = api.post("/v1/trace", out)
    r0 = (got.get("results") or [{}])[0] if st == 200 else {}
    o0 = (r0.get("outputs") or [{}])[0]
    pkt = o0.get("packet", {})
    uplink = next(p for p in cloud["ports"] if p["name"] == "uplink-a")
    c.check("trace VM -> internet: forward out the uplink, source translated by SNAT",
            st == 200 and r0.get("result") == "forward" and o0.get("port") == uplink["id"]
            and pkt.get("ip_src") == "100.64.10.2" and pkt.get("ttl") == 62
            and any("snat 10.1.0.11:40000 -> 100.64.10.2:" in h.get("note", "") for h in r0.get("hops", []))
            and r0.get("flow", {}).get("tags"), (st, got))
    back = {"in_port": "uplink-a", "packets": [{
        "eth_src": "02:99:00:00:00:01", "ip_src": "203.0.113.7", "ip_dst": "100.64.10.2", "proto": "tcp",
        "src_port": 80, "dst_port": pkt.get("src_port", 1), "tcp_flags": "SA"}]}
    st, got = api.post("/v1/trace", back)
    r1 = (got.get("results") or [{}])[0] if st == 200 else {}
    p1 = ((r1.get("outputs") or [{}])[0]).get("packet", {})
    web2 = next(p for p in cloud["ports"] if p["name"] == "web2")
    c.check("trace of the return in a second request: the NAT state of the first is live, reply reaches web2",
            st == 200 and r1.get("result") == "forward" and r1["outputs"][0].get("port") == web2["id"]
            and p1.get("ip_dst") == "10.1.0.11" and p1.get("dst_port") == 40000, (st, got))
    st, got = api.post("/v1/trace", {"in_port": "nope", "packets": [{"ip_dst": "10.1.0.10"}]})
    c.check("trace from an unknown port -> 400 naming in_port", st == 400 and got.get("field") == "in_port", (st, got))
    st, got = api.post("/v1/trace", {"in_port": "web2", "packets": [{"ip_dst": "10.1.0.300"}]})
    c.check("trace with a bad address -> 400 naming ip_dst", st == 400 and got.get("field") == "ip_dst"
            and "packets[0]" in got.get("error", ""), (st, got))
    st, got = api.post("/v1/trace", {"in_port": "web2", "packets": []})
    c.check("trace with no packets -> 400", st == 400 and got.get("field") == "packets", (st, got))

    # --- status, metrics, openapi ------------------------------------------------------------
    st, got = api.get("/v1/status")
    c.check("status -> revision, store, counts", st == 200 and got.get("revision") and got.get("store")
            and got.get("resources", {}).get("ports") == len(cloud["ports"]), got)
    st, got = api.request("GET", "/metrics", token=None)
    c.check("metrics without token, Prometheus text", st == 200 and "rampart_store_revision" in got
            and 'rampart_api_requests_total{code="401"}' in got, str(got)[:200])
    st, got = api.get("/v1/openapi.yaml")
    c.check("openapi document served", st == 200 and "openapi: 3" in str(got), str(got)[:80])

    # --- watch: resume after disconnect, nothing missed or repeated ---------------------------
    def watch_lines(since, want, timeout=10):
        s = socket.create_connection(("127.0.0.1", api.port), timeout=timeout)
        s.sendall(f"GET /v1/watch?since={since} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
        buf, lines, deadline = b"", [], time.time() + timeout
        while len(lines) < want and time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
            lines = [json.loads(l) for l in buf.split(b"\r\n") if l.startswith(b"{")]
            lines = [l for l in lines if l.get("op") in ("put", "del")]
        s.close()
        return lines

    rev0 = api.get("/v1/status")[1]["revision"]
    names = [f"w{i}" for i in range(6)]
    for n in names[:3]:
        api.post("/v1/chains", {"name": n})
    first = watch_lines(rev0, 3)
    c.check("watch from a revision replays the 3 changes after it", [l["object"]["name"] for l in first] == names[:3],
            first)
    last_rev = first[-1]["rev"] if first else rev0
    for n in names[3:]:
        api.post("/v1/chains", {"name": n})
    api.request("DELETE", "/v1/chains/w0")
    second = watch_lines(last_rev, 4)
    got_names = [l.get("object", {}).get("name") if l["op"] == "put" else ("del", l["id"]) for l in second]
    c.check("resumed watch: the next changes exactly once, in order",
            got_names[:3] == names[3:] and len(second) == 4 and second[3]["op"] == "del"
            and all(l["rev"] > last_rev for l in second), got_names)
    st, got = api.get("/v1/watch?since=abc")
    c.check("watch with a bad since -> 400", st == 400, st)
finally:
    api.stop()

# --- rate limit of a single client ---------------------------------------------------------------
api = new_api(rate=5, burst=5)
try:
    codes = [api.get("/v1/routers")[0] for _ in range(20)]
    c.check("a client over its rate gets 429", 429 in codes and codes[0] == 200, codes)
finally:
    api.stop()

# --- NAT port-block leases (issue 6) ----------------------------------------------------------------
api = new_api()
try:
    st, ha = api.post("/v1/hosts", {"name": "hv-a", "tunnel_ip": "172.31.1.1"})
    st2, hb = api.post("/v1/hosts", {"name": "hv-b", "tunnel_ip": "172.31.1.2"})
    st3, edge = api.post("/v1/routers", {"name": "edge"})
    c.check("leases: hosts and a router to lease for", (st, st2, st3) == (201, 201, 201), (ha, hb, edge))
    pub = {"router": "edge", "address": "198.51.100.7"}
    rng = {"port_from": 1024, "port_to": 1279}          # exactly 4 blocks of 64
    host_of = {"hv-a": ha["id"], "hv-b": hb["id"]}

    def lease(host, **kw):
        return api.post("/v1/leases", dict(pub, host=host, **dict(rng, **kw)))

    got, codes = [], []
    for i in range(5):
        h = "hv-a" if i % 2 == 0 else "hv-b"
        st, l = lease(h)
        codes.append(st)
        if st == 200:
            got.append((h, l))
    now = time.time()
    firsts = [l["block_first_port"] for _, l in got]
    c.check("leases: two hosts lease blocks of one router/address: 200 with ids, block and expiry",
            codes[:4] == [200] * 4 and all(l.get("router") == edge["id"] and l.get("host") == host_of[h]
                                            and l.get("address") == "198.51.100.7"
                                            and l.get("expires", 0) > now for h, l in got), (codes, got))
    c.check("leases: every block is 64-aligned, inside the range, and no block is handed out twice",
            len(set(firsts)) == len(firsts) == 4 and all(f % 64 == 0 and 1024 <= f <= 1216 for f in firsts), firsts)
    c.check("leases: the range exhausted -> 409", codes[4] == 409, codes)
    st, l = api.post("/v1/leases", {"router": edge["id"], "address": "198.51.100.8", "host": ha["id"],
                                    "port_from": 1000, "port_to": 1100})
    c.check("leases: another address is independent; an unaligned range gets an aligned block overlapping it",
            st == 200 and l["block_first_port"] % 64 == 0 and l["block_first_port"] <= 1100
            and l["block_first_port"] + 63 >= 1000, (st, l))

    a_first = next(l["block_first_port"] for h, l in got if h == "hv-a")
    b_first = next(l["block_first_port"] for h, l in got if h == "hv-b")
    ident = lambda host, first: dict(pub, host=host, block_first_port=first)
    st, l = api.post("/v1/leases/renew", ident("hv-a", a_first))
    c.check("leases: renew by the holder -> 200 with a new expiry",
            st == 200 and l.get("block_first_port") == a_first and l.get("expires", 0) >= got[0][1]["expires"], (st, l))
    st, l = api.post("/v1/leases/renew", ident("hv-b", a_first))
    c.check("leases: renew by another host -> 404", st == 404, (st, l))
    st, lst = api.get("/v1/leases")
    mine = sorted((x["host"], x["block_first_port"]) for x in (lst if st == 200 else [])
                  if x.get("address") == "198.51.100.7")
    c.check("leases: GET /v1/leases lists the live leases with their holders",
            mine == sorted((host_of[h], l["block_first_port"]) for h, l in got), (st, lst))
    st, _ = api.post("/v1/leases/release", ident("hv-b", a_first))
    c.check("leases: release by another host -> 404", st == 404, st)
    st, _ = api.post("/v1/leases/release", ident("hv-a", a_first))
    c.check("leases: release by the holder -> 204", st == 204, st)
    st, l = lease("hv-b")
    c.check("leases: the released block is leased by the other host", st == 200 and l["block_first_port"] == a_first,
            (st, l))
    st, _ = api.post("/v1/leases/renew", ident("hv-a", a_first))
    c.check("leases: the former holder cannot renew it", st == 404, st)
    st, _ = api.request("DELETE", "/v1/leases", ident("hv-b", b_first))
    c.check("leases: DELETE /v1/leases releases too -> 204", st == 204, st)
    st, lst = api.get("/v1/leases")
    c.check("leases: a released block is no longer listed",
            st == 200 and not any(x["block_first_port"] == b_first and x["address"] == "198.51.100.7" for x in lst),
            lst)

    bad = [
        ("unknown router", dict(pub, router="nope", host="hv-a", **rng), "router"),
        ("unknown host", dict(pub, host="hv-z", **rng), "host"),
        ("missing host", dict(pub, **rng), "host"),
        ("bad address", dict(pub, address="198.51.100.300", host="hv-a", **rng), "address"),
        ("reversed range", dict(pub, host="hv-a", port_from=2000, port_to=1999), "port_to"),
        ("port 0", dict(pub, host="hv-a", port_from=0, port_to=100), "port_from"),
        ("port as a string", dict(pub, host="hv-a", port_from="1024", port_to=1279), "port_from"),
        ("unknown field", dict(pub, host="hv-a", colour="red", **rng), "colour"),
    ]
    for what, b, field in bad:
        st, e = api.post("/v1/leases", b)
        c.check(f"leases: {what} -> 400 naming '{field}'", st == 400 and e.get("field") == field, (st, e))
    st, e = api.post("/v1/leases/renew", ident("hv-a", 1030))
    c.check("leases: renew of an unaligned block -> 400 naming block_first_port",
            st == 400 and e.get("field") == "block_first_port", (st, e))
    st, lst2 = api.get("/v1/leases")
    c.check("leases: refused requests leased nothing", st == 200 and lst2 == lst, (lst, lst2))
    for m, pth in [("GET", "/v1/leases"), ("POST", "/v1/leases"), ("POST", "/v1/leases/renew"),
                   ("POST", "/v1/leases/release"), ("DELETE", "/v1/leases")]:
        b = None if m == "GET" else dict(pub, host="hv-a", **rng)
        st1, _ = api.request(m, pth, b, token=None)
        st2, _ = api.request(m, pth, b, token="wrong")
        c.check(f"leases: {m} {pth} without/with bad token -> 401", st1 == 401 and st2 == 401, (st1, st2))
    st, _ = lease("hv-a")
    c.check("leases: nothing was leased by the unauthorized requests (one block free, hv-a gets it)", st == 200, st)
    st, _ = lease("hv-a")
    c.check("leases: ... and then the range is full again", st == 409, st)
finally:
    api.stop()

# --- gateway reports, bgp_peers state, status problems, metrics -------------------------------------
PEER = "6c6a3627-5a5c-51d7-ad0c-f96569491850"        # the demo cloud's BGP peer (192.0.2.1 on uplink-a)
OTHER_PEER = "0b6e0bd1-5d3e-4c55-9a0f-2b1a1c1d1e1f"  # a peer the topology does not have


def report(host, state="established", interval=2, peer=PEER, name="p6c6a36275a5c", address="192.0.2.1", bird=None):
    b = {"state": "running", "pid": 123, "restarts": 0, "router_id": "192.0.2.1", "config_error": None,
         "config_generation": 3}
    b.update(bird or {})
    return {"host": host, "interval_s": interval, "bird": b,
            "peers": [{"id": peer, "name": name, "peer_address": address, "peer_asn": 64500, "state": state,
                       "bfd": "up", "since": "2026-12-02 01:02:03", "routes_received": 7, "routes_sent": 3,
                       "last_error": ""}],
            "learned_routes": 1,
            "routes": [{"dst": "0.0.0.0/0", "type": "unicast",
                        "next_hops": [{"gateway": "192.0.2.1", "interface": "up0"}]}],
            "uplinks": [{"port": "d6548ef6-e1af-5d8a-929c-0a12e8b9f48f", "interface": "up0",
                         "mode": "af_packet tpacket_v3", "kernel_addresses": ["192.0.2.2"]}],
            "counters": {"egress_learned": 5}}


def peer_state(api):
    st1, one = api.get(f"/v1/bgp_peers/{PEER}")
    st2, lst = api.get("/v1/bgp_peers")
    listed = [p.get("state") for p in (lst if st2 == 200 else []) if p.get("id") == PEER]
    return one.get("state") if st1 == 200 else st1, listed[0] if listed else None


def metric(text, line_start):
    return [l for l in str(text).splitlines() if l.startswith(line_start)]


api = new_api()
try:
    with open(os.path.join(ROOT, "scripts/demo/cloud.json")) as f:
        cloud = json.load(f)
    st, _ = api.post("/v1/import", cloud)
    c.check("gateways: the demo cloud imported", st == 200, st)
    st, got = api.request("PATCH", f"/v1/bgp_peers/{PEER}", {"name": "up1"})
    c.check("gateways: the peer is named up1", st == 200 and got.get("name") == "up1", (st, got))
    c.check("gateways: without any report a bgp_peer's state is 'unknown' (item and list)",
            peer_state(api) == ("unknown", "unknown"), peer_state(api))
    st, got = api.get("/v1/gateways")
    c.check("gateways: GET /v1/gateways with none -> {\"gateways\": []}", st == 200 and got == {"gateways": []}, got)

    rep = report("gw1", state="Established")
    st, got = api.request("PUT", "/v1/gateways/gw1", rep)
    c.check("gateways: PUT a report -> 200, normalized (state in lower case), age_s 0, not stale",
            st == 200 and got.get("peers", [{}])[0].get("state") == "established" and got.get("age_s") == 0
            and got.get("stale") is False and got.get("routes") == rep["routes"], (st, got))
    st, got = api.get("/v1/gateways/gw1")
    c.check("gateways: GET /v1/gateways/gw1 -> the report", st == 200 and got.get("host") == "gw1"
            and got.get("bird", {}).get("router_id") == "192.0.2.1" and "age_s" in got and got.get("stale") is False,
            (st, got))
    st, got = api.get("/v1/gateways")
    c.check("gateways: GET /v1/gateways lists it", st == 200 and [g["host"] for g in got.get("gateways", [])] == ["gw1"],
            got)
    c.check("gateways: the bgp_peer's state comes from the report (item and list)",
            peer_state(api) == ("established", "established"), peer_state(api))
    st, exp = api.get("/v1/export")
    c.check("gateways: export holds no state (it is not in the store)",
            st == 200 and all("state" not in p for p in exp.get("bgp_peers", [])), exp.get("bgp_peers"))

    # Strict decoding: each refusal names the field, and the stored report stays.
    def with_peer(**kw):
        r = report("gw1")
        r["peers"][0].update(kw)
        return r
    big_peers = report("gw1")
    big_peers["peers"] = [dict(big_peers["peers"][0], id=str(uuid.UUID(int=i)), name=f"p{i}") for i in range(257)]
    big_routes = report("gw1")
    big_routes["routes"] = big_routes["routes"] * 1001
    bad = [
        ("unknown field", "gw1", with_peer(colour="red"), "peers[0].colour"),
        ("unknown top-level field", "gw1", dict(report("gw1"), extra=1), "extra"),
        ("host in the body differs from the path", "gw2", report("gw1"), "host"),
        ("bad peer state", "gw1", with_peer(state="happy"), "peers[0].state"),
        ("bad BIRD state", "gw1", report("gw1", bird={"state": "dead"}), "bird.state"),
        ("bad peer address", "gw1", with_peer(peer_address="192.0.2.300"), "peers[0].peer_address"),
        ("257 peers", "gw1", big_peers, "peers"),
        ("1001 routes", "gw1", big_routes, "routes"),
        ("interval_s 0", "gw1", dict(report("gw1"), interval_s=0), "interval_s"),
    ]
    for what, host, body, field in bad:
        st, got = api.request("PUT", f"/v1/gateways/{host}", body)
        c.check(f"gateways: {what} -> 400 naming '{field}'", st == 400 and got.get("field") == field, (st, got))
    st, got = api.request("PUT", "/v1/gateways/gw%201", report("gw 1"))
    c.check("gateways: a host with a space -> 400 naming host", st == 400 and got.get("field") == "host", (st, got))
    st, got = api.get("/v1/gateways")
    c.check("gateways: refused reports changed nothing",
            st == 200 and len(got["gateways"]) == 1 and got["gateways"][0]["peers"][0]["state"] == "established", got)
    for m, pth in [("GET", "/v1/gateways"), ("GET", "/v1/gateways/gw1"), ("PUT", "/v1/gateways/gw1"),
                   ("DELETE", "/v1/gateways/gw1")]:
        b = report("gw1") if m == "PUT" else None
        st1, _ = api.request(m, pth, b, token=None)
        st2, _ = api.request(m, pth, b, token="wrong")
        c.check(f"gateways: {m} {pth} without/with bad token -> 401", st1 == 401 and st2 == 401, (st1, st2))
    st, _ = api.request("POST", "/v1/gateways", report("gw1"))
    c.check("gateways: POST /v1/gateways -> 405", st == 405, st)

    # A second gateway whose BIRD refused its configuration, with a session not up.
    gw2 = report("gw2", state="active", peer=OTHER_PEER, name='up"x\\', address="198.51.100.9",
                 bird={"state": "backoff", "restarts": 4, "config_error": "bird.conf:12:3 syntax error"})
    gw2["peers"][0]["last_error"] = "Socket: Connection refused"
    st, got = api.request("PUT", "/v1/gateways/gw2", gw2)
    c.check("gateways: a second gateway reports", st == 200, (st, got))
    st, got = api.get("/v1/status")
    gws = {g["host"]: g for g in got.get("gateways", [])} if st == 200 else {}
    probs = got.get("problems", []) if st == 200 else []
    c.check("status: gateways summarised (BIRD state, router id, peers established/total, learned routes)",
            gws.get("gw1", {}).get("bird_state") == "running" and gws["gw1"].get("peers_established") == 1
            and gws["gw1"].get("peers_total") == 1 and gws["gw1"].get("learned_routes") == 1
            and gws["gw1"].get("config_error") is None and gws["gw1"].get("stale") is False
            and gws.get("gw2", {}).get("config_error") == "bird.conf:12:3 syntax error"
            and gws["gw2"].get("peers_established") == 0 and gws["gw2"].get("router_id") == "192.0.2.1", got)
    c.check("status: problems name the refused configuration and the session that is not established",
            "gateway gw2: BIRD refused the configuration: bird.conf:12:3 syntax error" in probs
            and any(p.startswith('gateway gw2: peer up"x\\ (198.51.100.9) is active, not established') for p in probs)
            and "gateway gw2: BIRD is backoff" in probs
            and not any(p.startswith("gateway gw1") for p in probs), probs)
    c.check("gateways: the other gateway's report leaves up1's state alone",
            peer_state(api) == ("established", "established"), peer_state(api))

    st, text = api.request("GET", "/metrics", token=None)
    text = str(text)
    c.check("metrics: rampart_bgp_peer_established names the peer by its resource name, 1 when established",
            metric(text, 'rampart_bgp_peer_established{host="gw1",peer="up1",address="192.0.2.1"} ') ==
            ['rampart_bgp_peer_established{host="gw1",peer="up1",address="192.0.2.1"} 1'], metric(text, "rampart_bgp_peer_e"))
    c.check("metrics: label values escaped (quote and backslash), 0 when not established",
            'rampart_bgp_peer_established{host="gw2",peer="up\\"x\\\\",address="198.51.100.9"} 0' in text,
            metric(text, "rampart_bgp_peer_e"))
    c.check("metrics: routes received, learned routes, restarts, config error, BIRD running",
            'rampart_bgp_peer_routes_received{host="gw1",peer="up1"} 7' in text
            and 'rampart_bgp_learned_routes{host="gw1"} 1' in text
            and 'rampart_bird_restarts_total{host="gw2"} 4' in text
            and 'rampart_bird_config_error{host="gw2"} 1' in text and 'rampart_bird_config_error{host="gw1"} 0' in text
            and 'rampart_bird_running{host="gw2"} 0' in text and 'rampart_bird_running{host="gw1"} 1' in text,
            [l for l in text.splitlines() if "gw" in l])
    ages = metric(text, 'rampart_gateway_report_age_seconds{host="gw1"} ')
    c.check("metrics: report age per gateway", len(ages) == 1 and 0 <= float(ages[0].split()[-1]) < 30, ages)

    # DELETE, and a report that goes stale.
    st, _ = api.request("DELETE", "/v1/gateways/gw1")
    c.check("gateways: DELETE -> 204", st == 204, st)
    st, _ = api.get("/v1/gateways/gw1")
    st2, _ = api.request("DELETE", "/v1/gateways/gw1")
    c.check("gateways: GET and DELETE after DELETE -> 404", st == 404 and st2 == 404, (st, st2))
    c.check("gateways: with the report gone the state is 'unknown' again", peer_state(api) == ("unknown", "unknown"),
            peer_state(api))
    st, _ = api.request("PUT", "/v1/gateways/gw1", report("gw1", interval=1))
    c.check("gateways: a report with interval_s 1", st == 200 and peer_state(api) == ("established", "established"),
            (st, peer_state(api)))
    time.sleep(3.3)   # older than 3 x interval_s
    st, got = api.get("/v1/gateways/gw1")
    c.check("gateways: after 3 intervals without a report it is stale", st == 200 and got.get("stale") is True
            and got.get("age_s", 0) >= 3, got)
    c.check("gateways: a stale report gives no state: 'unknown'", peer_state(api) == ("unknown", "unknown"),
            peer_state(api))
    st, got = api.get("/v1/status")
    c.check("status: a stale report is a problem",
            any(p.startswith("gateway gw1: report stale (") for p in got.get("problems", [])), got.get("problems"))

    # bgp_peers: state is read-only, and what BIRD would refuse is refused here.
    st, got = api.post("/v1/bgp_peers", {"name": "up9", "port": "uplink-a", "peer_address": "192.0.2.9",
                                         "peer_asn": 64501, "local_asn": 64512, "state": "established"})
    c.check("bgp_peers: a given state is ignored (not stored)", st == 201 and "state" not in got, (st, got))
    st, got = api.get("/v1/bgp_peers/up9")
    c.check("bgp_peers: ... and GET shows the reported one ('unknown')", st == 200 and got.get("state") == "unknown",
            (st, got))
    before = api.get("/v1/export")[1]
    ok_peer = {"port": "uplink-a", "peer_address": "192.0.2.10", "peer_asn": 64502, "local_asn": 64512}
    bad_peers = [
        ("bad peer_address", {"peer_address": "192.0.2.300"}, "peer_address"),
        ("multicast peer_address", {"peer_address": "224.0.0.5"}, "peer_address"),
        ("peer_address 0.0.0.0", {"peer_address": "0.0.0.0"}, "peer_address"),
        ("loopback peer_address", {"peer_address": "127.0.0.1"}, "peer_address"),
        ("peer_asn 0", {"peer_asn": 0}, "peer_asn"),
        ("peer_asn above 4294967295", {"peer_asn": 4294967296}, "peer_asn"),
        ("local_asn 0", {"local_asn": 0}, "local_asn"),
        ("a bridge port", {"port": "web2"}, "port"),
        ("an unknown port", {"port": "nope"}, "port"),
        ("hold_time 2", {"hold_time": 2}, "hold_time"),
        ("hold_time 65536", {"hold_time": 65536}, "hold_time"),
        ("keepalive above hold_time", {"hold_time": 9, "keepalive": 10}, "keepalive"),
        ("unknown field", {"colour": "red"}, "colour"),
        ("state that is not a string", {"state": 5}, "state"),
    ]
    for what, change, field in bad_peers:
        st, got = api.post("/v1/bgp_peers", dict(ok_peer, **change))
        c.check(f"bgp_peers: {what} -> 400 naming '{field}'", st == 400 and got.get("field") == field, (st, got))
    st, got = api.request("PATCH", "/v1/bgp_peers/up9", {"hold_time": 1})
    c.check("bgp_peers: PATCH hold_time 1 -> 400 naming hold_time", st == 400 and got.get("field") == "hold_time",
            (st, got))
    c.check("bgp_peers: refused writes changed nothing", api.get("/v1/export")[1] == before)
    st, got = api.post("/v1/bgp_peers", dict(ok_peer, hold_time=3, keepalive=1, password="s3cret!"))
    c.check("bgp_peers: hold_time 3, keepalive 1, a printable password -> 201", st == 201, (st, got))
    st, got = api.get("/v1/openapi.yaml")
    c.check("openapi document describes /v1/gateways", st == 200 and "/v1/gateways/{host}:" in str(got)
            and "GatewayReport:" in str(got), st)
finally:
    api.stop()

sys.exit(c.done())
