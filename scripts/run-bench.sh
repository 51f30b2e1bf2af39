#!/usr/bin/env bash
# Run every benchmark binary in turn. Each prints its own figures next to the
# baseline it measured in the same run.
set -u
rc=0
for b in "$@"; do
  echo "=== $(basename "$b")"
  "$b" || rc=1
done
exit $rc
