#!/usr/bin/env bash
# Install the Debian packages Rampart needs, and only those that are missing.
# Idempotent: with everything present it runs no apt-get at all.
set -euo pipefail

PKGS=(
  build-essential clang llvm lld pkg-config git python3
  libjansson-dev libconfig-dev libevent-dev libcmocka-dev
  libnl-3-dev libnl-route-3-dev libmnl-dev libxdp-dev libbpf-dev
  libsqlite3-dev libzookeeper-mt-dev zookeeper default-jre-headless
  iproute2 iputils-ping procps curl bird2 frr python3-scapy nftables wrk jq
)

missing=()
for p in "${PKGS[@]}"; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$st" = "install ok installed" ] || missing+=("$p")
done
# clang's sanitizer runtime ships separately on some releases.
if ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  v=$(clang --version 2>/dev/null | sed -n 's/.*version \([0-9]*\).*/\1/p' | head -1)
  [ -n "$v" ] && missing+=("libclang-rt-$v-dev")
fi

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
