#!/usr/bin/env bash
# Run each libFuzzer target for SECONDS seconds from its seed corpus;
# fail on the first crash, leak or sanitizer report.
set -u
secs=$1; shift
cd "$(dirname "$0")/.."
rc=0
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp}
for f in "$@"; do
  name=$(basename "$f")
  corpus=build/fuzz/corpus/$name
  mkdir -p "$corpus"
  [ -d "tests/fuzz/seeds/$name" ] && cp -n tests/fuzz/seeds/"$name"/* "$corpus"/ 2>/dev/null
  echo "=== fuzz $name for ${secs}s"
  if ! "$f" -max_total_time="$secs" -print_final_stats=0 -artifact_prefix=build/fuzz/ "$corpus" \
       >build/fuzz/$name.log 2>&1; then
    tail -40 build/fuzz/$name.log
    echo "=== fuzz $name: FAILED (artifact in build/fuzz/)"
    rc=1
  else
    grep -E '^#[0-9]+.*(DONE|pulse)' build/fuzz/$name.log | tail -1
    echo "=== fuzz $name: ok"
  fi
done
exit $rc
