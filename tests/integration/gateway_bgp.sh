#!/usr/bin/env bash
# rampart-gateway end to end (issue 7): the cloud of scripts/cloud/cloud.sh in
# network namespaces: an FRR upstream (bgpd + bfdd) with an internet host
# behind it, a gateway namespace running rampart-gateway (BIRD under it) and
# rampart-api on the embedded store, a hypervisor running rampart-agent with
# two VMs in two tenants (SNAT; a floating IP).
#
# Checks print "ok   ..." or "FAIL ...", then "N passed, N failed".
# Exit 0 all passed, 1 something failed, 77 skipped (not root, no FRR/BIRD).
# Everything it makes is named rpt<pid>... and removed on exit, even on failure.
# Environment: GATEWAY_TEST_BIN (default build/asan), KEEP=1 keeps the work dir.
set -u
cd "$(dirname "$0")/../.."

BIN=${GATEWAY_TEST_BIN:-build/asan}
py=/usr/bin/python3
here=tests/integration/agent
export CLOUD_PREFIX=rpt$$- CLOUD_DIR=/tmp/rpt$$-cloud CLOUD_UNDERLAY=10.251.0 CLOUD_BIN=$BIN CLOUD_KEEP=${KEEP:-0}
echo "gateway uplink backend: ${CLOUD_GW_BACKEND:-afpacket}"
P=$CLOUD_PREFIX D=$CLOUD_DIR
passed=0 failed=0

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (network namespaces)"; exit 77; }
[ -x /usr/lib/frr/bgpd ] || { echo "skip: FRR is not installed (make deps)"; exit 77; }
command -v bird >/dev/null || { echo "skip: BIRD is not installed (make deps)"; exit 77; }
for b in rampart-api rampart-gateway rampart-agent rampartctl; do
  [ -x "$BIN/$b" ] || { echo "FAIL $BIN/$b is missing (make unit-tests builds it)"; exit 1; }
done

cleanup() {
  [ "${KEEP:-0}" = 1 ] && echo "kept $D"
  scripts/cloud/cloud.sh down >/dev/null 2>&1
  rm -f "$D.up.log"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

nsx() { local ns=$1; shift; ip netns exec "$P$ns" "$@"; }
. tests/integration/lib/checks.sh
api() { curl -s -m 5 -H "Authorization: Bearer $RAMPART_TOKEN" "$@"; }
report() { api "$RAMPART_API/v1/gateways/gw1"; }
vtysh() { nsx up vtysh --vty_socket "$D/frr" "$@"; }
ctl() { "$BIN/rampartctl" "$@"; }
# the daemons must live through every section: if one died, say so and stop
# (every later check would only wait out its timeout)
alive() {
  local f
  for f in gateway agent api; do
    if ! kill -0 "$(cat "$D/$f.pid" 2>/dev/null)" 2>/dev/null; then
      fail "rampart-$f is running ($1)"; show "$D/$f.log" 30
      echo "$passed passed, $failed failed"; exit 1
    fi
  done
}

# --- bring the cloud up -------------------------------------------------------------
if ! scripts/cloud/cloud.sh up >"$D.up.log" 2>&1; then
  fail "the cloud comes up"; show "$D.up.log"; [ -f "$D/api.log" ] && show "$D/api.log"
  echo "$passed passed, $failed failed"; exit 1
fi
mv "$D.up.log" "$D/up.log"
. "$D/env"

# --- BGP and BFD ----------------------------------------------------------------------
peer_is() { report | jq -e --arg s "$1" --arg b "$2" '.peers[0].state == $s and .peers[0].bfd == $b' >/dev/null; }
check "the BGP session with the FRR upstream comes up, BFD up (gateway report)" poll 150 peer_is established up
frr_bfd_up() { vtysh -c "show bfd peers json" | jq -e '.[] | select(.peer == "10.99.0.2") | .status == "up"' >/dev/null; }
check "FRR sees the BFD session up" poll 50 frr_bfd_up
frr_has() { vtysh -c "show ip route $1 json" | jq -e --arg p "$1" '.[$p][0].protocol == "bgp"' >/dev/null; }
check "the upstream learns the provider prefix 203.0.113.0/24" poll 50 frr_has 203.0.113.0/24
check "the upstream learns the floating IP 203.0.113.20/32" poll 50 frr_has 203.0.113.20/32
gw_has() { report | jq -e --arg p "$1" '[.routes[].dst] | index($p) != null' >/dev/null; }
check "the gateway learns the upstream's default route" poll 50 gw_has 0.0.0.0/0
check "the gateway learns 198.51.100.0/24" poll 50 gw_has 198.51.100.0/24
check "BIRD exported them into kernel table 100" \
  bash -c "ip -n ${P}gw route show table 100 2>/dev/null | grep -q '^default via 10.99.0.1'"
check "bgp_peers.state shows established in the API" \
  bash -c "curl -s -H 'Authorization: Bearer $RAMPART_TOKEN' $RAMPART_API/v1/bgp_peers | jq -e '.[0].state == \"established\"' >/dev/null"
check "/metrics has the peer established" \
  bash -c "curl -s $RAMPART_API/metrics | grep -q '^rampart_bgp_peer_established{.*} 1'"
ctl bgp >"$D/ctl-bgp.out" 2>&1
check "rampartctl bgp lists the peer as established" grep -qi "10.99.0.1.*established" "$D/ctl-bgp.out"

# --- traffic ------------------------------------------------------------------------------
alive "before: traffic"
counter() { jq -r ".gateway.counters.$1 // 0" "$D/gw-stats.json" 2>/dev/null || echo 0; }
ping_ok() { nsx "$1" timeout 12 $py $here/ping.py "$2" -c 25 -i 0.2 -n "${3:-3}" -W 2 >"$D/ping.out" 2>&1; }
learned_before=$(counter egress_learned)
check "vm1 pings the internet host through SNAT" ping_ok vm1 198.51.100.10
check "  and its very first packet arrives (held while the SNAT port block was leased)" \
  grep -q "^reply 1 " "$D/ping.out"
nsx inet timeout 40 $py $here/tcp_stream.py serve 9000 "$D/inet-got" &
spid=$!
sleep 0.5
sent=$(nsx vm1 timeout 40 $py $here/tcp_stream.py send 198.51.100.10 9000 2000000 2>&1)
wait $spid
check "vm1 -> internet: a 2 MB TCP stream arrives intact (sha256)" test "$sent" = "$(cat "$D/inet-got" 2>/dev/null)"
nsx vm1 curl -s -m 5 http://198.51.100.10/hello.txt >"$D/fetch.out" 2>&1
check "vm1 fetches over HTTP from the internet host" grep -q "hello from the internet host" "$D/fetch.out"
check "the internet host saw the SNAT address 203.0.113.1" grep -q "^203.0.113.1 " "$D/http.log"
kill -USR1 "$(cat "$D/gateway.pid")"; sleep 0.3
check "the uplink routed those frames by the learned routes" test "$(counter egress_learned)" -gt "$learned_before"

check "the internet host pings the floating IP 203.0.113.20" ping_ok inet 203.0.113.20
nsx vm2 timeout 40 $py $here/tcp_stream.py serve 9001 "$D/vm2-got" &
spid=$!
sleep 0.5
sent=$(nsx inet timeout 40 $py $here/tcp_stream.py send 203.0.113.20 9001 2000000 2>&1)
wait $spid
check "internet -> floating IP: a 2 MB TCP stream reaches vm2 intact (sha256)" \
  test "$sent" = "$(cat "$D/vm2-got" 2>/dev/null)"

ctl floating-ip create --address 203.0.113.21 --router provider --port vm1 --fixed-ip 10.1.0.10 >"$D/fip.out" 2>&1
check "a floating IP created through the API is announced upstream" poll 50 frr_has 203.0.113.21/32
check "and reaches vm1 from the internet host" ping_ok inet 203.0.113.21

# --- route changes upstream ------------------------------------------------------------------
alive "before: route changes upstream"
vtysh -c "configure terminal" -c "router bgp 65000" -c "address-family ipv4 unicast" \
  -c "no network 198.51.100.0/24" >/dev/null
gw_lacks() { ! gw_has "$1" && ! ip -n "${P}gw" route show table 100 2>/dev/null | grep -q "^$1 "; }
check "a route withdrawn upstream leaves the gateway's tables (report and kernel table)" \
  poll 50 gw_lacks 198.51.100.0/24
vtysh -c "configure terminal" -c "router bgp 65000" -c "address-family ipv4 unicast" \
  -c "no neighbor 10.99.0.2 default-originate" >/dev/null
check "the default route withdrawn too leaves the gateway" poll 50 gw_lacks 0.0.0.0/0
kill -USR1 "$(cat "$D/gateway.pid")"; sleep 0.3
static_before=$(counter egress_static)
check "with no learned route, traffic follows the topology's static route" ping_ok vm1 198.51.100.10
kill -USR1 "$(cat "$D/gateway.pid")"; sleep 0.3
check "  (counted as routed by the static route at the uplink)" test "$(counter egress_static)" -gt "$static_before"
vtysh -c "configure terminal" -c "router bgp 65000" -c "address-family ipv4 unicast" \
  -c "network 198.51.100.0/24" -c "neighbor 10.99.0.2 default-originate" >/dev/null
check "routes offered again come back" poll 75 gw_has 0.0.0.0/0

# --- BIRD killed ------------------------------------------------------------------------------
alive "before: BIRD killed"
old=$(cat "$D/bird/bird.pid")
kill -KILL "$old"
bird_back() { report | jq -e --arg o "$old" '.bird.state == "running" and (.bird.pid | tostring) != $o and .bird.restarts >= 1 and .peers[0].state == "established"' >/dev/null; }
check "BIRD killed is restarted by the gateway and the session comes back" poll 150 bird_back
check "the learned routes are back in the gateway" poll 50 gw_has 198.51.100.0/24

# --- bad input -----------------------------------------------------------------------------------
alive "before: bad input"
code() { api -o "$D/body.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d "$1" "$RAMPART_API/v1/bgp_peers"; }
c=$(code '{"port": "uplink", "peer_address": "10.99.0.300", "peer_asn": 65001, "local_asn": 64512}')
check "a bgp_peers body with a bad address is refused (400 naming peer_address)" \
  bash -c "[ $c = 400 ] && grep -q peer_address '$D/body.json'"
c=$(code '{"port": "uplink", "peer_address": "10.99.0.1", "peer_asn": 0, "local_asn": 64512}')
check "a bgp_peers body with AS 0 is refused (400 naming peer_asn)" \
  bash -c "[ $c = 400 ] && grep -q peer_asn '$D/body.json'"
c=$(code '{"port": "uplink", "peer_address": "10.99.0.1", "peer_asn": 65000, "local_asn": 64512, "password": "a\"b"}')
check "a bgp_peers password BIRD cannot quote is refused (400 naming password)" \
  bash -c "[ $c = 400 ] && grep -q password '$D/body.json'"
# Two peers of one gateway at the same address: each is valid alone, only the
# gateway sees the conflict; it refuses the configuration and reports it.
c=$(code '{"port": "uplink", "peer_address": "10.99.0.1", "peer_asn": 65001, "local_asn": 64512}')
bad_id=$(jq -r '.id // empty' "$D/body.json")
cfg_error() { api "$RAMPART_API/v1/status" | jq -e --arg id "$bad_id" '[.problems[] | select(contains($id))] | length > 0' >/dev/null; }
if [ -n "$bad_id" ]; then
  check "a configuration the gateway cannot run shows in /v1/status, naming the peer" poll 50 cfg_error
  check "  and the previous configuration keeps the session up" peer_is established up
  ctl bgp >"$D/ctl-bgp.out" 2>&1
  check "  and rampartctl bgp shows the configuration error" grep -qi "config error.*$bad_id" "$D/ctl-bgp.out"
  api -X DELETE "$RAMPART_API/v1/bgp_peers/$bad_id" >/dev/null
  no_error() { ! cfg_error; }
  check "  and the error clears once the duplicate peer is gone" poll 50 no_error
else
  fail "a second peer at the same address is accepted by the API (HTTP $c: $(cat "$D/body.json"))"
fi

# --- stopping ---------------------------------------------------------------------------------------
alive "before: stopping"
kill -TERM "$(cat "$D/gateway.pid")"
gone() { ! frr_has 203.0.113.0/24; }
check "the gateway stopped, the upstream withdraws its prefixes" poll 50 gone
exited() { ! kill -0 "$(cat "$D/gateway.pid")" 2>/dev/null; }
check "the gateway exits on SIGTERM" poll 50 exited
check "no BIRD is left behind" bash -c "! ip netns pids ${P}gw | xargs -r ps -o comm= -p 2>/dev/null | grep -q bird"
for f in gateway agent api; do
  if grep -q "ERROR: AddressSanitizer\|runtime error:" "$D/$f.log" 2>/dev/null; then
    fail "$f log has a sanitizer report"; show "$D/$f.log" 30
  fi
done

if [ $failed -gt 0 ]; then
  show "$D/gateway.log" 25; show "$D/agent.log" 10; [ -f "$D/bird/bird.log" ] && show "$D/bird/bird.log" 10
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
