#!/usr/bin/env bash
# bench/gateway_routes.sh: how long rampart-gateway takes to forward by N
# routes an upstream offers over BGP, and the memory they take (issue 7,
# "Benchmarks"; target: 1M routes forwarded within 10 s of BIRD having them,
# in under 200 MB).
#
#   <p>up  upstream BIRD 2 (AS 65000, 10.99.0.1/30 on "gw"): a static protocol
#    |     whose routes come from an include file, exported over BGP
#   <p>gw  build/rel/rampart-gateway, topology file only (no API): uplink up0
#    |     10.99.0.2/30, its BIRD (AS 64512) exporting into kernel table 100
#   underlay 10.98.0.0/24 (only for the forwarding check):
#   <p>hv  rampart-agent with one VM, <p>vm 10.1.0.10, behind the provider router
#
# Per N (GW_BENCH_SIZES, default "10000 100000 1000000"), in fresh namespaces:
# both BIRDs start with no routes; once the session is Established, the
# include is replaced by N distinct random-looking prefixes (gateway/
# gen_routes.py: Internet-like length mix, mostly /24) and the upstream told
# `configure`. From that moment (t0) bench/gateway/watch_routes.py times:
#   t_up      the upstream's static protocol has N
#   t_bird    the gateway's BIRD has imported N over BGP ("BIRD having them")
#   t_kernel  kernel table 100 holds N (BIRD's kernel sync): THE BASELINE, what
#             the kernel alone needs to take them; counted from route
#             notifications, not by dumps (their cost is measured at the end)
#   t_gw      the gateway's learned_routes = N (SIGUSR1, stats file mtime)
# Printed: t_gw - t_bird against t_kernel - t_bird and their ratio, routes/s
# from t0, the gateway's RSS before/after (VmRSS) and bytes per route, its
# own routes_bytes, peak RSS (VmHWM), both BIRDs' RSS; then MET/NOT MET.
#
# Forwarding check (GW_BENCH_FORWARD: smallest (default), all, none): the VM
# sends UDP to three addresses inside learned prefixes and to 198.18.0.77
# (in no learned prefix); the provider router's static default route sends
# them to the uplink as connected (no next hop), so with no learned route the
# gateway ARPs for the destination itself and nobody answers. A sniffer on
# the upstream's interface counts the probes arriving to the upstream's MAC:
# before the routes 0 of 3 (and the gateway's ARP requests for them are seen),
# after 3 of 3 (the learned next hop 10.99.0.1), the control address 0.
#
# Needs root, bird (BIRD 2), build/rel/rampart-gateway and rampart-agent
# (make all), python3, jq. Not root or no BIRD: says so and exits 0.
# Bounded: each size by GW_BENCH_TIMEOUT (s, default 30 + 100 per million
# routes), the whole run by GW_BENCH_TIME_LIMIT (s, 300). Everything it makes
# (namespaces rpgr<pid>-*, processes in them, /tmp/rpgr<pid>) goes on exit,
# even on failure. GW_BENCH_KEEP=1 keeps the work directory.
# Other environment: GW_BENCH_POLL_MS (50), GW_BENCH_PROGRESS=1 (counts every 2 s).
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD

SIZES=${GW_BENCH_SIZES:-10000 100000 1000000}
POLL=${GW_BENCH_POLL_MS:-50}
FWD=${GW_BENCH_FORWARD:-smallest}
LIMIT=${GW_BENCH_TIME_LIMIT:-300}
GW=$ROOT/build/rel/rampart-gateway
AGENT=$ROOT/build/rel/rampart-agent
H=$ROOT/bench/gateway
py=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the tree
P=rpgr$$-
W=/tmp/rpgr$$
UP_MAC=02:99:00:00:00:01   # the upstream's interface towards the gateway
GW_MAC=02:10:00:00:00:01   # up0, the uplink NIC (and the uplink port's MAC)

[ "$(id -u)" -eq 0 ] || { echo "gateway_routes: skipped: needs root (network namespaces)"; exit 0; }
command -v bird >/dev/null && command -v birdc >/dev/null ||
  { echo "gateway_routes: skipped: BIRD 2 is not installed (make deps)"; exit 0; }
command -v jq >/dev/null || { echo "gateway_routes: skipped: jq is not installed"; exit 0; }
for b in "$GW" "$AGENT"; do
  [ -x "$b" ] || { echo "gateway_routes: $b is missing (make all)"; exit 1; }
done

NSES="up gw hv vm"
nsx() { local ns=$1; shift; ip netns exec "$P$ns" "$@"; }
log() { printf '%s\n' "$*" >&2; }

teardown() {
  local ns
  # no graceful stop: BIRD withdrawing 1M routes from the kernel takes long
  # and would only load the machine for the next size
  for ns in $NSES; do ip netns pids "$P$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null; done
  for ns in $NSES; do ip netns del "$P$ns" 2>/dev/null; done
  true
}
WD=
cleanup() {
  [ -n "$WD" ] && kill "$WD" 2>/dev/null
  teardown
  if [ "${GW_BENCH_KEEP:-0}" = 1 ]; then echo; echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'echo "gateway_routes: interrupted" >&2; exit 1' INT TERM
# the watchdog: its sleep must not outlive us (nor hold a pipe we write to open)
( trap 'kill $sl 2>/dev/null; exit 0' TERM; sleep "$LIMIT" >/dev/null 2>&1 & sl=$!; wait $sl || exit 0
  echo "gateway_routes: time limit ($LIMIT s) reached, stopping" >&2; kill -TERM $$ ) &
WD=$!
mkdir -p "$W"

kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
poll() { local n=$1; shift; for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done; return 1; }
fmt() { [ "$1" = null ] && echo "-" || printf '%.3f' "$1"; }

setup() { # setup N WITH_HV(0|1)
  local n=$1 hv=$2 ns
  teardown
  rm -rf "$W/run"; mkdir -p "$W/run/up" "$W/run/gw/bird"
  for ns in $NSES; do ip netns add "$P$ns" || return 1; nsx "$ns" ip link set lo up; done
  ip link add gw netns "${P}up" type veth peer name up0 netns "${P}gw" || return 1
  nsx up ip link set gw address $UP_MAC
  nsx gw ip link set up0 address $GW_MAC
  nsx up ip addr add 10.99.0.1/30 dev gw
  nsx gw ip addr add 10.99.0.2/30 dev up0
  nsx up ip link set gw up
  nsx gw ip link set up0 up
  nsx up $py tests/integration/agent/offload_off.py gw
  # the underlay and the VM always (the gateway binds its tunnel address); the agent only for the check
  ip link add ul0 netns "${P}gw" type veth peer name ul0 netns "${P}hv"
  nsx gw ip addr add 10.98.0.1/24 dev ul0
  nsx hv ip addr add 10.98.0.11/24 dev ul0
  nsx gw ip link set ul0 up
  nsx hv ip link set ul0 up
  ip link add vm1 netns "${P}hv" type veth peer name eth0 netns "${P}vm"
  nsx vm $py tests/integration/agent/offload_off.py eth0
  nsx vm ip link set eth0 address 02:30:00:00:01:0a
  nsx vm ip addr add 10.1.0.10/24 dev eth0
  nsx hv ip link set vm1 up
  nsx vm ip link set eth0 up
  nsx vm ip route add default via 10.1.0.1

  # the upstream: N routes come later, through the include
  $py "$H/gen_routes.py" 0 "$W/run/up/routes.conf"
  cat >"$W/run/up/bird.conf" <<CONF
router id 10.99.0.1;
log "$W/run/up/bird.log" { info, warning, error, fatal };
protocol device { }
include "$W/run/up/routes.conf";
protocol bgp to_gateway {
    local 10.99.0.1 as 65000;
    neighbor 10.99.0.2 as 64512;
    ipv4 { import none; export where proto = "offered"; };
}
CONF
  ip netns exec "${P}up" bird -f -c "$W/run/up/bird.conf" -s "$W/run/up/bird.ctl" -P "$W/run/up/bird.pid" \
    >"$W/run/up/bird.out" 2>&1 &
  UP_PID=$!
  disown

  # the gateway: a topology file, no API
  cat >"$W/run/topology.json" <<'JSON'
{
 "hosts": [
  {"id": "7b000000-0000-4000-8000-000000000001", "name": "gw1", "tunnel_ip": "10.98.0.1"},
  {"id": "7b000000-0000-4000-8000-000000000002", "name": "hv1", "tunnel_ip": "10.98.0.11"}
 ],
 "routers": [{"id": "7b000000-0000-4000-8000-000000000101", "name": "provider"}],
 "bridges": [{"id": "7b000000-0000-4000-8000-000000000201", "name": "net"}],
 "ports": [
  {"id": "7b000000-0000-4000-8000-000000000301", "name": "uplink", "device": "provider",
   "mac": "02:10:00:00:00:01", "address": "10.99.0.2/30", "host": "gw1", "interface": "up0"},
  {"id": "7b000000-0000-4000-8000-000000000302", "name": "prov-lan", "device": "provider",
   "mac": "02:10:00:00:01:01", "address": "10.1.0.1/24", "peer": "net-r"},
  {"id": "7b000000-0000-4000-8000-000000000303", "name": "net-r", "device": "net", "peer": "prov-lan"},
  {"id": "7b000000-0000-4000-8000-000000000304", "name": "vm1", "device": "net",
   "mac": "02:30:00:00:01:0a", "fixed_ips": ["10.1.0.10"], "host": "hv1", "interface": "vm1"}
 ],
 "routes": [
  {"id": "7b000000-0000-4000-8000-000000000501", "name": "default-up", "router": "provider",
   "dst": "0.0.0.0/0", "next_hop_port": "uplink"}
 ],
 "chains": [], "rules": [], "neighbors": [], "port_groups": [], "ip_groups": [], "floating_ips": [],
 "bgp_peers": [
  {"id": "7b000000-0000-4000-8000-000000000601", "port": "uplink", "peer_address": "10.99.0.1",
   "peer_asn": 65000, "local_asn": 64512, "bfd": false}
 ],
 "bgp_networks": []
}
JSON
  cat >"$W/run/gw/gateway.conf" <<CONF
host = "gw1";
topology = "$W/run/topology.json";
stats_file = "$W/run/gw/stats.json";
bgp: { router_id = "10.99.0.2"; local_asn = 64512; dir = "$W/run/gw/bird"; kernel_table = 100; };
gateway: { report_interval = 1; };
datapath: { flows = 65536; };
nat: { entries = 65536; };
CONF
  ip netns exec "${P}gw" "$GW" -c "$W/run/gw/gateway.conf" >"$W/run/gw/gateway.log" 2>&1 &
  GW_PID=$!
  disown
  if [ "$hv" = 1 ]; then
    cat >"$W/run/agent.conf" <<CONF
host = "hv1";
topology = "$W/run/topology.json";
stats_file = "$W/run/hv-stats.json";
datapath: { flows = 65536; };
nat: { entries = 65536; };
CONF
    nsx hv "$AGENT" -c "$W/run/agent.conf" >"$W/run/agent.log" 2>&1 &
    disown
  fi
  return 0
}

established() { birdc -s "$W/run/gw/bird/bird.ctl" show protocols 2>/dev/null | grep -q Established; }
gw_bird_pid() { cat "$W/run/gw/bird/bird.pid" 2>/dev/null || echo 0; }
stat_of() { jq -r ".gateway.$1 // 0" "$W/run/gw/stats.json" 2>/dev/null || echo 0; }
fresh_stats() { kill -USR1 "$GW_PID" 2>/dev/null; sleep 0.3; }

# fwd_check PHASE: probes from the VM, sniffed on the upstream's interface
fwd_check() {
  local phase=$1 out=$W/run/sniff-$1.json
  nsx up $py "$H/probe.py" sniff gw 2 "$out" >"$W/run/sniff-$phase.out" 2>&1 &
  local spid=$!
  for _ in $(seq 30); do grep -q ready "$W/run/sniff-$phase.out" 2>/dev/null && break; sleep 0.1; done
  # shellcheck disable=SC2046
  nsx vm $py "$H/probe.py" send $(cat "$W/run/probes") 198.18.0.77
  wait $spid
  local want
  want=$(jq -R . "$W/run/probes" | jq -sc .)
  FWD_OK=$(jq --argjson w "$want" --arg m $UP_MAC \
    '[.probes[] | select(.dst_mac == $m and (.dst as $d | $w | index($d) != null))] | map(.dst) | unique | length' "$out")
  FWD_CTL=$(jq '[.probes[] | select(.dst == "198.18.0.77")] | length' "$out")
  FWD_ARP=$(jq --argjson w "$want" '[.arp_requests[] | select(.who_has as $d | $w | index($d) != null)] | length' "$out")
}

declare -A R_GW R_KERN R_MB R_HWM R_RATIO R_R0 R_BASE
smallest=$(printf '%s\n' $SIZES | sort -n | head -1)
echo "gateway_routes: upstream BIRD -> gateway BIRD -> kernel table 100 -> rampart-gateway ($(nproc) CPUs, poll ${POLL} ms)"
for N in $SIZES; do
  hv=0
  { [ "$FWD" = all ] || { [ "$FWD" = smallest ] && [ "$N" = "$smallest" ]; }; } && hv=1
  echo
  echo "== N = $N routes"
  $py "$H/gen_routes.py" "$N" "$W/routes-$N.conf" "$W/probes-$N" || { echo "   FAIL: cannot generate the routes"; continue; }
  if ! setup "$N" $hv; then echo "   FAIL: setup"; continue; fi
  cp "$W/probes-$N" "$W/run/probes"
  if ! poll 300 established; then
    echo "   FAIL: no BGP session within 30 s"; tail -n 5 "$W/run/gw/gateway.log" "$W/run/up/bird.log" 2>&1 | sed 's/^/   | /'
    continue
  fi
  sleep 1; fresh_stats
  rss0=$(kb "$GW_PID" VmRSS)
  if [ $hv = 1 ]; then
    # the agent binds vm1 and learns the topology; the first probes also teach the VM its gateway's MAC
    sleep 1
    fwd_check before
    fb="before: $FWD_OK/3 learned-prefix probes reached the upstream; the gateway ARPed for them $FWD_ARP times (no route: resolves the destination itself)"
  fi
  timeout_s=${GW_BENCH_TIMEOUT:-$((30 + N / 10000))}
  pflag=(); [ "${GW_BENCH_PROGRESS:-0}" = 1 ] && pflag=(--progress)
  nsx gw $py "$H/watch_routes.py" --n "$N" --up-sock "$W/run/up/bird.ctl" --gw-sock "$W/run/gw/bird/bird.ctl" \
    --gw-pid "$GW_PID" --stats "$W/run/gw/stats.json" --install "$W/routes-$N.conf" "$W/run/up/routes.conf" \
    --poll-ms "$POLL" --timeout "$timeout_s" "${pflag[@]}" >"$W/run/watch.json" 2> >(tee "$W/run/watch.err" >&2) &
  wait $!
  res=$(tail -1 "$W/run/watch.json")
  if ! echo "$res" | jq -e '.s' >/dev/null 2>&1; then
    echo "   FAIL: watcher: $res $(tail -3 "$W/run/watch.err")"; continue
  fi
  fresh_stats
  rss1=$(kb "$GW_PID" VmRSS); hwm=$(kb "$GW_PID" VmHWM)
  up_rss=$(kb "$UP_PID" VmRSS); gb_rss=$(kb "$(gw_bird_pid)" VmRSS)
  rbytes=$(stat_of counters.routes_bytes); learned=$(stat_of learned_routes)
  s() { echo "$res" | jq -r ".s.$1"; }
  t_up=$(s up_static) t_bird=$(s bird) t_bk=$(s bird_kernel) t_kern=$(s kernel) t_gw=$(s gw)
  echo "   seconds after the upstream's configure (t0): up $(fmt "$t_up")  BIRD(gw) $(fmt "$t_bird")" \
       " BIRD kernel sync $(fmt "$t_bk")  kernel table $(fmt "$t_kern")  gateway $(fmt "$t_gw")"
  if [ "$t_bird" != null ] && [ "$t_kern" != null ] && [ "$t_gw" != null ]; then
    read -r d_kern d_gw ratio rk rg r0 < <(awk -v b="$t_bird" -v k="$t_kern" -v g="$t_gw" -v n="$N" 'BEGIN {
      dk = k - b; dg = g - b; r = (dk > 0.001) ? sprintf("%.2f", dg / dk) : "n/a";
      printf "%.3f %.3f %s %.0f %.0f %.2f\n", dk, dg, r, n / k, n / g, g / k }')
    awk -v d="$d_kern" -v p="$POLL" 'BEGIN {exit !(d < 2 * p / 1000)}' && ratio="n/a"
    echo "   from BIRD having them (t_bird): kernel table (baseline) +$d_kern s, gateway forwarding by them" \
         "+$d_gw s, ratio $ratio (polled every $POLL ms)"
    echo "   from t0 (offered): kernel $(fmt "$t_kern") s = $rk routes/s, gateway $(fmt "$t_gw") s = $rg routes/s," \
         "ratio $r0"
    R_GW[$N]=$d_gw; R_KERN[$N]=$d_kern; R_RATIO[$N]=$ratio; R_R0[$N]=$r0
    [ "$ratio" = n/a ] && echo "   (ratio n/a: the gateway's BIRD syncs each route to the kernel as it imports it, so the" \
      "kernel finishes within the $POLL ms polling of BIRD having them; compare from t0 instead)"
  else
    echo "   NOT REACHED within ${timeout_s}s: last counts $(echo "$res" | jq -c .last)"
    R_GW[$N]=-; R_KERN[$N]=-
  fi
  d_rss=$((rss1 - rss0))
  bpr=$(awk -v d="$d_rss" -v n="$N" 'BEGIN {printf "%.0f", d * 1024 / n}')
  rbpr=$(awk -v d="$rbytes" -v n="$N" 'BEGIN {printf "%.0f", d / n}')
  echo "   memory: gateway RSS $(mb "$rss0") -> $(mb "$rss1") MB (+$(mb "$d_rss") MB, $bpr B/route);" \
       "routes_bytes $(awk -v b="$rbytes" 'BEGIN {printf "%.1f", b / 1048576}') MB ($rbpr B/route);" \
       "peak VmHWM $(mb "$hwm") MB; BIRD RSS: upstream $(mb "$up_rss") MB, gateway's $(mb "$gb_rss") MB"
  R_MB[$N]=$(mb "$d_rss"); R_HWM[$N]=$(mb "$hwm"); R_BASE[$N]=$(mb "$rss0")
  echo "   gateway: learned_routes $learned, feed_overruns $(stat_of counters.feed_overruns)," \
       "route_dumps $(stat_of counters.route_dumps), route_refused $(stat_of counters.route_refused);" \
       "kernel count: notifications $(echo "$res" | jq .last.kernel) (overrun $(echo "$res" | jq .kernel_overrun))," \
       "fib_triestat $(echo "$res" | jq .kernel_final_triestat); BIRD show route count $(echo "$res" | jq .bird_route_count)" \
       "($(echo "$res" | jq .bird_route_count_s) s)"
  if [ $hv = 1 ]; then
    fwd_check after
    echo "   forwarding check: $fb"
    echo "                     after: $FWD_OK/3 reached the upstream's MAC $UP_MAC (learned next hop 10.99.0.1);" \
         "198.18.0.77 (no learned prefix): $FWD_CTL arrived"
    fresh_stats
    echo "                     gateway counters: egress_learned $(stat_of counters.egress_learned)," \
         "drop_unresolved $(stat_of counters.drop_unresolved), arp_requests $(stat_of counters.arp_requests)"
  fi
  # what counting table 100 costs at this size (the reason for counting by notifications)
  c1=$(nsx gw $py -c "
import time, sys; sys.path.insert(0, '$H'); import watch_routes as w
t = time.time(); n = w.triestat_prefixes(100); print('%d %.3f' % (n, time.time() - t))")
  t=$(date +%s.%N); c2=$(ip -n "${P}gw" -br route show table 100 | wc -l); t2=$(date +%s.%N)
  echo "   counting table 100 once: /proc/net/fib_triestat ${c1#* } s ($(echo "$c1" | cut -d' ' -f1));" \
       "ip -br route show table 100 | wc -l $(awk -v a="$t" -v b="$t2" 'BEGIN {printf "%.3f", b - a}') s ($c2)"
  teardown
done

echo
echo "== summary: seconds from the gateway's BIRD having the N routes to the kernel table (baseline) and to the"
echo "   gateway holding them; the ratio gateway/kernel from t0 (upstream configure); gateway RSS growth and peak"
printf '   %-9s %12s %14s %7s %14s %10s %10s\n' N "kernel (s)" "gateway (s)" ratio "ratio from t0" "RSS +MB" "peak MB"
for N in $SIZES; do
  printf '   %-9s %12s %14s %7s %14s %10s %10s\n' "$N" "${R_KERN[$N]:--}" "${R_GW[$N]:--}" "${R_RATIO[$N]:--}" "${R_R0[$N]:--}" "${R_MB[$N]:--}" "${R_HWM[$N]:--}"
done
if [ -n "${R_GW[1000000]:-}" ]; then
  verdict=$(awk -v g="${R_GW[1000000]}" -v m="${R_MB[1000000]:-999999}" 'BEGIN {
    print (g != "-" && g <= 10 && m < 200) ? "MET" : "NOT MET" }')
  echo "   target (issue 7): 1M routes forwarded within 10 s of BIRD having them, in under 200 MB:" \
       "$verdict (+${R_GW[1000000]} s; the routes take +${R_MB[1000000]:-?} MB of RSS; the whole process" \
       "peaks at ${R_HWM[1000000]:-?} MB, ${R_BASE[1000000]:-?} MB of it before any route)"
else
  echo "   target (issue 7, 1M routes): not measured in this run (GW_BENCH_SIZES=\"$SIZES\")"
fi
