#!/usr/bin/env bash
# make demo: what the tree can do today, for real. The flow simulator answers
# packets through the example cloud (provider router with a BGP uplink and a
# default route, tenant router "acme" with SNAT, bridge "acme-net", VM "web1"
# with floating IP 100.64.10.50), printed hop by hop by rampartctl trace.
set -euo pipefail
cd "$(dirname "$0")/.."
ctl=build/rel/rampartctl
topo=scripts/demo/cloud.json

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "The cloud: $topo"
python3 - "$topo" <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("routers", "bridges", "ports", "routes", "floating_ips", "bgp_peers"):
    print(f"  {k:13} {', '.join(x.get('name') or x.get('address') or x.get('dst') or x['id'][:8] for x in d[k])}")
PY

say "1. VM web2 (10.1.0.11, no floating IP) opens TCP to 203.0.113.7:80 through SNAT to 100.64.10.2; the reply is translated back"
$ctl trace --topology "$topo" scripts/demo/vm-to-internet.json

say "2. A traceroute probe with TTL 2 expires at the provider router; the ICMP error finds its way back"
$ctl trace --topology "$topo" scripts/demo/traceroute.json

say "3. The internet pings the floating IP 100.64.10.50"
$ctl trace --topology "$topo" scripts/demo/internet-to-fip.json

say "The same as JSON, for scripts (api-model.md trace format):"
$ctl trace --topology "$topo" --json scripts/demo/internet-to-fip.json | head -40

cat <<MSG

What you saw is the simulator that every Rampart host runs on the first
packet of each flow. Try your own: $ctl trace --topology $topo FILE.json
(format: docs/trace.md). Packet I/O, the REST API and the BGP border are
not in this tree yet; see docs/architecture.md.
MSG
