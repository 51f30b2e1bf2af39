#!/usr/bin/env bash
# Two gateways active-active behind ECMP (scripts/cloud/cloud.sh with
# CLOUD_GATEWAYS=2): the FRR upstream spreads the traffic to the cloud over
# both gateways; the hypervisor spreads its traffic to the internet over both
# uplinks (the provider router's default routes, ECMP). Both uplinks are in a
# stateful port group, so the NAT state a hypervisor creates goes to both
# gateways before the packet does.
#
# Checks: both sessions with BFD; the upstream has two next hops; a TCP stream
# through SNAT whose packets leave by one gateway and whose answers come back
# through the other arrives intact (asymmetric return); then, in the middle of
# such a stream, the gateway carrying the answers dies (rampart-gateway and its
# BIRD killed -9, as a crashed node): the upstream moves the answers to the
# other gateway when BFD notices, and the stream arrives intact.
#
# Output and exit codes as the other integration scripts; everything is named
# rph<pid>... and removed on exit.
set -u
cd "$(dirname "$0")/../.."

BIN=${GATEWAY_TEST_BIN:-build/asan}
py=/usr/bin/python3
here=tests/integration/agent
export CLOUD_PREFIX=rph$$- CLOUD_DIR=/tmp/rph$$-cloud CLOUD_UNDERLAY=10.254.0 CLOUD_BIN=$BIN CLOUD_GATEWAYS=2
P=$CLOUD_PREFIX D=$CLOUD_DIR
passed=0 failed=0

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (network namespaces)"; exit 77; }
[ -x /usr/lib/frr/bgpd ] || { echo "skip: FRR is not installed (make deps)"; exit 77; }
command -v bird >/dev/null || { echo "skip: BIRD is not installed (make deps)"; exit 77; }
for b in rampart-api rampart-gateway rampart-agent rampartctl; do
  [ -x "$BIN/$b" ] || { echo "FAIL $BIN/$b is missing (make unit-tests builds it)"; exit 1; }
done

cleanup() {
  [ "${KEEP:-0}" = 1 ] && { echo "kept $D"; export CLOUD_KEEP=1; }
  scripts/cloud/cloud.sh down >/dev/null 2>&1
  rm -f "$D.up.log"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

. tests/integration/lib/checks.sh
nsx() { local ns=$1; shift; ip netns exec "$P$ns" "$@"; }
api() { curl -s -m 5 -H "Authorization: Bearer $RAMPART_TOKEN" "$@"; }
# gateway N -> its pid file, stats file, BIRD directory, upstream-side address
gw_pid() { [ "$1" = 1 ] && cat "$D/gateway.pid" || cat "$D/gateway2.pid"; }
gw_stats() { [ "$1" = 1 ] && echo "$D/gw-stats.json" || echo "$D/gw2-stats.json"; }
gw_bird() { [ "$1" = 1 ] && echo "$D/bird" || echo "$D/bird2"; }
gw_addr() { [ "$1" = 1 ] && echo 10.99.0.2 || echo 10.99.1.2; }
# frames a gateway sent out of its uplink, all kinds
egress() {
  kill -USR1 "$(gw_pid "$1")" 2>/dev/null; sleep 0.3
  jq '[.gateway.counters.egress_learned, .gateway.counters.egress_static, .gateway.counters.egress_as_sent] | add' \
    "$(gw_stats "$1")" 2>/dev/null || echo 0
}

if ! scripts/cloud/cloud.sh up >"$D.up.log" 2>&1; then
  fail "the cloud with two gateways comes up"; show "$D.up.log"
  echo "$passed passed, $failed failed"; exit 1
fi
mv "$D.up.log" "$D/up.log"
. "$D/env"

both_up() {
  api "$RAMPART_API/v1/gateways" |
    jq -e '[.gateways[] | select(.peers[0].state == "established" and .peers[0].bfd == "up")] | length == 2' >/dev/null
}
check "both gateways have their BGP session with BFD up" poll 150 both_up
two_paths() {
  nsx up vtysh --vty_socket "$D/frr" -c "show ip route 203.0.113.0/24 json" |
    jq -e '.["203.0.113.0/24"][0].nexthops | map(select(.active)) | length == 2' >/dev/null
}
check "the upstream reaches 203.0.113.0/24 through both gateways (ECMP)" poll 50 two_paths
learned_both() {
  for f in "$D/gw-stats.json" "$D/gw2-stats.json"; do
    [ "$(jq '.gateway.learned_routes // 0' "$f" 2>/dev/null)" -ge 2 ] || return 1
  done
}
check "both gateways learned the upstream's routes" poll 50 learned_both

# The upstream's choice for the answers (its multipath hash is on addresses).
ret=$(nsx up ip route get 203.0.113.1 from 198.51.100.10 iif inet | sed -n 's/.* via \(10\.99\.[01]\.2\) .*/\1/p')
R=0; [ "$ret" = 10.99.0.2 ] && R=1; [ "$ret" = 10.99.1.2 ] && R=2
O=$((3 - R))
check "the upstream sends the answers to 203.0.113.1 through one gateway (gw$R)" test "$R" != 0

# stream_via_O PORT0 BYTES SECONDS NAME: start TCP streams vm1 -> internet
# host until one leaves through gw$O (the hypervisor's ECMP hashes the
# translated ports, so a few tries are needed); leaves it running (server pid
# $sp, sender pid $cp; $D/sent-NAME and $D/got-NAME when done); 1 if none did
# in 12 tries. "Leaves through" is where most of its packets go: a few strays
# may take the other gateway.
stream_via_O() {
  local port0=$1 bytes=$2 secs=$3 name=$4 i a ar b br
  for i in $(seq 12); do
    nsx inet timeout 45 $py $here/tcp_stream.py serve $((port0 + i)) "$D/got-$name" &
    sp=$!
    sleep 0.3
    a=$(egress $O) ar=$(egress $R)
    nsx vm1 timeout 45 $py $here/tcp_stream.py send 198.51.100.10 $((port0 + i)) "$bytes" "$secs" >"$D/sent-$name" 2>&1 &
    cp=$!
    sleep 1.2
    b=$(egress $O) br=$(egress $R)
    [ $((b - a)) -gt $((br - ar)) ] && return 0
    kill "$cp" "$sp" 2>/dev/null; wait $cp $sp 2>/dev/null
  done
  return 1
}
arrived() { test "$(cat "$D/sent-$1")" = "$(cat "$D/got-$1" 2>/dev/null)"; }

if stream_via_O 9100 600000 2 asym; then
  wait $cp; wait $sp
  check "asymmetric: out through gw$O, answers through gw$R, the stream arrives intact (NAT state on both)" \
    arrived asym
else
  fail "no connection in 12 left through gw$O (the hypervisor's ECMP)"
fi

# The gateway carrying the answers dies in the middle of a stream that
# leaves through the other one (one leaving through the dying gateway would be
# lost: hypervisors do not know yet that a gateway is gone, see docs/gateway.md).
if ! stream_via_O 9200 3000000 8 failover; then
  fail "no long stream in 12 left through gw$O"
else
  kill -KILL "$(gw_pid $R)" "$(cat "$(gw_bird $R)/bird.pid")" 2>/dev/null
  t0=$(date +%s%N)
  moved() { nsx up ip route get 203.0.113.1 from 198.51.100.10 iif inet | grep -q "via $(gw_addr $O) "; }
  if poll 50 moved; then
    ok "gw$R killed: the upstream moves the answers to gw$O ($(( ($(date +%s%N) - t0) / 1000000 )) ms, BFD)"
  else
    fail "gw$R killed: the upstream moves the answers to gw$O"
  fi
  wait $cp; wait $sp
  check "the stream going on across the failover arrives intact (sha256 of 3 MB)" arrived failover
fi
one_path() {
  nsx up vtysh --vty_socket "$D/frr" -c "show ip route 203.0.113.0/24 json" |
    jq -e '.["203.0.113.0/24"][0].nexthops | map(select(.active)) | length == 1' >/dev/null
}
check "the upstream keeps one path, through gw$O" poll 50 one_path
for f in gateway gateway2 agent api; do
  if grep -q "ERROR: AddressSanitizer\|runtime error:" "$D/$f.log" 2>/dev/null; then
    fail "$f log has a sanitizer report"; show "$D/$f.log" 30
  fi
done

[ $failed -gt 0 ] && { show "$D/gateway.log" 10; show "$D/gateway2.log" 10; show "$D/agent.log" 10; }
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
