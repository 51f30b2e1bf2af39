#!/usr/bin/env bash
# rampart-agent taking its topology from the API (issue 6, "daemons on the
# watch stream"), in network namespaces:
#   two hypervisors hv1, hv2 on an underlay; the API (SQLite) in hv1; one VM
#   on each host, on one virtual bridge, so VM traffic crosses VXLAN.
# Checks: the agents start from the API and the VMs talk; a rule added
# through the API stops the flow already cached (invalidated by tag, not by
# a flush) and removing it lets it through again; with the API killed the
# VMs keep talking; the API back, the agents resume the stream and apply
# the next change; a resync with nothing changed drops no flow; an agent
# restarted while the API is down starts from its cached copy and forwards.
# Everything it made is removed on exit, even on failure. Skips (77) without
# root or network namespaces.
set -u
cd "$(dirname "$0")/../.."
root=$PWD
api_bin=${RAMPART_API_BIN:-$root/build/asan/rampart-api}
agent_bin=${RAMPART_AGENT_BIN:-$root/build/asan/rampart-agent}
ctl=${RAMPARTCTL:-$root/build/asan/rampartctl}
ping_py="env PING_ID=4242 /usr/bin/python3 $root/tests/integration/lib/icmp_ping.py"
p=rpx$$
work=$(mktemp -d /tmp/rampart-agent-api-XXXXXX)
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0

[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
ip netns add ${p}probe 2>/dev/null || { echo "skip: cannot make network namespaces"; exit 77; }
ip netns del ${p}probe

pids=()
cleanup() {
  if [ "${failed:-0}" -ne 0 ] || [ -n "${KEEP_LOGS:-}" ]; then
    echo "--- logs"; tail -n 25 "$work"/hv1.log "$work"/hv2.log "$work"/api.log 2>/dev/null
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  for n in hv1 hv2 vm1 vm2; do ip netns del ${p}$n 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

passed=0 failed=0
check() { if eval "$2"; then echo "ok   $1"; passed=$((passed+1)); else echo "FAIL $1"; failed=$((failed+1)); fi; }
# poll COND for up to N tenths of a second
wait_for() { local n=$1; shift; for _ in $(seq "$n"); do eval "$@" && return 0; sleep 0.1; done; return 1; }
stat_of() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$work/$1.json')); print(eval(sys.argv[1]))" "$2" 2>/dev/null; }

# --- namespaces -----------------------------------------------------------------------------
for n in hv1 hv2 vm1 vm2; do ip netns add ${p}$n; ip -n ${p}$n link set lo up; done
ip link add ${p}u1 type veth peer name ${p}u2
ip link set ${p}u1 netns ${p}hv1; ip link set ${p}u2 netns ${p}hv2
ip -n ${p}hv1 addr add 172.31.9.11/24 dev ${p}u1; ip -n ${p}hv1 link set ${p}u1 up
ip -n ${p}hv2 addr add 172.31.9.12/24 dev ${p}u2; ip -n ${p}hv2 link set ${p}u2 up
for i in 1 2; do
  ip link add ${p}v$i type veth peer name ${p}e$i
  ip link set ${p}v$i netns ${p}hv$i; ip link set ${p}e$i netns ${p}vm$i
  ip -n ${p}hv$i link set ${p}v$i up
  ip -n ${p}vm$i link set ${p}e$i address 02:00:00:09:00:0$i
  ip -n ${p}vm$i addr add 10.9.0.$i/24 dev ${p}e$i
  ip -n ${p}vm$i link set ${p}e$i up
done

# --- the API in hv1, reachable from hv2 over the underlay ----------------------------------------
echo "tok-$$" >"$work/token"
printf 'api: { listen = "0.0.0.0"; port = 18480; token_file = "%s"; };\nstore: { path = "%s"; };\n' \
  "$work/token" "$work/db" >"$work/api.conf"
start_api() {
  ip netns exec ${p}hv1 "$api_bin" -c "$work/api.conf" >"$work/api.out" 2>>"$work/api.log" &
  api_pid=$!; pids+=("$api_pid")
  wait_for 100 "grep -q '^listening' '$work/api.out'"
}
start_api || { echo "the API did not start"; cat "$work/api.log"; exit 1; }
export RAMPART_API=http://172.31.9.11:18480 RAMPART_TOKEN=tok-$$
api() { ip netns exec ${p}hv1 "$ctl" "$@"; }

cat >"$work/topo.json" <<EOF
{"hosts": [{"name": "hv-1", "tunnel_ip": "172.31.9.11"}, {"name": "hv-2", "tunnel_ip": "172.31.9.12"}],
 "bridges": [{"name": "net"}],
 "chains": [{"name": "guard"}],
 "ports": [
  {"name": "vm1", "device": "net", "mac": "02:00:00:09:00:01", "fixed_ips": ["10.9.0.1"], "host": "hv-1", "interface": "${p}v1"},
  {"name": "vm2", "device": "net", "mac": "02:00:00:09:00:02", "fixed_ips": ["10.9.0.2"], "host": "hv-2", "interface": "${p}v2",
   "outbound_filter": "guard"}]}
EOF
api import "$work/topo.json" >/dev/null || { echo "import refused"; exit 1; }

# --- the agents, from the API ----------------------------------------------------------------------
start_agent() {   # N
  cat >"$work/hv$1.conf" <<EOF
host = "hv-$1";
topology = "$work/hv$1-cache.json";
api: { url = "http://172.31.9.11:18480"; token_file = "$work/token"; };
stats_file = "$work/hv$1.json";
log: { level = "info"; };
EOF
  ip netns exec ${p}hv$1 "$agent_bin" -c "$work/hv$1.conf" >>"$work/hv$1.log" 2>&1 &
  eval "agent$1=$!"; pids+=("$!")
}
start_agent 1; start_agent 2
ping12() { ip netns exec ${p}vm1 $ping_py 10.9.0.2 "${1:-1}" 0.5 >/dev/null 2>&1; }
# no echo of N gets a reply
blocked12() { ! ip netns exec ${p}vm1 $ping_py 10.9.0.2 "${1:-1}" 0.5 2>/dev/null | grep -q "^reply"; }

wait_for 150 ping12
check "agents take the topology from the API; vm1 pings vm2 across hosts" 'ping12 3'
[ "$failed" -eq 0 ] || { echo "agent api: nothing else can pass"; exit 1; }
check "each agent kept a copy of the API's topology" '[ -s "$work/hv1-cache.json" ] && [ -s "$work/hv2-cache.json" ]'
check "stats show the API stream connected" \
  'wait_for 50 "[ \"\$(stat_of hv2 \"d[\\\"api\\\"][\\\"connected\\\"]\")\" = True ]"'

flows_before=$(stat_of hv2 'd["flows"]')
api rule create --chain guard --position 1 --nw-src 10.9.0.1/32 --action drop >"$work/rule.out" 2>&1
rule=$(/usr/bin/python3 -c "import sys; [print(l.split()[1]) for l in open('$work/rule.out') if l.startswith('id ')]")
check "a drop rule added through the API (vm2's outbound filter) stops the cached flow" \
  'wait_for 50 blocked12 && blocked12 3'
check "... by invalidating the flows at the ingress host (hv1), not flushing its cache" \
  'wait_for 30 "[ \"\$(stat_of hv1 \"d[\\\"api\\\"][\\\"flows_invalidated\\\"]\")\" -ge 1 ]" && [ "$(stat_of hv1 "d[\"api\"][\"flushes\"]")" = 0 ]'
api rule delete "$rule" >/dev/null 2>&1
check "removing the rule lets vm1 reach vm2 again" 'wait_for 50 ping12 && ping12 2'

kill -9 "$api_pid"; wait "$api_pid" 2>/dev/null
check "with the API killed, the VMs keep talking" 'ping12 3'
check "stats show the stream down" 'wait_for 200 "[ \"\$(stat_of hv1 \"d[\\\"api\\\"][\\\"connected\\\"]\")\" = False ]"'

start_api || { echo "the API did not restart"; cat "$work/api.log"; exit 1; }
check "the API back, the agents reconnect" \
  'wait_for 150 "[ \"\$(stat_of hv2 \"d[\\\"api\\\"][\\\"connected\\\"]\")\" = True ]"'
api rule create --chain guard --position 1 --nw-src 10.9.0.1/32 --action drop >"$work/rule.out" 2>&1
check "a change after the reconnect is applied (traffic stops)" 'wait_for 80 blocked12 && blocked12 3'
rule=$(/usr/bin/python3 -c "import sys; [print(l.split()[1]) for l in open('$work/rule.out') if l.startswith('id ')]")
api rule delete "$rule" >/dev/null 2>&1
wait_for 50 ping12

# A resync (SIGHUP in API mode: a fresh snapshot) with nothing changed
# keeps every cached flow.
ping12 2
snaps=$(grep -c "topology at revision" "$work/hv1.log")
kill -USR1 "$agent1"; sleep 0.5   # the stats file as of now, not up to a second ago
inv=$(stat_of hv1 'd["api"]["flows_invalidated"]')
kill -HUP "$agent1"
check "SIGHUP in API mode takes a fresh snapshot" \
  'wait_for 100 "[ \$(grep -c \"topology at revision\" $work/hv1.log) -gt $snaps ]"'
sleep 1.2   # one stats period (flows themselves may have reached their
            # 10 s hard timeout by now: the counters are the evidence)
check "... and drops no flow when nothing changed (no flush, no invalidation)" \
  '[ "$(stat_of hv1 "d[\"api\"][\"flows_invalidated\"]")" = "$inv" ] && [ "$(stat_of hv1 "d[\"api\"][\"flushes\"]")" = 0 ]'

kill "$api_pid"; wait "$api_pid" 2>/dev/null
kill "$agent2"; wait "$agent2" 2>/dev/null
check "agent stopped with SIGTERM exits cleanly" 'grep -q "stopped" "$work/hv2.log"'
start_agent 2
check "an agent restarted while the API is down forwards from its cached copy" 'wait_for 100 ping12 && ping12 2'
check "both agents are still alive" 'kill -0 "$agent1" && kill -0 "$agent2"'

echo "agent api: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
