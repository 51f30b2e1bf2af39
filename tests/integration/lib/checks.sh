# Sourced by the integration scripts: counting checks the same way.
#   ok NAME / fail NAME           count and print "ok   NAME" / "FAIL NAME"
#   check NAME COMMAND...         pass if the command exits 0
#   poll TRIES COMMAND...         retry every 0.2 s until the command succeeds
#   show FILE [LINES]             the end of a file, indented (for failures)
# The caller sets passed=0 failed=0 and prints "$passed passed, $failed failed".
ok() { echo "ok   $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else fail "$name"; fi; }
poll() { local n=$1; shift; for _ in $(seq "$n"); do "$@" && return 0; sleep 0.2; done; return 1; }
show() { echo "     --- $1"; sed 's/^/     | /' "$1" | tail -n "${2:-15}"; }
