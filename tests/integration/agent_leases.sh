#!/usr/bin/env bash
# SNAT port blocks leased through the API (issue 6), in network namespaces:
#   two hypervisors hv1, hv2 on an underlay; the API (SQLite) in hv1; one VM
#   on each host on one bridge behind tenant router "tr", which SNATs both
#   VMs to one public address, 203.0.113.1, out of its uplink (an exterior
#   port on hv1) towards an "internet" namespace (203.0.113.100).
# Checks: both VMs reach the internet host through SNAT and get the answer
# back; the API lists blocks of (tr, 203.0.113.1) held by both hosts and
# never one block by both; the translated source port the internet host saw
# from each VM lies in a block its own host holds; an agent stopped with
# SIGTERM gives its blocks back.
# Everything it made is removed on exit, even on failure. Skips (77) without
# root or network namespaces.
set -u
cd "$(dirname "$0")/../.."
root=$PWD
api_bin=${RAMPART_API_BIN:-$root/build/asan/rampart-api}
agent_bin=${RAMPART_AGENT_BIN:-$root/build/asan/rampart-agent}
ctl=${RAMPARTCTL:-$root/build/asan/rampartctl}
py=/usr/bin/python3
p=rpl$$
work=$(mktemp -d /tmp/rampart-agent-leases-XXXXXX)
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0

[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
ip netns add ${p}probe 2>/dev/null || { echo "skip: cannot make network namespaces"; exit 77; }
ip netns del ${p}probe

pids=()
cleanup() {
  if [ "${failed:-0}" -ne 0 ] || [ -n "${KEEP_LOGS:-}" ]; then
    echo "--- logs"; tail -n 25 "$work"/hv1.log "$work"/hv2.log "$work"/api.log "$work"/inet.log 2>/dev/null
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  for n in hv1 hv2 vm1 vm2 inet; do ip netns del ${p}$n 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

passed=0 failed=0
check() { if eval "$2"; then echo "ok   $1"; passed=$((passed+1)); else echo "FAIL $1"; failed=$((failed+1)); fi; }
wait_for() { local n=$1; shift; for _ in $(seq "$n"); do eval "$@" && return 0; sleep 0.1; done; return 1; }

# --- namespaces -----------------------------------------------------------------------------
for n in hv1 hv2 vm1 vm2 inet; do ip netns add ${p}$n; ip -n ${p}$n link set lo up; done
ip link add ${p}u1 type veth peer name ${p}u2
ip link set ${p}u1 netns ${p}hv1; ip link set ${p}u2 netns ${p}hv2
ip -n ${p}hv1 addr add 172.31.10.11/24 dev ${p}u1; ip -n ${p}hv1 link set ${p}u1 up
ip -n ${p}hv2 addr add 172.31.10.12/24 dev ${p}u2; ip -n ${p}hv2 link set ${p}u2 up
for i in 1 2; do
  ip link add ${p}v$i type veth peer name ${p}e$i
  ip link set ${p}v$i netns ${p}hv$i; ip link set ${p}e$i netns ${p}vm$i
  ip -n ${p}hv$i link set ${p}v$i up
  ip -n ${p}vm$i link set ${p}e$i address 02:00:00:0a:00:0$i
  ip -n ${p}vm$i addr add 10.10.0.1$i/24 dev ${p}e$i
  ip -n ${p}vm$i link set ${p}e$i up
  ip -n ${p}vm$i route add default via 10.10.0.1
done
# the uplink: router port "uplink" on hv1 <-> the internet host
ip link add ${p}x type veth peer name ${p}i
ip link set ${p}x netns ${p}hv1; ip link set ${p}i netns ${p}inet
ip -n ${p}hv1 link set ${p}x up
ip -n ${p}inet link set ${p}i address 02:00:00:0a:00:64
ip -n ${p}inet addr add 203.0.113.100/24 dev ${p}i
ip -n ${p}inet link set ${p}i up
ip -n ${p}inet neigh replace 203.0.113.1 lladdr 02:00:00:0a:01:02 dev ${p}i

# --- the API in hv1 -------------------------------------------------------------------------------
echo "tok-$$" >"$work/token"
printf 'api: { listen = "0.0.0.0"; port = 18481; token_file = "%s"; };\nstore: { path = "%s"; };\n' \
  "$work/token" "$work/db" >"$work/api.conf"
ip netns exec ${p}hv1 "$api_bin" -c "$work/api.conf" >"$work/api.out" 2>>"$work/api.log" &
pids+=("$!")
wait_for 100 "grep -q '^listening' '$work/api.out'" || { echo "the API did not start"; cat "$work/api.log"; exit 1; }
export RAMPART_API=http://172.31.10.11:18481 RAMPART_TOKEN=tok-$$

cat >"$work/topo.json" <<EOF
{"hosts": [{"name": "hv-1", "tunnel_ip": "172.31.10.11"}, {"name": "hv-2", "tunnel_ip": "172.31.10.12"}],
 "routers": [{"name": "tr", "inbound_filter": "pre", "outbound_filter": "post"}],
 "bridges": [{"name": "net"}],
 "chains": [{"name": "pre"}, {"name": "post"}],
 "ports": [
  {"name": "tr-lan", "device": "tr", "mac": "02:00:00:0a:01:01", "address": "10.10.0.1/24", "peer": "net-tr"},
  {"name": "net-tr", "device": "net", "peer": "tr-lan"},
  {"name": "uplink", "device": "tr", "mac": "02:00:00:0a:01:02", "address": "203.0.113.1/24",
   "host": "hv-1", "interface": "${p}x"},
  {"name": "vm1", "device": "net", "mac": "02:00:00:0a:00:01", "fixed_ips": ["10.10.0.11"], "host": "hv-1", "interface": "${p}v1"},
  {"name": "vm2", "device": "net", "mac": "02:00:00:0a:00:02", "fixed_ips": ["10.10.0.12"], "host": "hv-2", "interface": "${p}v2"}],
 "routes": [
  {"router": "tr", "dst": "10.10.0.0/24", "next_hop_port": "tr-lan"},
  {"router": "tr", "dst": "203.0.113.0/24", "next_hop_port": "uplink"}],
 "neighbors": [{"port": "uplink", "address": "203.0.113.100", "mac": "02:00:00:0a:00:64"}],
 "rules": [
  {"chain": "post", "position": 1, "out_ports": ["uplink"], "nw_src": "10.10.0.0/24", "action": "snat",
   "nat_targets": [{"address_from": "203.0.113.1", "address_to": "203.0.113.1", "port_from": 1024, "port_to": 65535}]},
  {"chain": "pre", "position": 1, "nw_dst": "203.0.113.1/32", "action": "rev_snat"}]}
EOF
ip netns exec ${p}hv1 "$ctl" import "$work/topo.json" >/dev/null || { echo "import refused"; exit 1; }

# --- the internet host: a UDP echo that answers with the source it saw -------------------------------
cat >"$work/echo.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7000))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(f"{peer[0]} {peer[1]}".encode(), peer)
    print(peer[0], peer[1], data.decode(errors="replace"), flush=True)
EOF
# a VM's client: send from one local port until an answer comes; print the source the server saw
cat >"$work/ask.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(0.3)
for _ in range(60):
    s.sendto(sys.argv[2].encode(), ("203.0.113.100", 7000))
    try:
        print(s.recvfrom(2048)[0].decode()); sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)
EOF
ip netns exec ${p}inet $py "$work/echo.py" >"$work/inet.log" 2>&1 &
pids+=("$!")

# --- the agents ---------------------------------------------------------------------------------------
start_agent() {   # N
  cat >"$work/hv$1.conf" <<EOF
host = "hv-$1";
topology = "$work/hv$1-cache.json";
api: { url = "http://172.31.10.11:18481"; token_file = "$work/token"; };
stats_file = "$work/hv$1.json";
log: { level = "info"; };
EOF
  ip netns exec ${p}hv$1 "$agent_bin" -c "$work/hv$1.conf" >>"$work/hv$1.log" 2>&1 &
  eval "agent$1=$!"; pids+=("$!")
}
start_agent 1; start_agent 2

ask() {   # VM LOCALPORT TAG -> "ip port" the internet host saw, in $work/ask-VM-PORT
  ip netns exec ${p}$1 $py "$work/ask.py" "$2" "$3" >"$work/ask-$1-$2" 2>/dev/null
}
check "vm1 (hv1) reaches the internet host through SNAT and gets the answer" 'ask vm1 40001 one'
check "vm2 (hv2) reaches the internet host through SNAT and gets the answer" 'ask vm2 40002 two'
[ "$failed" -eq 0 ] || { echo "agent leases: nothing else can pass"; exit 1; }
ask vm1 40003 three; ask vm2 40004 four

leases() {
  ip netns exec ${p}hv1 $py - "$RAMPART_TOKEN" <<'EOF'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", 18481, timeout=5)
c.request("GET", "/v1/leases", headers={"Authorization": "Bearer " + sys.argv[1]})
print(c.getresponse().read().decode())
c.request("GET", "/v1/export", headers={"Authorization": "Bearer " + sys.argv[1]})
print(c.getresponse().read().decode())
EOF
}
leases >"$work/leases.txt"
# every check on the lease table and what the internet host saw, in one place
verdict() {
  $py - "$work" "$1" <<'EOF'
import json, sys
work, what = sys.argv[1], sys.argv[2]
text = open(f"{work}/leases.txt").read().splitlines()
lst, topo = json.loads(text[0]), json.loads(text[1])
host = {h["name"]: h["id"] for h in topo["hosts"]}
tr = next(r["id"] for r in topo["routers"] if r["name"] == "tr")
mine = [l for l in lst if l["router"] == tr and l["address"] == "203.0.113.1"]
by = {n: {l["block_first_port"] for l in mine if l["host"] == host[n]} for n in ("hv-1", "hv-2")}
def seen(vm, port):
    ip, p = open(f"{work}/ask-{vm}-{port}").read().split()
    return ip, int(p)
if what == "both":
    ok = bool(by["hv-1"]) and bool(by["hv-2"])
elif what == "disjoint":
    firsts = [l["block_first_port"] for l in mine]
    ok = len(firsts) == len(set(firsts)) and not (by["hv-1"] & by["hv-2"])
elif what == "ports":
    ok = True
    for vm, hv, ports in (("vm1", "hv-1", (40001, 40003)), ("vm2", "hv-2", (40002, 40004))):
        for port in ports:
            ip, p = seen(vm, port)
            ok = ok and ip == "203.0.113.1" and (p // 64) * 64 in by[hv]
elif what == "hv2-gone":
    ok = not by["hv-2"] and bool(by["hv-1"])
print(what, by, file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
}
check "the API lists blocks of (tr, 203.0.113.1) held by both hosts" 'verdict both 2>>"$work/verdict.log"'
check "no block is held by both hosts" 'verdict disjoint 2>>"$work/verdict.log"'
check "each VM's translated source port lies in a block its own host leased" 'verdict ports 2>>"$work/verdict.log"'

kill "$agent2"; wait "$agent2" 2>/dev/null
leases >"$work/leases.txt"
check "an agent stopped with SIGTERM gave its blocks back" 'verdict hv2-gone 2>>"$work/verdict.log"'
check "the other agent is still alive" 'kill -0 "$agent1"'

if [ "$failed" -ne 0 ]; then cat "$work/verdict.log" "$work/inet.log"; fi
echo "agent leases: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
