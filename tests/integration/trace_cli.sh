#!/usr/bin/env bash
# rampartctl trace, offline, as an operator runs it: the demo cloud answers
# real requests, bad input exits 1 naming what is wrong, bad usage exits 2.
set -u
cd "$(dirname "$0")/../.."
ctl=${RAMPARTCTL:-build/asan/rampartctl}
topo=scripts/demo/cloud.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

[ -x "$ctl" ] || { echo "no $ctl"; exit 1; }

# SNAT out and the reply translated back, in one request (state carries over).
$ctl trace --topology $topo --json scripts/demo/vm-to-internet.json >"$tmp/out.json" 2>"$tmp/err"
rc=$?
check "snat trace exits 0" '[ $rc -eq 0 ]'
check "snat trace answers two results" \
  'python3 -c "import json,sys; r=json.load(open(\"$tmp/out.json\"))[\"results\"]; sys.exit(0 if len(r)==2 else 1)"'
check "outbound leaves the uplink with the public source" \
  'python3 -c "import json,sys; o=json.load(open(\"$tmp/out.json\"))[\"results\"][0][\"outputs\"][0][\"packet\"]; sys.exit(0 if o[\"ip_src\"]==\"100.64.10.2\" and o[\"ttl\"]==62 else 1)"'
check "reply reaches web2 with its private address" \
  'python3 -c "import json,sys; o=json.load(open(\"$tmp/out.json\"))[\"results\"][1][\"outputs\"][0][\"packet\"]; sys.exit(0 if o[\"ip_dst\"]==\"10.1.0.11\" and o[\"dst_port\"]==40000 else 1)"'

# The readable form names devices and the SNAT decision.
$ctl trace --topology $topo scripts/demo/vm-to-internet.json >"$tmp/text" 2>&1
check "text trace names the tenant router and the snat" 'grep -q acme "$tmp/text" && grep -qi snat "$tmp/text"'

# Standard input works.
$ctl trace --topology $topo --json - <scripts/demo/internet-to-fip.json >"$tmp/fip.json" 2>&1
check "request from stdin" '[ $? -eq 0 ] && grep -q results "$tmp/fip.json"'

# Refusals: exit 1 with a message naming the problem.
echo '{"in_port": "nope", "packets": [{}]}' >"$tmp/bad.json"
$ctl trace --topology $topo --json "$tmp/bad.json" >/dev/null 2>"$tmp/err"; rc=$?
check "unknown port exits 1 naming it" '[ $rc -eq 1 ] && grep -q nope "$tmp/err"'
echo '{"in_port": "web2", "packets": [{"ip_dst": "10.0.0.300"}]}' >"$tmp/bad.json"
$ctl trace --topology $topo --json "$tmp/bad.json" >/dev/null 2>"$tmp/err"; rc=$?
check "bad address exits 1 naming it" '[ $rc -eq 1 ] && grep -q "10.0.0.300" "$tmp/err"'
echo '{"routers": [{"name": "r"}], "ports": [{"name": "p", "device": "missing"}]}' >"$tmp/topo.json"
$ctl trace --topology "$tmp/topo.json" --json scripts/demo/traceroute.json >/dev/null 2>"$tmp/err"; rc=$?
check "dangling reference in topology exits 1 naming it" '[ $rc -eq 1 ] && grep -q missing "$tmp/err"'
echo '{"routers": [' >"$tmp/topo.json"
$ctl trace --topology "$tmp/topo.json" --json scripts/demo/traceroute.json >/dev/null 2>"$tmp/err"; rc=$?
check "unparsable topology exits 1" '[ $rc -eq 1 ] && [ -s "$tmp/err" ]'
$ctl trace --no-such-flag >/dev/null 2>&1; rc=$?
check "bad usage exits 2" '[ $rc -eq 2 ]'

exit $fail
