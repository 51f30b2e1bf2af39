#!/usr/bin/env bash
# rampartctl against a real rampart-api on SQLite, as an operator uses it:
# CRUD for a few types, tables and --json, exit codes (0 ok, 1 refused or
# unreachable, 2 usage), configuration from the environment and from
# ~/.config/rampart/. The server and its files are removed on exit.
set -u
cd "$(dirname "$0")/../.."
api=${RAMPART_API_BIN:-build/asan/rampart-api}
ctl=${RAMPARTCTL:-build/asan/rampartctl}
work=$(mktemp -d /tmp/rampart-ctl-XXXXXX)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
fail=0 passed=0
failed=0
check() { if eval "$2"; then echo "ok   $1"; passed=$((passed+1)); else echo "FAIL $1"; fail=1; failed=$((failed+1)); fi; }

echo "secret-$$" >"$work/token"
printf 'api: { port = 0; token_file = "%s"; };\nstore: { path = "%s"; };\n' "$work/token" "$work/db" >"$work/conf"
"$api" -c "$work/conf" >"$work/out" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do grep -q '^listening' "$work/out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$work/out")
[ -n "$port" ] || { echo "api did not start"; cat "$work/log"; exit 1; }
export RAMPART_API=http://127.0.0.1:$port RAMPART_TOKEN=secret-$$

$ctl router create --name r1 --tenant t1 >"$work/o" 2>&1; rc=$?
check "router create exits 0 and shows the resource" '[ $rc -eq 0 ] && grep -q "^name *r1" "$work/o"'
$ctl --json router show r1 >"$work/o" 2>&1; rc=$?
check "--json show prints the JSON object" '[ $rc -eq 0 ] && /usr/bin/python3 -c "import json,sys; d=json.load(open(\"$work/o\")); sys.exit(0 if d[\"tenant\"]==\"t1\" else 1)"'
$ctl router update r1 --tenant t2 >/dev/null 2>&1
$ctl router list >"$work/o" 2>&1; rc=$?
check "list shows a table with the change" '[ $rc -eq 0 ] && grep -q "^ID " "$work/o" && grep -q "tenant=t2" "$work/o"'
$ctl bridge create --name b1 >/dev/null && $ctl port create --name p1 --device b1 --fixed-ips '["10.0.0.5"]' >"$work/o" 2>&1; rc=$?
check "JSON-looking values are sent as JSON (fixed_ips list)" '[ $rc -eq 0 ] && grep -q "10.0.0.5" "$work/o"'
$ctl port create --name p2 --device nowhere >"$work/o" 2>&1; rc=$?
check "a refused create exits 1 with the server's message and field" '[ $rc -eq 1 ] && grep -q "nowhere" "$work/o" && grep -q "field device" "$work/o"'
$ctl bridge delete b1 >"$work/o" 2>&1; rc=$?
check "deleting a referenced bridge exits 1 (409)" '[ $rc -eq 1 ] && grep -q 409 "$work/o"'
$ctl port delete p1 >/dev/null && $ctl bridge delete b1 >"$work/o" 2>&1; rc=$?
check "delete exits 0" '[ $rc -eq 0 ] && grep -q "deleted b1" "$work/o"'
$ctl export >"$work/exp" 2>&1; rc=$?
check "export prints the document" '[ $rc -eq 0 ] && grep -q "\"routers\"" "$work/exp"'
$ctl import scripts/demo/cloud.json >"$work/o" 2>&1; rc=$?
check "import exits 0 and says the revision" '[ $rc -eq 0 ] && grep -q revision "$work/o"'
$ctl status >"$work/o" 2>&1; rc=$?
check "status answers" '[ $rc -eq 0 ] && grep -q sqlite "$work/o"'
timeout 3 $ctl watch --since 0 >"$work/o" 2>&1
check "watch streams the changes from a revision" 'grep -q "\"op\":\"put\"" "$work/o"'
# bgp: what a gateway reported, as tables (the peer named by its resource name).
put_report() {  # HOST JSON
  /usr/bin/python3 - "$1" "$2" <<'PY'
import http.client, os, sys
c = http.client.HTTPConnection("127.0.0.1", int(os.environ["RAMPART_API"].rsplit(":", 1)[1]))
c.request("PUT", "/v1/gateways/" + sys.argv[1], body=sys.argv[2],
          headers={"Authorization": "Bearer " + os.environ["RAMPART_TOKEN"], "Content-Type": "application/json"})
sys.exit(0 if c.getresponse().status == 200 else 1)
PY
}
$ctl bgp >"$work/o" 2>&1; rc=$?
check "bgp with no reports says so" '[ $rc -eq 0 ] && grep -q "no gateway has reported" "$work/o"'
$ctl bgp-peer update 6c6a3627-5a5c-51d7-ad0c-f96569491850 --name up1 >/dev/null 2>&1
put_report gw1 '{"host": "gw1", "interval_s": 2,
  "bird": {"state": "running", "pid": 123, "restarts": 2, "router_id": "192.0.2.2", "config_error": null, "config_generation": 3},
  "peers": [{"id": "6c6a3627-5a5c-51d7-ad0c-f96569491850", "name": "p6c6a36275a5c", "peer_address": "192.0.2.1", "peer_asn": 64500,
             "state": "established", "bfd": "up", "since": "2026-12-02 01:02:03", "routes_received": 7, "routes_sent": 3, "last_error": ""}],
  "learned_routes": 1234,
  "routes": [{"dst": "0.0.0.0/0", "type": "unicast", "next_hops": [{"gateway": "192.0.2.1", "interface": "up0"}, {"gateway": "192.0.2.5", "interface": "up1"}]},
             {"dst": "198.51.100.0/24", "type": "blackhole", "next_hops": []}]}'; rc1=$?
put_report gw2 '{"host": "gw2", "interval_s": 2, "bird": {"state": "backoff", "restarts": 4, "config_error": "bird.conf:12:3 syntax error"}, "learned_routes": 6}'; rc2=$?
check "two gateway reports PUT" '[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ]'
$ctl bgp >"$work/o" 2>&1; rc=$?
check "bgp: a BIRD line per gateway (state, router id, restarts)" '[ $rc -eq 0 ] && grep -q "^BIRD on gw1: running, router id 192.0.2.2, 2 restarts$" "$work/o" && grep -q "^BIRD on gw2: backoff, router id -, 4 restarts$" "$work/o"'
check "bgp: the config error under its gateway" 'grep -A1 "^BIRD on gw2" "$work/o" | grep -q "config error: bird.conf:12:3 syntax error"'
check "bgp: peers table with the header and the peer by its resource name" 'grep -Eq "^GATEWAY +PEER +ADDRESS +ASN +STATE +BFD +SINCE +RX +TX$" "$work/o" && grep -Eq "^gw1 +up1 +192\.0\.2\.1 +64500 +established +up +2026-12-02 01:02:03 +7 +3$" "$work/o"'
$ctl bgp routes >"$work/o" 2>&1; rc=$?
check "bgp routes: DST TYPE NEXT-HOPS with every next hop" '[ $rc -eq 0 ] && grep -Eq "^DST +TYPE +NEXT-HOPS$" "$work/o" && grep -Eq "^0\.0\.0\.0/0 +unicast +via 192\.0\.2\.1 dev up0, via 192\.0\.2\.5 dev up1$" "$work/o" && grep -Eq "^198\.51\.100\.0/24 +blackhole +-$" "$work/o"'
check "bgp routes: the sample and the total of every gateway" 'grep -q "^gateway gw1: 2 of 1234 learned routes$" "$work/o" && grep -q "^1240 learned routes in all$" "$work/o"'
$ctl bgp routes --gateway gw2 >"$work/o" 2>&1; rc=$?
check "bgp routes --gateway: only that gateway" '[ $rc -eq 0 ] && grep -q "^6 learned routes in all$" "$work/o" && ! grep -q gw1 "$work/o"'
$ctl bgp routes --gateway nope >"$work/o" 2>&1; rc=$?
check "bgp routes --gateway with no report exits 1 (404)" '[ $rc -eq 1 ] && grep -q 404 "$work/o"'
$ctl --json bgp >"$work/o" 2>&1; rc=$?
check "--json bgp prints GET /v1/gateways" '[ $rc -eq 0 ] && /usr/bin/python3 -c "import json,sys; d=json.load(open(\"$work/o\")); sys.exit(0 if [g[\"host\"] for g in d[\"gateways\"]]==[\"gw1\",\"gw2\"] else 1)"'
$ctl bgp frobnicate >/dev/null 2>&1; rc=$?
check "bgp with a bad argument exits 2" '[ $rc -eq 2 ]'
RAMPART_TOKEN=wrong $ctl router list >"$work/o" 2>&1; rc=$?
check "a bad token exits 1 (401)" '[ $rc -eq 1 ] && grep -q 401 "$work/o"'
mkdir -p "$work/home/.config/rampart" && echo "$RAMPART_API" >"$work/home/.config/rampart/api" && echo "secret-$$" >"$work/home/.config/rampart/token"
env -u RAMPART_API -u RAMPART_TOKEN HOME="$work/home" $ctl router show provider >/dev/null 2>&1; rc=$?
check "address and token from ~/.config/rampart" '[ $rc -eq 0 ]'
$ctl --api http://127.0.0.1:1 router list >"$work/o" 2>&1; rc=$?
check "an unreachable API exits 1 saying so" '[ $rc -eq 1 ] && grep -q "cannot connect" "$work/o"'
$ctl router frobnicate >/dev/null 2>&1; rc=$?
check "bad usage exits 2" '[ $rc -eq 2 ]'
$ctl --nope >/dev/null 2>&1; rc=$?
check "unknown flag exits 2" '[ $rc -eq 2 ]'
echo "rampartctl: $passed passed, $failed failed"
exit $fail
