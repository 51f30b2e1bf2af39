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
check() { if eval "$2"; then echo "ok   $1"; passed=$((passed+1)); else echo "FAIL $1"; fail=1; fi; }

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
echo "rampartctl: $passed passed, $fail failed"
exit $fail
