#!/usr/bin/env bash
# The API contract tests against rampart-api on a real ZooKeeper (Debian's
# package) started here on loopback and stopped on exit, even on failure.
# The ensemble failover test is tests/extra/api_zk_failover.sh (make
# test-zk-failover).
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/zookeeper.sh
zk_available || { echo "zookeeper not installed"; exit 77; }
ZK_WORK=$(mktemp -d /tmp/rampart-zk-XXXXXX)
trap 'zk_stop_all; rm -rf "$ZK_WORK"' EXIT
fail=0

zk_start 1 21820
zk_wait_serving 21820 60 || { echo "zookeeper did not start"; exit 1; }
RAMPART_TEST_ZK=127.0.0.1:21820 /usr/bin/python3 tests/integration/api_contract.py || fail=1
exit $fail
