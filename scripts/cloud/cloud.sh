#!/usr/bin/env bash
# The whole cloud on one machine, in network namespaces:
#
#   <p>inet  198.51.100.10  an "internet" host (HTTP server on port 80)
#      |
#   <p>up    FRR (bgpd, bfdd): AS 65000, 10.99.0.1; originates a default route
#      |                        and 198.51.100.0/24
#   <p>gw    rampart-gateway (uplink up0 10.99.0.2/30, BIRD, AS 64512) and
#      |     rampart-api on the embedded SQLite store (10.250.0.1:8080)
#   underlay 10.250.0.0/24: a bridge in <p>ul; the root namespace joins it at .254
#      |
#   <p>hv1   rampart-agent, with two VMs (namespaces):
#            <p>vm1  10.1.0.10 tenant alpha, out through SNAT 203.0.113.1
#            <p>vm2  10.2.0.10 tenant beta, floating IP 203.0.113.20 (HTTP on port 80)
#
# cloud.sh up|down|status
# Environment: CLOUD_PREFIX (namespace/interface prefix, default rpd-),
# CLOUD_DIR (work directory, default /run/rampart-demo), CLOUD_UNDERLAY (first
# three octets, default 10.250.0), CLOUD_BIN (binaries, default build/rel),
# CLOUD_API_PORT (8080), CLOUD_GW_BACKEND (the gateway's datapath.backend: afpacket
# or xdp), CLOUD_GATEWAYS (1, or 2: a second gateway <p>gw2, NIC up0 10.99.1.2/30 to
# the upstream's 10.99.1.1, underlay .2, sharing the traffic by ECMP both ways). `up` leaves everything running and writes
# $CLOUD_DIR/env (RAMPART_API, RAMPART_TOKEN, the namespaces); `down` stops the
# processes it started and removes every namespace and interface it made.
set -euo pipefail
cd "$(dirname "$0")/../.."

P=${CLOUD_PREFIX:-rpd-}
D=${CLOUD_DIR:-/run/rampart-demo}
U=${CLOUD_UNDERLAY:-10.250.0}
BIN=${CLOUD_BIN:-build/rel}
APORT=${CLOUD_API_PORT:-8080}
GWS=${CLOUD_GATEWAYS:-1}
NSES="inet up gw hv1 vm1 vm2 ul"
[ "$GWS" = 2 ] && NSES="$NSES gw2"

nsx() { local ns=$1; shift; ip netns exec "$P$ns" "$@"; }
log() { printf '%s\n' "$*" >&2; }

down() {
  local f pid
  if [ -d "$D" ]; then
    # the gateway first: it stops BIRD, whose routes the upstream then withdraws
    for f in gateway gateway2 agent api http vm2-http frr-bgpd frr-bfdd frr-zebra; do
      [ -f "$D/$f.pid" ] || continue
      pid=$(cat "$D/$f.pid" 2>/dev/null || true)
      [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    done
    for _ in $(seq 50); do
      local alive=0
      for f in "$D"/*.pid; do
        [ -f "$f" ] && pid=$(cat "$f" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && alive=1
      done
      [ $alive = 0 ] && break
      sleep 0.1
    done
    for f in "$D"/*.pid; do
      [ -f "$f" ] && pid=$(cat "$f" 2>/dev/null) && [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    done
  fi
  # anything still running inside our namespaces (BIRD if the gateway was killed hard)
  for ns in $NSES gw2; do
    ip netns pids "$P$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  done
  for ns in $NSES gw2; do ip netns del "$P$ns" 2>/dev/null || true; done
  ip link del "${P}ul0" 2>/dev/null || true
  [ "${CLOUD_KEEP:-0}" = 1 ] || rm -rf "$D"
}

# veth A in namespace NA named IA <-> B in NB named IB
link() { ip link add "$2" netns "$P$1" type veth peer name "$4" netns "$P$3"; }

wait_for() { # wait_for TRIES COMMAND...
  local n=$1; shift
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}

up() {
  for b in rampart-api rampart-gateway rampart-agent rampartctl; do
    [ -x "$BIN/$b" ] || { log "cloud: $BIN/$b is missing (make all)"; exit 1; }
  done
  command -v /usr/lib/frr/bgpd >/dev/null || { log "cloud: FRR is not installed (make deps)"; exit 1; }
  command -v bird >/dev/null || { log "cloud: BIRD 2 is not installed (make deps)"; exit 1; }
  down
  mkdir -p "$D"
  for ns in $NSES; do ip netns add "$P$ns"; nsx "$ns" ip link set lo up; done

  # underlay: a bridge in its own namespace, the hosts and the root namespace on it
  nsx ul ip link add br0 type bridge
  nsx ul ip link set br0 up
  link gw ul0 ul gw
  link hv1 ul0 ul hv1
  ip link add "${P}ul0" type veth peer name root netns "${P}ul"
  for i in gw hv1 root; do nsx ul ip link set "$i" master br0 up; done
  if [ "$GWS" = 2 ]; then
    link gw2 ul0 ul gw2
    nsx ul ip link set gw2 master br0 up
    nsx gw2 ip addr add "$U.2/24" dev ul0
    nsx gw2 ip link set ul0 up
    link up gw2 gw2 up0
    nsx gw2 ip link set up0 address 02:10:00:00:00:02
    nsx up ip addr add 10.99.1.1/30 dev gw2
    nsx gw2 ip addr add 10.99.1.2/30 dev up0
    nsx up ip link set gw2 up
    nsx gw2 ip link set up0 up
    nsx up /usr/bin/python3 tests/integration/agent/offload_off.py gw2
    nsx up /usr/bin/python3 tests/integration/agent/txcsum_off.py gw2
    nsx gw2 sysctl -qw net.ipv4.ip_local_port_range="49152 65535"
  fi
  nsx gw ip addr add "$U.1/24" dev ul0
  nsx hv1 ip addr add "$U.11/24" dev ul0
  ip addr add "$U.254/24" dev "${P}ul0"
  nsx gw ip link set ul0 up
  nsx hv1 ip link set ul0 up
  ip link set "${P}ul0" up

  # the upstream and the internet host
  link up gw gw up0
  nsx gw ip link set up0 address 02:10:00:00:00:01
  nsx up ip addr add 10.99.0.1/30 dev gw
  nsx gw ip addr add 10.99.0.2/30 dev up0
  link up inet inet eth0
  nsx up ip addr add 198.51.100.1/24 dev inet
  nsx inet ip addr add 198.51.100.10/24 dev eth0
  for l in "up gw" "up inet" "gw up0" "inet eth0"; do set -- $l; nsx "$1" ip link set "$2" up; done
  nsx inet ip route add default via 198.51.100.1
  # the upstream's link to the gateway sends frames of one MTU, as a NIC on a wire does
  # (no TSO, and checksums complete: a wire carries no half-done checksum, and
  # AF_XDP, unlike AF_PACKET, cannot tell the datapath one is half done)
  nsx up /usr/bin/python3 tests/integration/agent/offload_off.py gw
  nsx up /usr/bin/python3 tests/integration/agent/txcsum_off.py gw
  nsx up sysctl -qw net.ipv4.ip_forward=1
  # BFD's source ports must be 49152-65535 (RFC 5881)
  nsx gw sysctl -qw net.ipv4.ip_local_port_range="49152 65535"

  # VMs: veth with offloads off (the datapath takes whole frames, docs/agent.md)
  local vm
  for vm in vm1 vm2; do
    link hv1 "$vm" "$vm" eth0
    nsx hv1 ip link set "$vm" up
    nsx "$vm" /usr/bin/python3 tests/integration/agent/offload_off.py eth0
  done
  nsx vm1 ip link set eth0 address 02:30:00:00:01:0a
  nsx vm2 ip link set eth0 address 02:30:00:00:02:0a
  nsx vm1 ip addr add 10.1.0.10/24 dev eth0
  nsx vm2 ip addr add 10.2.0.10/24 dev eth0
  for vm in vm1 vm2; do nsx "$vm" ip link set eth0 up; done
  nsx vm1 ip route add default via 10.1.0.1
  nsx vm2 ip route add default via 10.2.0.1

  # the API, on the gateway, with its embedded store
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$D/token"
  cat >"$D/api.conf" <<CONF
api: { listen = "$U.1"; port = $APORT; token_file = "$D/token"; };
store: { backend = "sqlite"; path = "$D/rampart.db"; };
CONF
  ip netns exec "${P}gw" "$BIN/rampart-api" -c "$D/api.conf" >"$D/api.out" 2>"$D/api.log" &
  echo $! >"$D/api.pid"
  export RAMPART_API=http://$U.1:$APORT RAMPART_TOKEN
  RAMPART_TOKEN=$(cat "$D/token")
  wait_for 100 "$BIN/rampartctl" status || { log "cloud: rampart-api did not start:"; cat "$D/api.log" >&2; exit 1; }
  /usr/bin/python3 scripts/cloud/topology.py "$U" "$GWS" >"$D/topology.json"
  "$BIN/rampartctl" import "$D/topology.json" >/dev/null

  # FRR upstream
  sed "s/@GW@/10.99.0.2/g" scripts/cloud/frr.conf >"$D/frr.conf"
  if [ "$GWS" = 2 ]; then   # the same session to the second gateway, and ECMP over both
    sed -i -e 's/^ neighbor 10.99.0.2 remote-as 64512$/&\n neighbor 10.99.1.2 remote-as 64512\n neighbor 10.99.1.2 bfd\n neighbor 10.99.1.2 timers 3 9/' \
      -e 's/^  neighbor 10.99.0.2 default-originate$/&\n  neighbor 10.99.1.2 default-originate\n  maximum-paths 2/' \
      -e 's/^ peer 10.99.0.2$/ peer 10.99.1.2\n  receive-interval 100\n  transmit-interval 100\n !\n&/' "$D/frr.conf"
  fi
  mkdir -p "$D/frr"
  cp "$D/frr.conf" "$D/frr/frr.conf"
  chown -R frr:frr "$D/frr" 2>/dev/null || true
  chmod 755 "$D"
  local d
  for d in zebra bgpd bfdd; do
    local extra=()
    [ $d = bfdd ] && extra=(--bfdctl "$D/frr/bfdd.sock")
    nsx up /usr/lib/frr/$d -d -f "$D/frr/frr.conf" -i "$D/frr/$d.pid" -z "$D/frr/zserv.api" \
      --vty_socket "$D/frr" -P 0 -u frr -g frr "${extra[@]}" >"$D/frr-$d.log" 2>&1
    wait_for 25 test -s "$D/frr/$d.pid" || { log "cloud: FRR $d did not start"; cat "$D/frr-$d.log" >&2; exit 1; }
    cp "$D/frr/$d.pid" "$D/frr-$d.pid"
  done

  # the internet host serves HTTP
  nsx inet /usr/bin/python3 -m http.server 80 --bind 198.51.100.10 --directory "$D" >"$D/http.log" 2>&1 &
  echo $! >"$D/http.pid"
  echo "hello from the internet host" >"$D/hello.txt"
  # and vm2 serves HTTP too, reached from the internet through its floating IP
  mkdir -p "$D/vm2-www"
  echo "hello from vm2 (10.2.0.10), behind floating IP 203.0.113.20" >"$D/vm2-www/index.html"
  nsx vm2 /usr/bin/python3 -m http.server 80 --bind 10.2.0.10 --directory "$D/vm2-www" >"$D/vm2-http.log" 2>&1 &
  echo $! >"$D/vm2-http.pid"

  # the daemons
  cat >"$D/gateway.conf" <<CONF
host = "gw1";
topology = "$D/gw-topology.json";
api: { url = "http://$U.1:$APORT"; token_file = "$D/token"; };
stats_file = "$D/gw-stats.json";
bgp: { router_id = "10.99.0.2"; local_asn = 64512; dir = "$D/bird"; kernel_table = 100; };
gateway: { report_interval = 1; };
datapath: { flows = 65536; backend = "${CLOUD_GW_BACKEND:-afpacket}"; };
nat: { entries = 65536; };
CONF
  cat >"$D/agent.conf" <<CONF
host = "hv1";
topology = "$D/hv1-topology.json";
api: { url = "http://$U.1:$APORT"; token_file = "$D/token"; };
stats_file = "$D/hv1-stats.json";
datapath: { flows = 65536; };
nat: { entries = 65536; };
CONF
  ip netns exec "${P}gw" "$BIN/rampart-gateway" -c "$D/gateway.conf" >"$D/gateway.log" 2>&1 &
  echo $! >"$D/gateway.pid"
  if [ "$GWS" = 2 ]; then
    sed -e 's/^host = "gw1";/host = "gw2";/' -e "s#gw-topology.json#gw2-topology.json#" -e "s#gw-stats.json#gw2-stats.json#" \
      -e 's/router_id = "10.99.0.2"/router_id = "10.99.1.2"/' -e "s#dir = \"$D/bird\"#dir = \"$D/bird2\"#" \
      "$D/gateway.conf" >"$D/gateway2.conf"
    ip netns exec "${P}gw2" "$BIN/rampart-gateway" -c "$D/gateway2.conf" >"$D/gateway2.log" 2>&1 &
    echo $! >"$D/gateway2.pid"
  fi
  ip netns exec "${P}hv1" "$BIN/rampart-agent" -c "$D/agent.conf" >"$D/agent.log" 2>&1 &
  echo $! >"$D/agent.pid"
  cat >"$D/env" <<ENV
export RAMPART_API=$RAMPART_API
export RAMPART_TOKEN=$RAMPART_TOKEN
CLOUD_PREFIX=$P
CLOUD_DIR=$D
ENV
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) [ -f "$D/env" ] && cat "$D/env" || { echo "not running"; exit 1; } ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
