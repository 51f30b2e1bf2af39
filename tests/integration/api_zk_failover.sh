#!/usr/bin/env bash
# A three-node ZooKeeper ensemble on loopback with two API servers sharing it;
# the leader is killed in the middle of writes: the API keeps serving and
# nothing acknowledged may be lost. Every server started here is stopped on
# exit. Not part of make test (see docs/api.md, "Known problems").
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/zookeeper.sh
zk_available || { echo "zookeeper not installed"; exit 77; }
ZK_WORK=$(mktemp -d /tmp/rampart-zk-XXXXXX)
trap 'zk_stop_all; rm -rf "$ZK_WORK"' EXIT
fail=0

ens="server.1=127.0.0.1:21911:21921
server.2=127.0.0.1:21912:21922
server.3=127.0.0.1:21913:21923"
zk_start 1 21831 "$ens"
zk_start 2 21832 "$ens"
zk_start 3 21833 "$ens"
for p in 21831 21832 21833; do
  zk_wait_serving $p 90 || { echo "ensemble member $p did not join"; exit 1; }
done
RAMPART_TEST_ZK_ENSEMBLE=127.0.0.1:21831,127.0.0.1:21832,127.0.0.1:21833 \
RAMPART_TEST_ZK_PORTS=21831,21832,21833 \
  /usr/bin/python3 tests/integration/api_zk_failover.py || fail=1
exit $fail
