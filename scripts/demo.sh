#!/usr/bin/env bash
# make demo: the whole cloud on this machine (scripts/cloud/cloud.sh), left
# running: an FRR upstream router and an internet host, a border gateway
# (rampart-gateway with BIRD, and rampart-api on its embedded store), a
# hypervisor (rampart-agent) with two VMs in two tenants. It waits for BGP,
# then shows traffic both ways and where to look. `make demo-down` removes
# every namespace and process it made.
set -euo pipefail
cd "$(dirname "$0")/.."
export CLOUD_PREFIX=rpd- CLOUD_DIR=/run/rampart-demo
P=$CLOUD_PREFIX D=$CLOUD_DIR
ctl=build/rel/rampartctl

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@" || true; }
inns() { local ns=$1; shift; printf '$ ip netns exec %s %s\n' "$P$ns" "$*"; ip netns exec "$P$ns" "$@" || true; }

[ "$(id -u)" = 0 ] || { echo "make demo needs root (it creates network namespaces)"; exit 1; }
say "Bringing the cloud up (namespaces ${P}*, work directory $D)"
if ! scripts/cloud/cloud.sh up; then
  echo "the cloud did not come up; logs in $D"; exit 1
fi
. "$D/env"

printf 'waiting for the BGP session with the upstream and its routes'
for _ in $(seq 150); do
  st=$("$ctl" --json bgp 2>/dev/null |
       jq -r '.gateways[0] | "\(.peers[0].state // "-") \(.learned_routes // 0) learned routes"' 2>/dev/null || true)
  case "$st" in "established 0 "*) ;; established*) break ;; esac
  printf '.'; sleep 0.2
done
echo " $st"

say "What runs"
cat <<EOF
  ${P}up     FRR (bgpd, bfdd), AS 65000, 10.99.0.1: offers a default route and 198.51.100.0/24
  ${P}inet   the internet host 198.51.100.10 (HTTP on port 80)
  ${P}gw     rampart-gateway, uplink up0 10.99.0.2/30, BIRD AS 64512 under it;
              rampart-api on $RAMPART_API (SQLite store $D/rampart.db)
  ${P}hv1    rampart-agent with two VMs:
  ${P}vm1    10.1.0.10, tenant alpha, to the internet through SNAT 203.0.113.1
  ${P}vm2    10.2.0.10, tenant beta, floating IP 203.0.113.20 (HTTP on port 80)
  logs: $D/{gateway,agent,api}.log, $D/bird/bird.log; counters: $D/{gw,hv1}-stats.json
EOF

say "The API and the BGP state (rampartctl talks to the API)"
run "$ctl" status
run "$ctl" bgp
run "$ctl" bgp routes
inns up vtysh --vty_socket "$D/frr" -c "show ip bgp"

say "vm1 -> the internet host, through SNAT"
inns vm1 ping -c 3 -i 0.3 198.51.100.10
echo "(the first packet waits while the hypervisor leases a block of SNAT ports from the API)"
inns vm1 curl -sS -m 5 http://198.51.100.10/hello.txt
echo "(the internet host saw:)"; tail -n 1 "$D/http.log"

say "The internet host -> vm2 through its floating IP"
inns inet ping -c 3 -i 0.3 203.0.113.20
inns inet curl -sS -m 5 http://203.0.113.20/

say "How the first packet of vm1's flow went through the topology (a live trace)"
echo '{"in_port": "vm1", "packets": [{"ip_dst": "198.51.100.10", "dst_port": 80}]}' >"$D/trace.json"
run "$ctl" trace "$D/trace.json"

say "Look around yourself"
cat <<EOF
  . $D/env                                  # RAMPART_API and RAMPART_TOKEN for rampartctl
  build/rel/rampartctl bgp                  # peers, BIRD, learned routes
  build/rel/rampartctl floating-ip create --address 203.0.113.21 --router provider --port vm1 --fixed-ip 10.1.0.10
  ip netns exec ${P}inet ping 203.0.113.21  # reachable about a second later
  ip netns exec ${P}vm1 curl http://198.51.100.10/hello.txt
  ip netns exec ${P}up vtysh --vty_socket $D/frr   # the upstream router's shell
  curl -s $RAMPART_API/metrics | grep rampart_bgp
  make demo-down                            # stop everything and remove the namespaces
EOF
