#!/usr/bin/env bash
# The store contract tests against a real ZooKeeper (Debian's package),
# started here on loopback and stopped on exit, even on failure.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/zookeeper.sh
zk_available || { echo "zookeeper not installed"; exit 77; }
ZK_WORK=$(mktemp -d /tmp/rampart-zk-XXXXXX)
trap 'zk_stop_all; rm -rf "$ZK_WORK"' EXIT

port=21810
zk_start 1 $port
zk_wait_serving $port 60 || { echo "zookeeper did not start"; tail -20 "$ZK_WORK/zk1/out.log"; exit 1; }
RAMPART_TEST_ZK=127.0.0.1:$port build/asan/tests/test_store
