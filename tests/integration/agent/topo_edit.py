#!/usr/bin/python3
"""Edit the test topology in place (atomically, by rename).

topo_edit.py FILE block-port PORT     add chain "block" (one drop rule) as PORT's inbound_filter
topo_edit.py FILE unblock-port PORT   remove it again
topo_edit.py FILE remove-port PORT    delete the port
topo_edit.py FILE copy-port PORT FROM add the port as it is in topology file FROM
topo_edit.py FILE add-port PORT KEY=VALUE...
                                      add a port; a VALUE that parses as JSON is JSON
"""
import json, os, sys

CHAIN = "7a000000-0000-4000-8000-000000000601"
RULE = "7a000000-0000-4000-8000-000000000701"

path, op, name = sys.argv[1:4]
d = json.load(open(path))
port = next((p for p in d["ports"] if p["name"] == name), None)
if op == "block-port":
    d["chains"].append({"id": CHAIN, "name": "block"})
    d["rules"].append({"id": RULE, "chain": CHAIN, "position": 1, "action": "drop"})
    port["inbound_filter"] = CHAIN
elif op == "unblock-port":
    port.pop("inbound_filter", None)
    d["rules"] = [r for r in d["rules"] if r["id"] != RULE]
    d["chains"] = [c for c in d["chains"] if c["id"] != CHAIN]
elif op == "remove-port":
    d["ports"].remove(port)
elif op == "copy-port":
    d["ports"].append(next(p for p in json.load(open(sys.argv[4]))["ports"] if p["name"] == name))
elif op == "add-port":
    port = {"name": name}
    for kv in sys.argv[4:]:
        k, v = kv.split("=", 1)
        try:
            port[k] = json.loads(v)
        except ValueError:
            port[k] = v
    d["ports"].append(port)
else:
    sys.exit("unknown op " + op)
with open(path + ".tmp", "w") as f:
    json.dump(d, f, indent=1)
os.rename(path + ".tmp", path)
