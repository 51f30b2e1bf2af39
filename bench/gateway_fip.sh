#!/usr/bin/env bash
# bench/gateway_fip.sh: how long a floating IP created through the API takes
# to be reachable from the internet host (issue 7, "Benchmarks"; target: a
# new floating IP reachable within 1 s of the API call).
#
# The whole cloud of scripts/cloud/cloud.sh (CLOUD_PREFIX=rpb-, underlay
# 10.252.0.0/24, work directory /tmp/rpb<pid>-cloud): FRR upstream, the
# gateway with BIRD and the API, hv1 with vm1 (10.1.0.10). Once BGP is
# established and a warm-up round (not counted) has passed, GW_FIP_ROUNDS
# rounds (5), round i with address A = 203.0.113.(30+i):
#
#  1. baseline, the BGP propagation floor: A/32 announced by the gateway's
#     BIRD directly: `route A/32 blackhole;` added to its announce include
#     (bench/gateway/fip.py announce: the file the gateway writes, saved and
#     put back after) and `configure` sent on its control socket; t0 = before
#     the file is written. Timed: FRR bgpd has A/32 in its RIB (its vty
#     socket, polled every 10 ms) and the upstream kernel has it in its FIB
#     (zebra installed it: rtnetlink notification). That is what any
#     BIRD-based gateway needs at the least between "BIRD told" and "the
#     upstream forwards to it", with this FRR; the API path cannot beat it
#     for the announcement. Then withdrawn the same way, and waited for.
#  2. the FIP through the API: with a pinger already running on the internet
#     host (ICMP echo to A every 5 ms, TTL 16, bench/gateway/fip.py ping) and
#     the same watcher (plus the gateway's BIRD, polled every 10 ms: `show
#     route A/32`), t0 = just before `rampartctl floating-ip create --address
#     A --router provider --port vm1 --fixed-ip 10.1.0.10`. Timed: the POST
#     answered, the gateway's BIRD has A/32 (API + gateway + BIRD), FRR's RIB
#     and the upstream FIB have it (+ BGP propagation), the first echo reply
#     (reachable: datapath on the gateway and hv1 included). Then the FIP is
#     deleted and its withdrawal waited for.
# Printed per round and as median and max: each stage, the baseline, the
# ratios reachable/floor and announced/floor, MET/NOT MET (max reachable <= 1 s).
# Note: the provider router also announces 203.0.113.0/24 (a bgp_network),
# which already brings A's packets to the gateway: the first reply does not
# wait for the /32 and may come before the upstream has it.
#
# Needs root, FRR (/usr/lib/frr/bgpd), BIRD 2, build/rel/{rampart-api,
# rampart-gateway,rampart-agent,rampartctl} (make all), python3, jq, curl.
# Not root, no FRR or BIRD: says so and exits 0. Bounded by
# GW_FIP_TIME_LIMIT (s, 150); the cloud goes down on exit, even on failure.
# GW_FIP_KEEP=1 keeps the work directory.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
ROUNDS=${GW_FIP_ROUNDS:-5}
LIMIT=${GW_FIP_TIME_LIMIT:-150}
H=$ROOT/bench/gateway
py=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the tree
export CLOUD_PREFIX=rpb- CLOUD_DIR=/tmp/rpb$$-cloud CLOUD_UNDERLAY=10.252.0 CLOUD_BIN=build/rel
D=$CLOUD_DIR
W=/tmp/rpb$$-fip
CTL=$ROOT/build/rel/rampartctl

[ "$(id -u)" -eq 0 ] || { echo "gateway_fip: skipped: needs root (network namespaces)"; exit 0; }
[ -x /usr/lib/frr/bgpd ] || { echo "gateway_fip: skipped: FRR is not installed (make deps)"; exit 0; }
command -v bird >/dev/null || { echo "gateway_fip: skipped: BIRD 2 is not installed (make deps)"; exit 0; }
command -v jq >/dev/null && command -v curl >/dev/null || { echo "gateway_fip: skipped: needs jq and curl"; exit 0; }
for b in rampart-api rampart-gateway rampart-agent rampartctl; do
  [ -x "build/rel/$b" ] || { echo "gateway_fip: build/rel/$b is missing (make all)"; exit 1; }
done

WD=
cleanup() {
  [ -n "$WD" ] && kill "$WD" 2>/dev/null
  scripts/cloud/cloud.sh down >/dev/null 2>&1
  if [ "${GW_FIP_KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'echo "gateway_fip: interrupted" >&2; exit 1' INT TERM
# the watchdog: its sleep must not outlive us (nor hold a pipe we write to open)
( trap 'kill $sl 2>/dev/null; exit 0' TERM; sleep "$LIMIT" >/dev/null 2>&1 & sl=$!; wait $sl || exit 0
  echo "gateway_fip: time limit ($LIMIT s) reached, stopping" >&2; kill -TERM $$ ) &
WD=$!
mkdir -p "$W"

now() { date +%s.%N; }
nsx() { local ns=$1; shift; ip netns exec "$CLOUD_PREFIX$ns" "$@"; }
wait_ready() { for _ in $(seq 50); do grep -q '^ready' "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# start_watch OUT ADDR [--vanish]: the upstream-side watcher, in the background, ready when this returns
start_watch() {
  local out=$1 addr=$2; shift 2
  nsx up $py "$H/fip.py" watch "$addr" --frr-vty "$D/frr/bgpd.vty" --bird "$D/bird/bird.ctl" --timeout 8 "$@" \
    >"$out" 2>&1 &
  WATCH=$!
  wait_ready "$out"
}

echo "gateway_fip: floating IP through the API -> reachable from the internet host ($(nproc) CPUs)"
if ! scripts/cloud/cloud.sh up >"$W/up.log" 2>&1; then
  echo "   FAIL: the cloud did not come up"; tail -n 15 "$W/up.log" | sed 's/^/   | /'; exit 1
fi
. "$D/env"
established() {
  curl -s -m 2 -H "Authorization: Bearer $RAMPART_TOKEN" "$RAMPART_API/v1/gateways/gw1" |
    jq -e '.peers[0].state == "established"' >/dev/null 2>&1
}
ok=0
for _ in $(seq 150); do established && { ok=1; break; }; sleep 0.2; done
[ $ok = 1 ] || { echo "   FAIL: BGP not established within 30 s"; tail -n 10 "$D/gateway.log" | sed 's/^/   | /'; exit 1; }

# one_round I ADDR COUNTED: baseline, then the FIP through the API; a JSON line into $W/rounds
one_round() {
  local i=$1 a=$2 counted=$3 f fv ann rst p t0 t1 id
  # 1. the floor: BIRD told directly
  start_watch "$W/w-floor-$i" "$a"; f=$WATCH
  ann=$($py "$H/fip.py" announce "$a" --bird "$D/bird/bird.ctl" --file "$D/bird/announce.conf" --saved "$W/announce.saved")
  wait $f
  start_watch "$W/w-floorv-$i" "$a" --vanish; fv=$WATCH
  rst=$($py "$H/fip.py" announce "$a" --bird "$D/bird/bird.ctl" --file "$D/bird/announce.conf" --restore "$W/announce.saved")
  wait $fv
  # 2. the FIP through the API
  nsx inet $py "$H/fip.py" ping "$a" --timeout 8 >"$W/p-$i" 2>&1 &
  p=$!
  start_watch "$W/w-api-$i" "$a"; f=$WATCH
  wait_ready "$W/p-$i"
  t0=$(now)
  "$CTL" --json floating-ip create --address "$a" --router provider --port vm1 --fixed-ip 10.1.0.10 >"$W/c-$i" 2>&1
  t1=$(now)
  wait $p $f
  id=$(jq -r '.id // empty' "$W/c-$i" 2>/dev/null)
  start_watch "$W/w-apiv-$i" "$a" --vanish; fv=$WATCH
  local td
  td=$(now)
  [ -n "$id" ] && "$CTL" floating-ip delete "$id" >/dev/null 2>&1
  wait $fv
  $py - "$i" "$a" "$counted" "$t0" "$t1" "$td" "$ann" "$rst" "$W" >>"$W/rounds" <<'PY'
import json, sys
i, a, counted, t0, t1, td, ann, rst, w = sys.argv[1:]
t0, t1, td = float(t0), float(t1), float(td)
def last(p):
    try:
        return json.loads(open(p).read().strip().splitlines()[-1])
    except Exception:
        return {}
ann, rst = json.loads(ann or "{}"), json.loads(rst or "{}")
wf, wfv, wa, wav, p = (last("%s/%s-%s" % (w, n, i)) for n in ("w-floor", "w-floorv", "w-api", "w-apiv", "p"))
d = lambda t, base: None if t is None or base is None else round(t - base, 4)
tf = ann.get("t0")
print(json.dumps({"round": int(i), "addr": a, "counted": counted == "1",
    "floor": {"configured": d(ann.get("configured"), tf), "frr": d(wf.get("frr"), tf), "fib": d(wf.get("fib"), tf),
              "withdrawn_fib": d(wfv.get("fib"), rst.get("t0"))},
    "api": {"post": d(t1, t0), "bird": d(wa.get("bird"), t0), "frr": d(wa.get("frr"), t0), "fib": d(wa.get("fib"), t0),
            "reach": d(p.get("reply"), t0), "first_ping_after_t0": d(p.get("first_send"), t0),
            "deleted_fib": d(wav.get("fib"), td)}}))
PY
}

: >"$W/rounds"
one_round 0 203.0.113.29 0
for i in $(seq "$ROUNDS"); do one_round "$i" "203.0.113.$((30 + i))" 1; done

$py - "$W/rounds" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def f(v):
    return "   -  " if v is None else "%6.3f" % v
print("   seconds from t0 (the floor: BIRD told directly; the API: the POST starts)")
print("   round addr           | floor: BIRD conf  FRR RIB  up FIB | API: POST   gw BIRD  FRR RIB  up FIB  reachable")
for r in rows:
    fl, ap = r["floor"], r["api"]
    print("   %-5s %-14s |       %s   %s   %s |     %s   %s   %s   %s   %s" % (
        r["round"] if r["counted"] else "warm", r["addr"], f(fl["configured"]), f(fl["frr"]), f(fl["fib"]),
        f(ap["post"]), f(ap["bird"]), f(ap["frr"]), f(ap["fib"]), f(ap["reach"])))
rows = [r for r in rows if r["counted"]]
def col(part, k):
    v = [r[part][k] for r in rows]
    return None if not v or any(x is None for x in v) else v
def med(v):
    return None if v is None else statistics.median(v)
def mx(v):
    return None if v is None else max(v)
def line(name, v):
    print("   %-52s median %s  max %s" % (name, f(med(v)), f(mx(v))))
print()
print("   over %d rounds:" % len(rows))
ff, fr = col("floor", "fib"), col("floor", "frr")
line("baseline: BIRD told -> FRR RIB", fr)
line("baseline: BIRD told -> upstream FIB (the floor)", ff)
post, bird, frr, fib, reach = (col("api", k) for k in ("post", "bird", "frr", "fib", "reach"))
line("API: POST answered", post)
line("API + gateway + BIRD: the gateway's BIRD has the /32", bird)
if bird and fib:
    line("BGP propagation: gateway's BIRD -> upstream FIB", [b - a for a, b in zip(bird, fib)])
line("API call -> upstream FIB (announced)", fib)
line("API call -> first echo reply (reachable)", reach)
if reach:
    print("   first echo reply came before the upstream had the /32 in %d of %d rounds (the /24 already leads to the gateway)"
          % (sum(1 for r in rows if r["api"]["fib"] is None or r["api"]["reach"] < r["api"]["fib"]), len(rows)))
wd = col("api", "deleted_fib")
line("(FIP deleted -> gone from the upstream FIB)", wd)
if ff and reach and med(ff):
    print("   ratio reachable / floor: %.2f (medians), announced / floor: %s" % (
        med(reach) / med(ff), "%.2f" % (med(fib) / med(ff)) if fib else "n/a"))
if reach is None:
    print("   target (issue 7): a new floating IP reachable within 1 s of the API call: NOT MET (not reached in every round)")
else:
    print("   target (issue 7): a new floating IP reachable within 1 s of the API call: %s (max %.3f s, median %.3f s)" % (
        "MET" if max(reach) <= 1.0 else "NOT MET", max(reach), med(reach)))
PY
