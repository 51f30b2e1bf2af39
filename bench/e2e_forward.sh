#!/bin/bash
# bench/e2e_forward.sh: end-to-end forwarding on veth, rampart-agent against
# the kernel, with the same traffic source in the same run (issue 5, (b) and (c)).
#
#   src ns --veth--> fwd ns --veth--> dst ns
#   rpbS0            rpbF0   rpbF1    rpbD0
#
# (b) 64-byte UDP frames (64 bytes as the veth sees them, no FCS) over 256
#     flows, SNAT on the way through: kernel forwarding + nftables
#     masquerade; rampart-agent on AF_PACKET; rampart-agent on AF_XDP (native
#     copy mode on veth, no busy polling: the agent has no setting for it
#     yet). Once with the source at full speed (~3-9 Mpps offered: every
#     forwarder is flooded), once paced at E2E_PACED pps.
# (c) every frame a new flow (UDP source port per frame, destination port
#     every 64512 frames, destination address over NDST addresses): flows
#     installed per second through the agent's upcall path against the new
#     connections per second of kernel conntrack + masquerade.
# The agent's topology is bench/e2e/topo.json: VM port vm1 (rpbF0) on a
# bridge behind tenant router t1, which SNATs to 100.64.10.2, behind the
# provider router, whose uplink (rpbF1) reaches the next hop through a
# static neighbor (the MAC of rpbD0).
#
# Traffic: bench/e2e/gen.bpf.c run by BPF_PROG_RUN with live frames, XDP_TX
# out of rpbS0 (bench/e2e/e2e_tool.c loads and runs it). Count:
# bench/e2e/sink.bpf.c, XDP on rpbD0, counts and drops (and counts apart
# frames that arrive untranslated: the script warns). Generator and sink on
# CPU 0; the forwarder and the threaded NAPI of its veths on CPU 1. Each
# figure is the median of E2E_RUNS rounds; a round runs every measurement on
# the kernel, then on each agent (one agent start per round and backend).
# Peak RSS is the agent's VmHWM at the end of its round.
#
# Needs root, build/rel/rampart-agent (make build/rel/rampart-agent), clang,
# libbpf and libxdp (headers too), nft, jq. Builds its helpers into
# build/bench-e2e/. Not root, no namespaces or veth: says why and exits 0 (a
# benchmark, not a test). About 5 minutes; a watchdog ends it at
# E2E_TIME_LIMIT seconds (420). Everything it made goes on exit.
# Environment: E2E_WARMUP (s, 1), E2E_WINDOW (s, 4), E2E_RUNS (3),
# E2E_PACED (pps, 200000; 0: no paced set), E2E_PACED_WINDOW (s, 3),
# E2E_FULL (0: no full-speed set), E2E_BUDGET (s, 360: later measurements
# are left out),
# E2E_NEWFLOW_DSTS (list, "256 1"), E2E_NEWFLOW_WINDOW (s, 1),
# E2E_NEWFLOW_RATE (pps, 0: full speed), E2E_NICE (-10),
# E2E_GEN_NICE (-5), E2E_KEEP (keep the temporary directory), E2E_DEBUG
# (print the generator's offered rate and program runs per second).
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
OUT=$ROOT/build/bench-e2e
AGENT=$ROOT/build/rel/rampart-agent
WARMUP=${E2E_WARMUP:-1}
WINDOW=${E2E_WINDOW:-4}
PWINDOW=${E2E_PACED_WINDOW:-3}
RUNS=${E2E_RUNS:-3}
PACED=${E2E_PACED:-200000}  # (b) second set: offered pps (0: skip it)
NDST=${E2E_NEWFLOW_DSTS-256 1}  # (c) destination addresses the new flows spread over (a list: one table each)
NS_SRC=rpb$$-src NS_FWD=rpb$$-fwd NS_DST=rpb$$-dst
MAC_S0=02:30:00:00:00:0a    # the VM port vm1 in bench/e2e/topo.json
MAC_F0=02:20:00:00:00:02    # its gateway, router port t1-lan
MAC_F1=02:10:00:00:00:01    # the provider router's uplink
MAC_D0=02:99:00:00:00:01    # the upstream next hop (a static neighbor)
IP_SRC=10.1.0.10 IP_DST=203.0.113.7
TMP=

skip() { echo "e2e_forward: SKIP: $*"; exit 0; }
die() { echo "e2e_forward: FAIL: $*" >&2; exit 1; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, XDP)"
[ -x "$AGENT" ] || die "$AGENT missing: make build/rel/rampart-agent"
for t in ip nft taskset renice flock clang cc jq awk ps; do
    command -v $t >/dev/null || skip "$t not installed"
done
# Two runs at once would share CPUs and NAPI thread names.
exec 9>/tmp/rampart-e2e-forward.lock
flock -n 9 || skip "another e2e_forward run is in progress"
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs (generator and sink on one, forwarder on the other)"

AGENT_PID='' SINK_PID='' GEN_PID='' WATCHDOG=''
cleanup() {
    local p
    trap - EXIT INT TERM
    [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
    for p in $GEN_PID $SINK_PID $AGENT_PID; do
        kill "$p" 2>/dev/null
    done
    sleep 0.3
    for p in $GEN_PID $SINK_PID $AGENT_PID; do
        kill -KILL "$p" 2>/dev/null
    done
    wait 2>/dev/null
    for ns in $NS_SRC $NS_FWD $NS_DST; do
        ip netns del $ns 2>/dev/null
    done
    if [ -n "${E2E_KEEP:-}" ]; then
        echo "e2e_forward: kept $TMP"
    elif [ -n "$TMP" ]; then
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'echo "e2e_forward: interrupted (or over the time limit)" >&2; exit 1' INT TERM
# The whole run stays under 5 minutes whatever hangs.
( exec 9>&-
  trap 'kill $sp 2>/dev/null; exit 0' TERM
  sleep "${E2E_TIME_LIMIT:-420}" & sp=$!
  wait $sp && kill -TERM $$ ) 2>/dev/null &
WATCHDOG=$!

# --- helpers ----------------------------------------------------------------------------
mkdir -p "$OUT" || die "cannot create $OUT"
CLANG_BPF="clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -Wall -Werror"
$CLANG_BPF -c bench/e2e/gen.bpf.c -o "$OUT/gen.bpf.o" || die "cannot build gen.bpf.o"
$CLANG_BPF -c bench/e2e/sink.bpf.c -o "$OUT/sink.bpf.o" || die "cannot build sink.bpf.o"
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror bench/e2e/e2e_tool.c -o "$OUT/e2e_tool" -lbpf -lxdp ||
    die "cannot build e2e_tool"
TOOL=$OUT/e2e_tool
TMP=$(mktemp -d /tmp/rampart-e2e.XXXXXX) || die "mktemp"

# --- namespaces -------------------------------------------------------------------------
# make_net: (re)create the three namespaces and both veth pairs; 1 if it cannot.
# Also what gives the kernel an empty conntrack table between (c) runs.
make_net() {
    local ns
    for ns in $NS_SRC $NS_FWD $NS_DST; do
        ip netns del $ns 2>/dev/null
    done
    for ns in $NS_SRC $NS_FWD $NS_DST; do
        ip netns add $ns 2>/dev/null || return 1
        in_ns $ns ip link set lo up
    done
    ip link add rpbS0 netns $NS_SRC type veth peer name rpbF0 netns $NS_FWD || return 1
    ip link add rpbF1 netns $NS_FWD type veth peer name rpbD0 netns $NS_DST || return 1
    in_ns $NS_SRC ip link set rpbS0 address $MAC_S0 up
    in_ns $NS_FWD ip link set rpbF0 address $MAC_F0 up
    in_ns $NS_FWD ip link set rpbF1 address $MAC_F1 up
    in_ns $NS_DST ip link set rpbD0 address $MAC_D0 up
    # A native XDP_TX into a veth only arrives when the peer runs NAPI: GRO
    # on it (an XDP program, as the AF_XDP agent attaches, does the same).
    in_ns $NS_FWD "$TOOL" gro rpbF0 on || return 1
    in_ns $NS_FWD "$TOOL" gro rpbF1 on || return 1
    in_ns $NS_DST "$TOOL" gro rpbD0 on || return 1
    in_ns $NS_FWD ip addr add 172.31.0.11/32 dev lo    # the agent's tunnel address
    # Threaded NAPI: the forwarder's veths on CPU 1, the sink's on CPU 0
    # (pin_napi). The threads come and go with XDP programs: pin again after
    # every change.
    in_ns $NS_FWD sh -c 'echo 1 > /sys/class/net/rpbF0/threaded && echo 1 > /sys/class/net/rpbF1/threaded' ||
        echo "e2e_forward: note: no threaded NAPI; softirq NAPI runs on the sender's CPU" >&2
    in_ns $NS_DST sh -c 'echo 1 > /sys/class/net/rpbD0/threaded' 2>/dev/null
    in_ns $NS_SRC sh -c 'echo 1 > /sys/class/net/rpbS0/threaded' 2>/dev/null
    return 0
}
make_net || skip "cannot create network namespaces and veth pairs here"

# Other work on the machine (parallel builds, tests) would take its share of
# CPU 1 from the forwarder: the forwarder, the NAPI threads and the sink run
# at nice $NICE (every forwarder the same, so the comparison stays fair).
# Not a real-time class: a SCHED_FIFO NAPI thread fed at 10 Mpps would never
# let the agent on the same CPU run.
NICE=${E2E_NICE:--10}
GEN_NICE=${E2E_GEN_NICE:--5}
boost() { renice -n "$NICE" -p "$1" >/dev/null 2>&1; }
pin_napi() {
    local pid comm
    while read -r pid comm; do
        case $comm in
        napi/rpbF0-* | napi/rpbF1-*) taskset -pc 1 "$pid" >/dev/null; boost "$pid" ;;
        napi/rpbD0-* | napi/rpbS0-*) taskset -pc 0 "$pid" >/dev/null; boost "$pid" ;;
        esac
    done < <(ps -eo pid=,comm=)
}

kernel_on() {
    in_ns $NS_FWD ip addr add 10.1.0.1/24 dev rpbF0
    in_ns $NS_FWD ip addr add 192.0.2.2/30 dev rpbF1
    in_ns $NS_FWD ip route add default via 192.0.2.1 dev rpbF1
    in_ns $NS_FWD ip neigh replace 192.0.2.1 lladdr $MAC_D0 nud permanent dev rpbF1
    in_ns $NS_FWD sysctl -qw net.ipv4.ip_forward=1
    in_ns $NS_FWD nft -f - <<'EOF'
table ip rpb_e2e {
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "rpbF1" masquerade
    }
}
EOF
}
kernel_off() {
    in_ns $NS_FWD nft delete table ip rpb_e2e 2>/dev/null
    in_ns $NS_FWD sysctl -qw net.ipv4.ip_forward=0
    in_ns $NS_FWD ip addr flush dev rpbF0
    in_ns $NS_FWD ip addr flush dev rpbF1
}

# agent_start BACKEND FLOWS NAT_ENTRIES: sets AGENT_PID, STATS.
agent_start() {
    local conf=$TMP/agent-$1.conf
    STATS=$TMP/stats-$1.json
    rm -f "$STATS"
    # xdpbp: AF_XDP with busy polling, and the NAPI settings packet-io.md
    # measured it with (deferred hard IRQs, a GRO flush timeout).
    local backend=$1 busy=false defer=0 gro=0
    if [ "$1" = xdpbp ]; then backend=xdp busy=true defer=2 gro=200000; fi
    for ifc in rpbF0 rpbF1; do
        in_ns $NS_FWD sh -c "echo $defer >/sys/class/net/$ifc/napi_defer_hard_irqs; echo $gro >/sys/class/net/$ifc/gro_flush_timeout" 2>/dev/null
    done
    cat >"$conf" <<EOF
host = "hv-1";
topology = "$ROOT/bench/e2e/topo.json";
tunnel: { address = "172.31.0.11"; port = 4789; };
datapath: { backend = "$backend"; busy_poll = $busy; tap_prefix = "tap"; flows = $2; idle_timeout = 30; upcall_budget = 64; };
nat: { entries = $3; };
stats_file = "$STATS";
log: { level = "warn"; };
EOF
    # Not through in_ns: $! must be the agent itself (ip and taskset exec it).
    ip netns exec $NS_FWD taskset -c 1 "$AGENT" -c "$conf" </dev/null >>"$TMP/agent.log" 2>&1 &
    AGENT_PID=$!
    for _ in $(seq 100); do
        if [ -s "$STATS" ] && [ "$(jq '.ports | length' "$STATS" 2>/dev/null)" = 2 ]; then
            pin_napi
            boost $AGENT_PID
            return 0
        fi
        kill -0 $AGENT_PID 2>/dev/null || break
        sleep 0.1
    done
    echo "e2e_forward: rampart-agent ($1) did not bind both ports; its log:" >&2
    tail -5 "$TMP/agent.log" >&2
    agent_stop
    return 1
}
agent_stop() {
    [ -n "$AGENT_PID" ] || return 0
    kill -TERM $AGENT_PID 2>/dev/null
    wait $AGENT_PID 2>/dev/null
    AGENT_PID=
}
agent_hwm_kb() { awk '/^VmHWM:/ { print $2 }' /proc/$AGENT_PID/status 2>/dev/null; }

# measure MODE SEQ0 NDST RATE [AGENT_PID STATS]: one window; prints
# "DELIVERED_PPS OFFERED_PPS" (gen.bpf.c: MODE, SEQ0, NDST; RATE 0: unpaced).
measure() {
    local mode=$1 seq0=$2 ndst=$3 rate=$4 ready=$TMP/ready res gen
    rm -f "$ready" "$TMP/snap.t0" "$TMP/snap.t1"
    local extra=()
    [ $# -ge 6 ] && extra=("$5" "$6" "$TMP/snap")
    ip netns exec $NS_DST taskset -c 0 "$TOOL" sink "$OUT/sink.bpf.o" rpbD0 "$WARMUP" "$WINDOW" "$ready" $IP_SRC "${extra[@]}" \
        >"$TMP/sink.out" &
    SINK_PID=$!
    boost $SINK_PID
    for _ in $(seq 50); do [ -e "$ready" ] && break; sleep 0.05; done
    [ -e "$ready" ] || { echo "e2e_forward: sink did not start" >&2; wait $SINK_PID; SINK_PID=; return 1; }
    pin_napi
    # The generator spins (paced or not); the sink's NAPI thread at nice $NICE still
    # gets CPU 0 when it needs it.
    ip netns exec $NS_SRC taskset -c 0 nice -n "$GEN_NICE" "$TOOL" gen "$OUT/gen.bpf.o" rpbS0 \
        "$(awk -v a="$WARMUP" -v b="$WINDOW" 'BEGIN { print a + b + 0.3 }')" "$mode" 256 "$seq0" $MAC_S0 $MAC_F0 $IP_SRC $IP_DST "$ndst" "$rate" \
        >"$TMP/gen.out" &
    GEN_PID=$!
    wait $SINK_PID; SINK_PID=
    wait $GEN_PID; GEN_PID=
    res=$(awk '/^delivered/ { print $4 }' "$TMP/sink.out")
    local untr
    untr=$(awk '/^delivered/ { print $6 }' "$TMP/sink.out")
    if [ -n "$untr" ] && [ "$untr" != 0 ]; then
        echo "e2e_forward: WARNING: $untr frames reached dst untranslated (source $IP_SRC)" >&2
    fi
    gen=$(awk '/^offered/ { print $2 }' "$TMP/gen.out")
    [ -n "${E2E_DEBUG:-}" ] && cat "$TMP/gen.out" >&2
    [ -n "$res" ] && [ -n "$gen" ] || { echo "e2e_forward: no figure from sink or generator" >&2; return 1; }
    echo "$res $gen"
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }
jnum() { jq -r "$2 // 0" "$1" 2>/dev/null || echo 0; }

# --- (b) cached flows -------------------------------------------------------------------
echo "e2e_forward: 64-byte UDP frames, 256 flows, SNAT; warm-up ${WARMUP}s, window ${WINDOW}s (paced ${PWINDOW}s), median of $RUNS runs"
echo "  generator: BPF_PROG_RUN live frames, XDP_TX out of rpbS0; sink: XDP count+drop on rpbD0"
echo "  CPU 0: generator (nice $GEN_NICE) + sink NAPI (nice $NICE); CPU 1: forwarder + NAPI of rpbF0/rpbF1 (nice $NICE)"
echo "  AF_XDP: native mode, copy (veth has no zero-copy), with and without busy polling (datapath.busy_poll)"
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
per_s() { awk -v v="$1" -v w="$2" 'BEGIN { printf "%.0f", v / w }'; }

# (c): flows installed per second is the growth of the agent's "flows" over
# the window (its stats file written on SIGUSR1 at both ends). upcalls counts
# the first packets simulated; upcall_drops the ones refused by
# datapath.upcall_budget (not simulated, not in upcalls). The kernel's new
# connections per second is what reaches dst: each delivered packet is a new
# conntrack entry and masquerade binding (the count of entries afterwards is
# shown against nf_conntrack_max, left as it is: a full table makes the
# kernel evict unreplied entries, at a cost; the short window keeps it below).
CWINDOW=${E2E_NEWFLOW_WINDOW:-1}
CWARMUP=0.3     # nothing to install first: only lets the generator reach speed
CRATE=${E2E_NEWFLOW_RATE:-0}    # offered new flows/s; 0: full speed
CTMAX=$(cat /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null || echo "?")
SEQ0=0

# Results, "SECTION:FORWARDER" -> one figure per run, space separated.
declare -A PPS OFF HWM UP DROP INST CT

# one_forwarder FWD [AGENT_PID STATS]: every measurement of one round on the
# forwarder now in place: (b) full speed, (b) paced, (c) for each NDST.
# Past the time budget, the remaining measurements are left out (the tables
# say which runs there were) rather than the watchdog ending it all.
BUDGET=${E2E_BUDGET:-360}
in_budget() {
    [ "$SECONDS" -lt "$BUDGET" ] && return 0
    [ -z "${SAID_BUDGET:-}" ] && echo "e2e_forward: over ${BUDGET}s: the remaining measurements are left out" >&2
    SAID_BUDGET=1
    return 1
}
one_forwarder() {
    local f=$1 m nd v0 v1 x
    in_budget || return 0
    if [ "${E2E_FULL:-1}" != 0 ]; then
        m=$(measure 0 0 1 0) && { PPS[full:$f]+="${m% *} "; OFF[full:$f]+="${m#* } "; }
    fi
    if [ "$PACED" != 0 ] && in_budget; then
        m=$(WINDOW=$PWINDOW measure 0 0 1 "$PACED") && { PPS[paced:$f]+="${m% *} "; OFF[paced:$f]+="${m#* } "; }
    fi
    for nd in $NDST; do
        in_budget || return 0
        SEQ0=$((SEQ0 + 100000000))     # never a 5-tuple of an earlier run
        if [ $# -ge 3 ]; then
            m=$(WINDOW=$CWINDOW WARMUP=$CWARMUP measure 1 $SEQ0 "$nd" "$CRATE" "$2" "$3") &&
                [ -s "$TMP/snap.t0" ] && [ -s "$TMP/snap.t1" ] || continue
            PPS[c$nd:$f]+="${m% *} "
            for x in upcalls:UP upcall_drops:DROP flows:INST; do
                v0=$(jnum "$TMP/snap.t0" ".${x%:*}")
                v1=$(jnum "$TMP/snap.t1" ".${x%:*}")
                eval "${x#*:}[c\$nd:\$f]+=\"\$(per_s \$((v1 - v0)) \$CWINDOW) \""
            done
        else
            # New namespaces: an empty conntrack table (there is no conntrack tool here).
            make_net || die "cannot make the namespaces again"
            kernel_on
            pin_napi
            m=$(WINDOW=$CWINDOW WARMUP=$CWARMUP measure 1 $SEQ0 "$nd" "$CRATE") && PPS[c$nd:$f]+="${m% *} "
            CT[$nd]+="$(in_ns $NS_FWD cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null) "
        fi
    done
}

# Rounds: each forwarder in turn, so that a slow spell of the machine hits
# all of them; an agent starts once per round (it takes seconds to start).
# Every round gets new namespaces: an empty conntrack table for the kernel.
for r in $(seq "$RUNS"); do
    [ "$r" = 1 ] || make_net || die "cannot make the namespaces again"
    kernel_on
    pin_napi
    one_forwarder kernel
    kernel_off
    for b in afpacket xdp xdpbp; do
        in_budget || break
        agent_start $b 262144 262144 || continue
        one_forwarder $b $AGENT_PID "$STATS"
        HWM[$b]+="$(agent_hwm_kb) "
        agent_stop
    done
done

NAME_kernel="kernel forwarding + nft masquerade"
NAME_afpacket="rampart-agent AF_PACKET"
NAME_xdp="rampart-agent AF_XDP (native copy)"
NAME_xdpbp="rampart-agent AF_XDP, busy polling"
report_b() {
    local sec=$1 title=$2 f k p rss name
    k=$(med "${PPS[$sec:kernel]:-}")
    printf "\n(b) %-40s delivered pps   ns/pkt   x kernel   peak RSS   (offered pps, delivered/offered; each run)\n" "$title"
    for f in kernel afpacket xdp xdpbp; do
        p=$(med "${PPS[$sec:$f]:-}")
        rss="n/a"
        [ $f != kernel ] && rss="$(med "${HWM[$f]:-}") kB"
        eval "name=\$NAME_$f"
        awk -v n="$name" -v p="$p" -v k="$k" -v rss="$rss" -v off="$(med "${OFF[$sec:$f]:-}")" -v runs="${PPS[$sec:$f]:-}" \
            'BEGIN { printf "    %-40s %12.0f %8.1f %10s %10s   (%.0f, %.0f%%; %s)\n", n, p, (p > 0 ? 1e9 / p : 0),
                     (k > 0 ? sprintf("%.2f", p / k) : "n/a"), rss, off, (off > 0 ? 100 * p / off : 0), runs }'
    done
}
report_c() {
    local nd=$1 f k p name
    k=$(med "${PPS[c$nd:kernel]:-}")
    printf "\n(c) every packet a new flow, %s destination address(es), window %ss, offered %s\n" "$nd" "$CWINDOW" \
        "$([ "$CRATE" = 0 ] && echo "at full speed" || echo "$CRATE pps")"
    printf "    %-40s %12s %8s %10s   %s\n" "" "new flows/s" "ns/flow" "x kernel" "(delivered pps; upcalls/s; upcall_drops/s; each run)"
    awk -v p="$k" -v runs="${PPS[c$nd:kernel]:-}" -v ct="${CT[$nd]:-}" -v max="$CTMAX" \
        'BEGIN { printf "    %-40s %12.0f %8.1f %10s   (%.0f; each run: %s; conntrack entries after each run: %sof max %s)\n",
                 "kernel conntrack + nft masquerade", p, (p > 0 ? 1e9 / p : 0), "1.00", p, runs, ct, max }'
    for f in afpacket xdp xdpbp; do
        p=$(med "${INST[c$nd:$f]:-}")
        eval "name=\$NAME_$f"
        awk -v n="$name" -v p="$p" -v k="$k" -v d="$(med "${PPS[c$nd:$f]:-}")" \
            -v u="$(med "${UP[c$nd:$f]:-}")" -v dr="$(med "${DROP[c$nd:$f]:-}")" -v runs="${INST[c$nd:$f]:-}" \
            'BEGIN { printf "    %-40s %12.0f %8.1f %10s   (%.0f; %.0f; %.0f; each run: %s)\n", n, p, (p > 0 ? 1e9 / p : 0),
                     (k > 0 ? sprintf("%.2f", p / k) : "n/a"), d, u, dr, runs }'
    done
}
[ "${E2E_FULL:-1}" != 0 ] && report_b full "256 flows, offered at full speed"
# At full speed the forwarder's CPU also takes in (and a userspace ring then
# drops) millions of frames it cannot forward; a paced source below the
# kernel's rate shows the forwarders when they are not flooded.
[ "$PACED" != 0 ] && report_b paced "256 flows, offered at $PACED pps"
for nd in $NDST; do
    report_c "$nd"
done
exit 0
