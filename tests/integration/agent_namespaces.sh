#!/usr/bin/env bash
# rampart-agent end to end, in network namespaces (issue 5, item 5).
#
# Two hypervisors hv1 and hv2 (namespaces) share an underlay (a Linux bridge in
# its own namespace, 172.31.0.0/24) and each runs rampart-agent with the same
# topology (tests/integration/agent/topology.json): tenant router r1 between
# bridges net1 10.0.1.0/24 and net2 10.0.2.0/24, and four VMs (namespaces):
#   vm1 net1 hv1 veth   vm2 net1 hv2 tap   vm3 net2 hv1 tap   vm4 net2 hv2 veth
# A third underlay member, kvx, is a plain Linux VXLAN device standing for the
# topology's host "kvx" and port "kvm" (net1, 10.0.1.14).
#
# Checks print "ok   ..." or "FAIL ...", then "N passed, N failed".
# Exit 0 all passed, 1 something failed, 77 skipped (not root, no namespaces).
# Needs: make build/asan/rampart-agent build/asan/rampartctl (both built by make test)
# Everything made here is named rpa<pid>... and removed on exit.
# Environment: RAMPART_AGENT, RAMPARTCTL (binaries); KEEP=1 keeps the work
# directory; RPA_TX_CSUM_OFF=1 turns transmit checksum offload off in the VMs
# (a diagnostic: VMs normally hand the host packets with partial checksums).
set -u
cd "$(dirname "$0")/../.."

agent=${RAMPART_AGENT:-build/asan/rampart-agent}
ctl=${RAMPARTCTL:-build/asan/rampartctl}
py=/usr/bin/python3
here=tests/integration/agent
p=rpa$$
hosts="hv1 hv2"
vms="vm1 vm2 vm3 vm4"   # vm5 joins later, added to the topology by a reload
passed=0 failed=0
pids=()            # background helpers to kill on exit
declare -A apid    # agent pid per hv

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (network namespaces)"; exit 77; }
if ! ip netns add "${p}probe" 2>/dev/null; then echo "skip: cannot create network namespaces"; exit 77; fi
ip netns del "${p}probe"
for b in "$agent" "$ctl"; do
  [ -x "$b" ] || { echo "FAIL $b is missing: make build/asan/rampart-agent build/asan/rampartctl"; exit 1; }
done
$py -c 'import json' || { echo "skip: no $py"; exit 77; }

work=$(mktemp -d "/tmp/${p}-XXXXXX")

cleanup() {
  local pid h ns
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for h in "${!apid[@]}"; do kill -TERM "${apid[$h]}" 2>/dev/null; done
  for _ in $(seq 50); do
    local alive=0
    for h in "${!apid[@]}"; do kill -0 "${apid[$h]}" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for h in "${!apid[@]}"; do kill -KILL "${apid[$h]}" 2>/dev/null; done
  wait 2>/dev/null
  for ns in $vms vm5 kvx $hosts u; do ip netns del "$p$ns" 2>/dev/null; done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- small tools ---------------------------------------------------------------------------
# (background jobs call ip netns exec directly: a function run with & is a subshell, so
# $! would not be the process to signal)
nsx() { local ns=$1; shift; ip netns exec "$p$ns" "$@"; }
. tests/integration/lib/checks.sh   # ok, fail, check, poll, show
stat_of() { $py $here/stats.py "$work/$1-stats.json" "${@:2}"; }
lines() { local n; n=$(grep -c "$2" "$1" 2>/dev/null); echo "${n:-0}"; }
ping_ok() { # ping_ok NS DST [need]: at least need (default 3) echo replies within about 7 s
  nsx "$1" timeout 10 $py $here/ping.py "$2" -c 25 -i 0.2 -n "${3:-3}" -W 2 >"$work/ping.out" 2>&1
}
hup_agents() { local h; for h in $hosts; do kill -HUP "${apid[$h]}"; done; }
agents_alive() { local h; for h in $hosts; do kill -0 "${apid[$h]}" 2>/dev/null || return 1; done; }
# in_time NAME: false (and a failure) once the run is past its time budget
in_time() { [ $SECONDS -lt 150 ] && return 0; fail "$1: not run, the test is past its 150 s budget"; return 1; }

# --- the topology as each side sees it -------------------------------------------------------
cp $here/topology.json "$work/topology.json"
topo=$work/topology.json
mac_of() { $py -c 'import json,sys; print(next(p["mac"] for p in json.load(open(sys.argv[1]))["ports"] if p["name"]==sys.argv[2]))' "$topo" "$1"; }
ip_of() { $py -c 'import json,sys; print(next(p["fixed_ips"][0] for p in json.load(open(sys.argv[1]))["ports"] if p["name"]==sys.argv[2]))' "$topo" "$1"; }
# tunnel_key PORT: the port's tunnel key, from an offline trace: the port asks ARP for its
# gateway and the topology's reply goes out of that same port
tunnel_key() {
  local ip; ip=$(ip_of "$1")
  printf '{"in_port":"%s","packets":[{"eth_type":"arp","arp_op":"request","eth_src":"%s","eth_dst":"ff:ff:ff:ff:ff:ff","arp_sha":"%s","arp_spa":"%s","arp_tpa":"%s"}]}' \
    "$1" "$(mac_of "$1")" "$(mac_of "$1")" "$ip" "${ip%.*}.1" >"$work/req.json"
  $ctl trace --topology "$topo" --json "$work/req.json" |
    $py -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["outputs"][0]["tunnel_key"])'
}

write_conf() { # write_conf HV HOSTNAME [ADDRESS] (none: the host's tunnel_ip)
  local address=
  [ -n "${3:-}" ] && address="address = \"$3\"; "
  cat >"$work/$1.conf" <<EOF
host = "$2";
topology = "$topo";
tunnel: { ${address}port = 4789; };
datapath: { backend = "afpacket"; tap_prefix = "tap"; flows = 65536; idle_timeout = 30; upcall_budget = 64; };
stats_file = "$work/$1-stats.json";
log: { level = "info"; };
EOF
}

# --- building the namespaces ------------------------------------------------------------------
quiet_ns() { # a namespace without IPv6 chatter, loopback up
  ip netns add "$p$1" || return 1
  nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  nsx "$1" ip link set lo up
}

underlay() {
  quiet_ns u || return 1
  ip -n "${p}u" link add br0 type bridge && ip -n "${p}u" link set br0 up || return 1
  local h addr
  for h in hv1:11 hv2:12 kvx:13; do
    addr=172.31.0.${h#*:}; h=${h%:*}
    quiet_ns "$h" || return 1
    ip -n "${p}u" link add "u-$h" type veth peer name eth0 netns "$p$h" &&
      ip -n "${p}u" link set "u-$h" master br0 up &&
      ip -n "$p$h" addr add "$addr/24" dev eth0 &&
      ip -n "$p$h" link set eth0 up || return 1
  done
}

# vm_setup VM IFNAME: give the VM's interface its port's MAC and address, route via the router
vm_setup() {
  local vm=$1 dev=$2 ip gw
  ip=$(ip_of "$vm"); gw=${ip%.*}.1
  nsx "$vm" ip link set "$dev" address "$(mac_of "$vm")" &&
    nsx "$vm" ip addr add "$ip/24" dev "$dev" &&
    nsx "$vm" ip link set "$dev" up &&
    nsx "$vm" ip route add default via "$gw" || return 1
  [ "${RPA_TX_CSUM_OFF:-0}" = 1 ] && nsx "$vm" $py $here/txcsum_off.py "$dev"
  return 0
}

veth_vm() { # veth_vm HV VM: host side "VM-h" in HV, VM side eth0
  # A veth-attached VM must not send TSO super-frames (docs/agent.md, as for
  # Open vSwitch's userspace datapath); checksum offload stays on.
  ip -n "$p$1" link add "$2-h" type veth peer name eth0 netns "$p$2" &&
    ip -n "$p$1" link set "$2-h" up && vm_setup "$2" eth0 &&
    nsx "$2" $py $here/offload_off.py eth0
}

tap_vm() { # tap_vm HV VM: the agent made tap-VM in HV; move it into the VM
  poll 50 ip -n "$p$1" link show "tap-$2" >/dev/null 2>&1 || { echo "     agent on $1 made no tap-$2"; return 1; }
  ip -n "$p$1" link set "tap-$2" netns "$p$2" && vm_setup "$2" "tap-$2"
}

start_agent() { # start_agent HV (ip netns exec and env exec, so $! is the agent itself)
  ip netns exec "$p$1" env ASAN_OPTIONS=detect_leaks=0 "$agent" -c "$work/$1.conf" >"$work/$1.log" 2>&1 &
  apid[$1]=$!
}

kvx_setup() { # the kernel VXLAN peer: port kvm, VNI = its tunnel key, everything to hv1
  local key=$1
  nsx kvx ip link add vx0 type vxlan id "$key" local 172.31.0.13 remote 172.31.0.11 dstport 4789 dev eth0 nolearning &&
    nsx kvx ip link set vx0 address "$(mac_of kvm)" &&
    nsx kvx ip addr add "$(ip_of kvm)/24" dev vx0 &&
    nsx kvx ip link set vx0 up &&
    nsx kvx ip route add default via 10.0.1.1
}

# --- the checks -------------------------------------------------------------------------------
check_config() {
  local rc
  nsx hv1 timeout 10 env ASAN_OPTIONS=detect_leaks=0 "$agent" -c "$work/hv1.conf" --check >"$work/check.out" 2>&1
  check "config: --check accepts the hv1 configuration (exit 0)" [ $? -eq 0 ]
  sed 's/upcall_budget = 64/upcall_budget = "lots"/' "$work/hv1.conf" >"$work/bad.conf"
  nsx hv1 timeout 10 env ASAN_OPTIONS=detect_leaks=0 "$agent" -c "$work/bad.conf" --check >"$work/bad.out" 2>&1; rc=$?
  if [ $rc -eq 2 ] && grep -q upcall_budget "$work/bad.out"; then
    ok "config: a bad setting exits 2 naming it"
  else
    fail "config: a bad setting exits 2 naming it (exit $rc)"; show "$work/bad.out" 5
  fi
}

check_bound_ports() {
  local x h iface port mode key want got_port got_mode bad=0
  for x in hv1:vm1-h:vm1:af_packet hv1:tap-vm3:vm3:tap hv2:tap-vm2:vm2:tap hv2:vm4-h:vm4:af_packet; do
    IFS=: read -r h iface port mode <<<"$x"
    want=$(tunnel_key "$port")
    key=$(stat_of "$h" get "ports.$iface.tunnel_key" 2>/dev/null)
    got_port=$(stat_of "$h" get "ports.$iface.port" 2>/dev/null)
    got_mode=$(stat_of "$h" get "ports.$iface.mode" 2>/dev/null)
    if [ "$key" != "$want" ] || [ "$got_port" != "$port" ] || [ "${got_mode%% *}" != "$mode" ]; then
      echo "     $h stats: ports.$iface tunnel_key=$key (trace says $want), port=$got_port, mode=$got_mode (want $mode...)"
      bad=1
    fi
  done
  check "stats: each agent lists its bound ports: port name, mode, the trace's tunnel key" [ $bad -eq 0 ]
}

check_ping_same_bridge() {
  in_time check_ping_same_bridge || return
  if ping_ok vm1 10.0.1.11; then ok "1 vm1 pings vm2 (net1, hv1 -> hv2 over VXLAN)"
  else fail "1 vm1 pings vm2 (net1, hv1 -> hv2 over VXLAN)"; show "$work/ping.out"; fi
}

# tcp_start NAME BYTES SECONDS PORT: vm1 starts sending to vm2 (tcp_same then compares
# both ends' sha256)
tcp_start() {
  rm -f "$work/$1.srv"
  ip netns exec "${p}vm2" timeout 40 $py $here/tcp_stream.py serve "$4" "$work/$1.srv" 2>"$work/$1.srv.err" &
  pids+=($!)
  poll 25 listening "$4"
  ip netns exec "${p}vm1" timeout 40 $py $here/tcp_stream.py send 10.0.1.11 "$4" "$2" "$3" >"$work/$1.cli" 2>"$work/$1.cli.err" &
  tcp_client=$!
  pids+=($tcp_client)
}
listening() { nsx vm2 ss -ltn "sport = :$1" | grep -q LISTEN; }
connected() { nsx vm2 ss -tn state established "sport = :$1" | grep -q 10.0.1.10; }
tcp_same() { # tcp_same NAME: client finished and both ends agree
  wait "$tcp_client"
  poll 25 test -s "$work/$1.srv"
  [ -s "$work/$1.cli" ] && [ "$(cat "$work/$1.cli")" = "$(cat "$work/$1.srv" 2>/dev/null)" ]
}
tcp_report() {
  echo "     sent:     $(cat "$work/$1.cli" 2>/dev/null) $(tail -1 "$work/$1.cli.err" 2>/dev/null)"
  echo "     received: $(cat "$work/$1.srv" 2>/dev/null) $(tail -1 "$work/$1.srv.err" 2>/dev/null)"
  echo "     vm2 kernel: $(nsx vm2 nstat -az TcpInSegs TcpInCsumErrors 2>/dev/null | awk 'NR>1 {printf "%s=%s ", $1, $2}')"
}

check_tcp_stream() {
  in_time check_tcp_stream || return
  tcp_start tcp1 1048576 0 5001
  if tcp_same tcp1; then ok "2 TCP vm1 -> vm2: 1 MiB arrives intact (sha256 $(cut -c1-12 "$work/tcp1.srv")...)"
  else fail "2 TCP vm1 -> vm2: 1 MiB arrives intact"; tcp_report tcp1; fi
}

check_routed() {
  in_time check_routed || return
  if ping_ok vm1 10.0.2.13; then ok "3 vm1 pings vm4 (net1 -> r1 -> net2, hv1 -> hv2)"
  else fail "3 vm1 pings vm4 (net1 -> r1 -> net2, hv1 -> hv2)"; show "$work/ping.out"; fi
  local neigh; neigh=$(nsx vm1 ip neigh show 10.0.1.1)
  if grep -qi "lladdr $(mac_of r1-net1)" <<<"$neigh"; then ok "3 vm1's neighbour 10.0.1.1 is r1-net1's MAC (ARP answered by the topology)"
  else fail "3 vm1's neighbour 10.0.1.1 is r1-net1's MAC: got '$neigh'"; fi
}

check_ttl() {
  in_time check_ttl || return
  nsx vm1 timeout 20 $py $here/ping.py 10.0.2.13 -t 1 --ttl-exceeded -c 20 -i 0.2 -n 2 -W 2 >"$work/ttl.out" 2>&1
  if grep -q "time-exceeded .* from 10.0.1.1$" "$work/ttl.out" && ! grep -q "^reply" "$work/ttl.out"; then
    ok "4 ttl 1 vm1 -> vm4: ICMP time exceeded from 10.0.1.1"
  else fail "4 ttl 1 vm1 -> vm4: ICMP time exceeded from 10.0.1.1"; show "$work/ttl.out"; fi
}

check_kernel_vxlan() {
  in_time check_kernel_vxlan || return
  if ping_ok kvx 10.0.1.10; then ok "5 kernel VXLAN peer kvx (VNI = kvm's key $kvm_key) pings vm1"
  else fail "5 kernel VXLAN peer kvx (VNI = kvm's key $kvm_key) pings vm1"; show "$work/ping.out"
       echo "     hv1 tunnel: $(stat_of hv1 get tunnel)"; fi
}

check_flood() {
  in_time check_flood || return
  if ! ping_ok vm3 10.0.2.13; then
    fail "6 vm3 pings vm4 before the flood (net2, tap on hv1 -> veth on hv2)"; show "$work/ping.out"; return
  fi
  ok "6 vm3 pings vm4 (net2, tap on hv1 -> veth on hv2)"
  local up0 rx0; up0=$(stat_of hv1 get upcalls); rx0=$(stat_of hv1 get ports.tap-vm3.rx_packets)
  tcp_start tcp2 4194304 6 5002          # 4 MiB over about 6 s
  poll 50 connected 5002 || echo "     (stream vm1 -> vm2 not established after 10 s)"
  nsx vm3 timeout 15 $py $here/flood.py 10.0.2.12 10.0.2.13 20000 5 >"$work/flood.out" 2>&1
  local sent; sent=$(cat "$work/flood.out")
  if tcp_same tcp2; then ok "6 TCP vm1 -> vm2 (4 MiB) intact while vm3 floods vm4 with $sent new UDP flows"
  else fail "6 TCP vm1 -> vm2 (4 MiB) intact while vm3 floods vm4 with $sent new UDP flows"; tcp_report tcp2; fi
  if poll 25 eval '[ $(( $(stat_of hv1 get ports.tap-vm3.rx_packets) - rx0 )) -ge 1000 ]'; then
    ok "6 the flood reached hv1: tap-vm3 rx_packets $rx0 -> $(stat_of hv1 get ports.tap-vm3.rx_packets)"
  else fail "6 the flood reached hv1: tap-vm3 rx_packets $rx0 -> $(stat_of hv1 get ports.tap-vm3.rx_packets)"; fi
  echo "     hv1 after the flood: flows=$(stat_of hv1 get flows) upcalls=$(stat_of hv1 get upcalls) (before: $up0)" \
       "upcall_drops=$(stat_of hv1 get upcall_drops)"
  check "6 agents alive after the flood" agents_alive
}

# bg_ping NAME NS DST: a ping every 0.1 s for at most 40 s, one line per reply in NAME
bg_ping() {
  ip netns exec "$p$2" timeout 45 $py $here/ping.py "$3" -c 400 -i 0.1 -n 100000 -W 1 >"$work/$1" 2>&1 &
  bg_ping_pid=$!
  pids+=($bg_ping_pid)
}
replies() { lines "$work/$1" '^reply'; }
replies_grow() { # replies_grow NAME: more replies than when called last (state in last_n)
  local n; n=$(replies "$1"); [ "$n" -gt "$last_n" ]
}
replies_stopped() { # no new reply for 1.5 s; bounded to 10 s
  local n0 n1 still=0
  n0=$(replies "$1")
  for _ in $(seq 20); do
    sleep 0.5; n1=$(replies "$1")
    if [ "$n1" -eq "$n0" ]; then still=$((still + 1)); [ $still -ge 3 ] && return 0
    else still=0; n0=$n1; fi
  done
  return 1
}

check_topology_change() {
  in_time check_topology_change || return
  bg_ping p7 vm1 10.0.1.11
  last_n=2
  if ! poll 50 replies_grow p7; then
    fail "7 a running ping vm1 -> vm2 before the change"; show "$work/p7"; kill "$bg_ping_pid"; return
  fi
  $py $here/topo_edit.py "$topo" block-port vm2 && hup_agents
  if replies_stopped p7; then ok "7 drop chain on vm2's port + SIGHUP: the running ping vm1 -> vm2 stops"
  else fail "7 drop chain on vm2's port + SIGHUP: the running ping vm1 -> vm2 stops ($(replies p7) replies)"; fi
  last_n=$(replies p7)
  $py $here/topo_edit.py "$topo" unblock-port vm2 && hup_agents
  if poll 50 replies_grow p7; then ok "7 chain removed + SIGHUP: the ping vm1 -> vm2 comes back"
  else fail "7 chain removed + SIGHUP: the ping vm1 -> vm2 comes back"; show "$work/p7" 5; fi
  kill "$bg_ping_pid" 2>/dev/null

  bg_ping p7b vm1 10.0.2.13
  last_n=2
  if ! poll 50 replies_grow p7b; then
    fail "7 a running ping vm1 -> vm4 before removing vm4"; show "$work/p7b"; kill "$bg_ping_pid"; return
  fi
  $py $here/topo_edit.py "$topo" remove-port vm4 && hup_agents
  if replies_stopped p7b; then ok "7 port vm4 removed + SIGHUP: the running ping vm1 -> vm4 stops"
  else fail "7 port vm4 removed + SIGHUP: the running ping vm1 -> vm4 stops ($(replies p7b) replies)"; fi
  kill "$bg_ping_pid" 2>/dev/null
  if poll 25 eval '[ "$(stat_of hv2 get ports.vm4-h)" = null ]'; then ok "7 hv2 unbound vm4-h (gone from its stats file)"
  else fail "7 hv2 unbound vm4-h: stats still has $(stat_of hv2 get ports.vm4-h)"; fi

  $py $here/topo_edit.py "$topo" copy-port vm4 $here/topology.json && hup_agents
  if poll 25 eval '[ "$(stat_of hv2 get ports.vm4-h.port)" = vm4 ]' && ping_ok vm1 10.0.2.13; then
    ok "7 port vm4 back + SIGHUP: hv2 binds vm4-h again and vm1 pings vm4"
  else fail "7 port vm4 back + SIGHUP: hv2 binds vm4-h again and vm1 pings vm4 (hv2 stats: $(stat_of hv2 get ports.vm4-h))"; fi

  quiet_ns vm5
  $py $here/topo_edit.py "$topo" add-port vm5 id=7a000000-0000-4000-8000-000000000406 device=net2 \
    mac=02:00:00:00:02:0f 'fixed_ips=["10.0.2.15"]' host=hv-1 interface=tap-vm5 && hup_agents
  if tap_vm hv1 vm5 && ping_ok vm5 10.0.1.10; then
    ok "7 port vm5 added + SIGHUP: hv1 makes tap-vm5; vm5 pings vm1 (routed, both on hv1)"
  else fail "7 port vm5 added + SIGHUP: hv1 makes tap-vm5; vm5 pings vm1 (routed, both on hv1)"; show "$work/ping.out"; fi

  # (beyond the spec) a topology file that does not parse: the agents keep the old one
  local errs; errs=$(stat_of hv1 get reload_errors)
  cp "$topo" "$work/topology.good"
  echo '{"ports": [' >"$topo"
  hup_agents
  poll 15 eval '[ "$(stat_of hv1 get reload_errors)" != "$errs" ]'
  if agents_alive && ping_ok vm1 10.0.1.11; then ok "7 SIGHUP with an unparsable topology: agents keep running on the old one"
  else fail "7 SIGHUP with an unparsable topology: agents keep running on the old one"; fi
  echo "     hv1 reload_errors $errs -> $(stat_of hv1 get reload_errors); hv1 log: $(grep -v ' info: ' "$work/hv1.log" | tail -1)"
  mv "$work/topology.good" "$topo"
  hup_agents

  if ping_ok vm1 10.0.1.11; then ok "7 vm1 -> vm2 still works after the reloads"
  else fail "7 vm1 -> vm2 still works after the reloads"; show "$work/ping.out"; fi
}

bad_grew() { [ "$(stat_of "$1" sum "${@:2}")" -gt "$base" ]; }

check_malformed() {
  in_time check_malformed || return
  base=$(stat_of hv1 sum malformed ports.vm1-h.drops)
  nsx vm1 $py $here/malformed.py frames eth0 "$(mac_of vm1)" "$(mac_of vm2)" >"$work/mal.out" 2>&1
  if poll 25 bad_grew hv1 malformed ports.vm1-h.drops; then
    ok "8 hv1 counts vm1's $(cat "$work/mal.out") broken frames (malformed + port drops $base -> $(stat_of hv1 sum malformed ports.vm1-h.drops))"
  else fail "8 hv1 counts vm1's broken frames: malformed=$(stat_of hv1 get malformed) vm1-h drops=$(stat_of hv1 get ports.vm1-h.drops)"; fi
  base=$(stat_of hv1 sum malformed tunnel.drops)
  nsx hv2 $py $here/malformed.py vxlan 172.31.0.11 4789 >"$work/malx.out" 2>&1
  if poll 25 bad_grew hv1 malformed tunnel.drops; then
    ok "8 hv1 counts $(cat "$work/malx.out") junk VXLAN datagrams (malformed + tunnel drops $base -> $(stat_of hv1 sum malformed tunnel.drops))"
  else fail "8 hv1 counts junk VXLAN datagrams: malformed=$(stat_of hv1 get malformed) tunnel=$(stat_of hv1 get tunnel)"; fi
  check "8 both agents alive after malformed input" agents_alive
  if ping_ok vm1 10.0.1.11; then ok "8 vm1 -> vm2 still works after malformed input"
  else fail "8 vm1 -> vm2 still works after malformed input"; show "$work/ping.out"; fi
  echo "     hv1 malformed: $(stat_of hv1 get malformed)  tunnel drops: $(stat_of hv1 get tunnel.drops)"
}

stats_fresh() { [ "$(stat -c %Y "$work/$1-stats.json")" -gt "$2" ]; }

# A VM goes away with its namespace, and so does its tap (the agent holds its fd):
# the agent must carry on (stats rewritten, other ports forwarding) and still stop on SIGTERM.
check_vm_gone() {
  in_time check_vm_gone || return
  ip netns del "${p}vm3"
  sleep 1.1   # a stats period, so a fresh file is newer than this second
  local t; t=$(date +%s)
  if poll 25 stats_fresh hv1 "$t"; then ok "9 vm3's namespace deleted: hv1 keeps rewriting its stats file"
  else fail "9 vm3's namespace deleted: hv1 keeps rewriting its stats file (last $(stat -c %y "$work/hv1-stats.json"))"; fi
  if ping_ok vm1 10.0.1.11; then ok "9 vm1 -> vm2 still works after tap-vm3 vanished"
  else fail "9 vm1 -> vm2 still works after tap-vm3 vanished"; show "$work/ping.out"; fi
}

check_shutdown() {
  local h rc
  for h in $hosts; do
    kill -TERM "${apid[$h]}" 2>/dev/null
    # bounded: an agent still running after 10 s is killed, and wait then says 137
    poll 50 eval '! kill -0 "${apid[$h]}" 2>/dev/null' || kill -KILL "${apid[$h]}" 2>/dev/null
    wait "${apid[$h]}"; rc=$?
    unset "apid[$h]"
    check "SIGTERM: agent on $h exits 0 (exit $rc)" [ "$rc" -eq 0 ]
    if grep -qE "ERROR: AddressSanitizer|runtime error:" "$work/$h.log"; then
      fail "sanitizers: $h log has a report"; grep -m3 -E "ERROR: AddressSanitizer|runtime error:" "$work/$h.log" | sed 's/^/     | /'
    else ok "sanitizers: no report in $h's log"; fi
  done
}

# --- run ----------------------------------------------------------------------------------------
SECONDS=0
underlay || { echo "skip: cannot build the underlay namespaces"; exit 77; }
for vm in $vms; do quiet_ns "$vm" || { echo "FAIL creating namespace $p$vm"; exit 1; }; done
write_conf hv1 hv-1 172.31.0.11
write_conf hv2 hv-2   # tunnel address left to default to hv-2's tunnel_ip
veth_vm hv1 vm1 && veth_vm hv2 vm4 || { echo "FAIL veth VMs"; exit 1; }
check_config
start_agent hv1
start_agent hv2
tap_vm hv1 vm3 && tap_vm hv2 vm2; taps=$?
check "agents running; their taps moved into vm3 and vm2" eval 'agents_alive && [ $taps -eq 0 ]'
if ! agents_alive; then
  for h in $hosts; do show "$work/$h.log"; done
  echo "$passed passed, $((failed + 1)) failed"; exit 1
fi
kvm_key=$(tunnel_key kvm)
kvx_setup "$kvm_key" || fail "kernel vxlan device in kvx"
poll 50 test -s "$work/hv1-stats.json" && poll 50 test -s "$work/hv2-stats.json"
check_bound_ports
if [ -n "${RPA_HOLD:-}" ]; then   # debugging aid: keep the setup until the file is removed
  touch "$RPA_HOLD"; echo "holding: namespaces $p*, work $work; rm $RPA_HOLD to go on"
  for _ in $(seq 1200); do [ -e "$RPA_HOLD" ] || break; sleep 0.5; done
fi
check_ping_same_bridge
check_tcp_stream
check_routed
check_ttl
check_kernel_vxlan
check_flood
check_topology_change
check_malformed
check_vm_gone
check_shutdown
for h in hv1 hv2; do [ $failed -gt 0 ] && show "$work/$h.log" 10; done
echo "agent_namespaces: $passed passed, $failed failed (${SECONDS}s)"
[ $failed -eq 0 ]
