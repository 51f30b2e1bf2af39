#!/usr/bin/env bash
# Run every unit test binary (cmocka, built with ASan + UBSan) and every
# integration test script, then print one closing line "N passed, N failed".
# A test binary counts its cmocka tests; an integration script counts as one
# test (exit 0 pass, 77 skip, anything else fail).
set -u
cd "$(dirname "$0")/.."

passed=0 failed=0 skipped=0
failures=()
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for t in build/asan/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  out=$(mktemp)
  timeout 600 "$t" >"$out" 2>&1
  rc=$?
  cat "$out"
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1   # crashed, sanitizer report or timeout: count the binary as failed
    echo "$name: exited with $rc"
  fi
  passed=$((passed + p)); failed=$((failed + f))
  [ "$f" -eq 0 ] || failures+=("$name")
  rm -f "$out"
done

for t in tests/integration/*.sh; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  echo "=== integration: $name"
  timeout 900 "$t"
  rc=$?
  case $rc in
    0)  passed=$((passed + 1)); echo "=== $name: ok" ;;
    77) skipped=$((skipped + 1)); echo "=== $name: skipped" ;;
    *)  failed=$((failed + 1)); failures+=("$name"); echo "=== $name: FAILED ($rc)" ;;
  esac
done

[ ${#failures[@]} -eq 0 ] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
