#!/usr/bin/env bash
# make demo-api: the control plane and the simulator. It starts rampart-api on
# the embedded SQLite store (in a temporary directory, on loopback), loads
# the example cloud through rampartctl, traces packets through it (SNAT out,
# a floating IP in, a traceroute through SNAT), and shows creating, refusing,
# reading and deleting resources, the watch stream, status and metrics. It
# stops the server and removes its files at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
api=build/rel/rampart-api
ctl=build/rel/rampartctl
work=$(mktemp -d /tmp/rampart-demo-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@" || true; }

head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/token"
cat >"$work/rampart.conf" <<CONF
api: { listen = "127.0.0.1"; port = 0; token_file = "$work/token"; };
store: { backend = "sqlite"; path = "$work/rampart.db"; };
CONF
"$api" -c "$work/rampart.conf" >"$work/out" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do grep -q '^listening' "$work/out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$work/out")
[ -n "$port" ] || { echo "rampart-api did not start:"; cat "$work/log"; exit 1; }
export RAMPART_API=http://127.0.0.1:$port RAMPART_TOKEN=$(cat "$work/token")

say "rampart-api serves on $RAMPART_API (SQLite store: $work/rampart.db)"
run "$ctl" status

say "Load the example cloud: a provider router with a BGP uplink, tenant 'acme' with SNAT, a bridge, VMs, a floating IP"
run "$ctl" import scripts/demo/cloud.json
run "$ctl" router list
run "$ctl" port list

say "Trace packets through the live topology (the simulator every host runs)"
run "$ctl" trace scripts/demo/vm-out.json
run "$ctl" trace scripts/demo/internet-to-fip.json
run "$ctl" trace scripts/demo/traceroute.json
say "The same, offline on the export document, as JSON for scripts (first lines)"
"$ctl" trace --topology scripts/demo/cloud.json --json scripts/demo/vm-out.json | head -20

say "Create a tenant network through the API (references by name; replies carry ids)"
run "$ctl" bridge create --name demo-net --tenant demo
run "$ctl" port create --name demo-vm --device demo-net --mac 02:00:00:00:de:01 --fixed-ips '["10.9.0.5"]' --host hv-1 --interface tap-demo

say "Bad input is refused with the field named, and nothing is written"
run "$ctl" port create --name bad --device no-such-bridge
run "$ctl" route create --router acme --dst 10.0.0.1/8 --next-hop-port acme-gw
run "$ctl" chain delete acme-pre

say "Every change is on the watch stream, in order, resumable from any revision"
timeout 2 "$ctl" watch --since 1 | head -4 | cut -c1-150 || true

say "Delete what we made, and look at the metrics Prometheus would scrape"
run "$ctl" port delete demo-vm
run "$ctl" bridge delete demo-net
curl -s "$RAMPART_API/metrics" | grep -E '^rampart_(store_revision|resources\{type="ports"\}|api_requests_total)' | head -8

cat <<MSG

That was the Rampart control plane and its simulator: REST API (api/),
SQLite store (store/), the topology and flow simulator (sim/, nat/),
rampartctl (cli/). Try it yourself:
  build/rel/rampart-api -c CONFIG        (docs/api.md)
  rampartctl trace --topology scripts/demo/cloud.json scripts/demo/traceroute.json   (docs/trace.md)
  build/rel/rampart-agent -c CONFIG      (docs/agent.md; tests/integration/agent_namespaces.sh
                                          runs two hypervisors and four VMs in namespaces)
The BGP gateway is not here yet (docs/architecture.md, "State of the tree").
MSG
