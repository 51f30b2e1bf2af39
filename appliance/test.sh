#!/usr/bin/env bash
# appliance/test.sh: boot the built appliance under qemu (TCG) and check it
# through forwarded ports:
#   bios  rampart-gateway.raw on SeaBIOS (i440fx, virtio disk, e1000 uplink NIC)
#   uefi  rampart-gateway.qcow2 on OVMF (q35, AHCI disk), through a 4 GiB overlay
#         so the first boot has a disk to grow the root filesystem into
#   bad   the raw image on SeaBIOS with one bad setting: the error must name it on
#         the console, the gateway must stay stopped, the API and sshd must answer
# Settings are injected as systemd credentials (SMBIOS type 11 and fw_cfg): an API
# token, a host name, a BGP router id, an SSH key, and a rampart.conf credential
# with the uplink and a peer. Each boot is bounded (BOOT_TIMEOUT, 300 s).
# Prints "N passed, N failed"; exits non-zero on any failure; qemu is killed on
# any exit. Logs: build/appliance/test/<boot>.serial.
set -uo pipefail

cd "$(dirname "$0")/.."
OUT=$PWD/build/appliance
T=$OUT/test
BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}
ONLY=${ONLY:-bios uefi bad}
RAW=$OUT/rampart-gateway.raw
QCOW=$OUT/rampart-gateway.qcow2

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v qemu-img >/dev/null || need+=(qemu-utils)
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || need+=(ovmf)
command -v curl >/dev/null || need+=(curl)
command -v jq >/dev/null || need+=(jq)
command -v ssh >/dev/null || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "appliance-test: missing Debian packages: ${need[*]}" >&2; exit 1; }
    echo "appliance-test: installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for f in "$RAW" "$QCOW"; do
    [ -f "$f" ] || { echo "appliance-test: $f missing: run 'make appliance' first" >&2; exit 1; }
done
FLAVOUR=$(cat "$OUT/flavour" 2>/dev/null || echo gateway)

mkdir -p "$T"
PASS=0 FAIL=0
QPID=""
stop_qemu() {
    if [ -n "$QPID" ]; then
        kill "$QPID" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$QPID" 2>/dev/null || break; sleep 0.3; done
        kill -9 "$QPID" 2>/dev/null
        wait "$QPID" 2>/dev/null
        QPID=""
    fi
}
trap 'stop_qemu' EXIT
trap 'stop_qemu; exit 130' INT TERM

ok() { PASS=$((PASS + 1)); echo "  ok    $*"; }
bad() { FAIL=$((FAIL + 1)); echo "  FAIL  $*"; }
check() { # DESCRIPTION COMMAND...
    local d=$1
    shift
    if "$@"; then ok "$d"; else bad "$d"; fi
}

free_port() {
    local p
    for p in $(shuf -i 20000-40000 -n 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    return 1
}

TOKEN=t$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
ROUTER_ID=10.255.0.7
UPLINK_MAC=52:54:00:00:0a:02
PEER=192.0.2.1:64500
rm -f "$T/id_test" "$T/id_test.pub"
ssh-keygen -q -t ed25519 -N '' -C appliance-test -f "$T/id_test"
printf 'UPLINK_INTERFACE=%s\nUPLINK_ADDRESS=192.0.2.2/30\nBGP_PEERS=%s\nBGP_LOCAL_ASN=64512\n' \
    "$UPLINK_MAC" "$PEER" >"$T/rampart.conf.cred"

# curl the API; prints "CODE BODY"
api() { # PORT PATH [TOKEN]
    local hdr=()
    [ -n "${3:-}" ] && hdr=(-H "Authorization: Bearer $3")
    curl -s -m 3 -o "$T/body" -w '%{http_code}' "${hdr[@]}" "http://127.0.0.1:$1$2" 2>/dev/null
    printf ' '
    cat "$T/body" 2>/dev/null
}

# boot NAME FIRMWARE(bios|uefi) IMAGE FORMAT EXTRA-CREDENTIAL-ARGS...
# Sets BOOT_S (seconds to a 200 from /v1/status with the token) or returns 1.
boot() {
    local name=$1 fw=$2 img=$3 fmt=$4
    shift 4
    local log=$T/$name.serial args start now code body
    API_PORT=$(free_port) SSH_PORT=$(free_port)
    rm -f "$log"
    # -cpu max: the gateway's route table needs POPCNT (x86-64-v2), which the
    # default qemu64 model lacks; every server CPU of the last 15 years has it.
    args=(-accel tcg -cpu max -m 1024 -smp 2 -display none -serial "file:$log" -monitor none -no-reboot
          -nic "user,restrict=on,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:$API_PORT-:8080,hostfwd=tcp:127.0.0.1:$SSH_PORT-:22"
          -smbios "type=11,value=io.systemd.credential:rampart.api_token=$TOKEN"
          -smbios "type=11,value=io.systemd.credential:rampart.hostname=$HOSTNAME_CRED"
          -fw_cfg "name=opt/io.systemd.credentials/rampart.bgp_router_id,string=$ROUTER_ID"
          -fw_cfg "name=opt/io.systemd.credentials/rampart.conf,file=$T/rampart.conf.cred"
          -fw_cfg "name=opt/io.systemd.credentials/rampart.ssh_key,file=$T/id_test.pub"
          "$@")
    if [ "$fw" = bios ]; then
        args+=(-machine pc -drive "file=$img,format=$fmt,if=virtio,snapshot=on"
               -nic "user,restrict=on,model=e1000,mac=$UPLINK_MAC")
    else
        cp /usr/share/OVMF/OVMF_VARS_4M.fd "$T/$name.vars.fd"
        args+=(-machine q35
               -drive "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"
               -drive "if=pflash,format=raw,unit=1,file=$T/$name.vars.fd"
               -drive "file=$img,format=$fmt,if=none,id=disk0,snapshot=on" -device ide-hd,drive=disk0,bus=ide.0
               -nic "user,restrict=on,model=virtio-net-pci,mac=$UPLINK_MAC")
    fi
    start=$(date +%s.%N)
    T_KERNEL="" T_INIT=""
    qemu-system-x86_64 "${args[@]}" >"$T/$name.qemu.log" 2>&1 &
    QPID=$!
    while :; do
        now=$(date +%s.%N)
        if ! kill -0 "$QPID" 2>/dev/null; then
            echo "  qemu exited early: $(tail -3 "$T/$name.qemu.log")"
            QPID=""
            return 1
        fi
        # milestones for the boot time breakdown (to the second: the loop's period)
        if [ -z "$T_KERNEL" ] && grep -aq "Linux version" "$log" 2>/dev/null; then
            T_KERNEL=$(awk -v a="$start" -v b="$now" 'BEGIN { printf "%.0f", b - a }')
        fi
        if [ -z "$T_INIT" ] && grep -aq "systemd 252" "$log" 2>/dev/null; then
            T_INIT=$(awk -v a="$start" -v b="$now" 'BEGIN { printf "%.0f", b - a }')
        fi
        if [ -f "$log" ] && tr -d '\r' <"$log" | grep -q "Kernel panic"; then
            echo "  kernel panic:"; tr -d '\r' <"$log" | grep -m3 -A2 "Kernel panic" | sed 's/^/    | /'
            return 1
        fi
        read -r code body < <(api "$API_PORT" /v1/status "$TOKEN")
        if [ "$code" = 200 ] && jq -e '.version and .store' "$T/body" >/dev/null 2>&1; then
            BOOT_S=$(awk -v a="$start" -v b="$now" 'BEGIN { printf "%.1f", b - a }')
            return 0
        fi
        if awk -v a="$start" -v b="$now" -v t="$BOOT_TIMEOUT" 'BEGIN { exit !(b - a > t) }'; then
            echo "  no API reply within $BOOT_TIMEOUT s (last: '$code'); serial log tail:"
            tail -15 "$log" | sed 's/^/    | /'
            return 1
        fi
        sleep 1
    done
}

wait_for() { # SECONDS COMMAND...: true once COMMAND succeeds
    local n=$1
    shift
    for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 1; done
    return 1
}

serial_has() { tr -d '\r' <"$LOG" | grep -qF -- "$1"; }

bird_ok() { # through the API: the gateway's report of BIRD
    api "$API_PORT" /v1/status "$TOKEN" >/dev/null
    jq -e --arg h "$HOSTNAME_CRED" --arg r "$ROUTER_ID" '
        [.gateways[]? | select(.host == $h or (.host | tostring | test($h)))] | length > 0 and
        all(.[]; .router_id == $r and (.bird_state | tostring | test("^(up|running|ready|established)"; "i")))' \
        "$T/body" >/dev/null 2>&1
}

ssh_ok() {
    ssh -q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o ConnectTimeout=10 -i "$T/id_test" -p "$SSH_PORT" root@127.0.0.1 "$@"
}

common_checks() {
    local code body
    read -r code body < <(api "$API_PORT" /v1/status "$TOKEN")
    check "GET /v1/status with the injected token: 200 JSON (store $(jq -r .store "$T/body" 2>/dev/null))" \
        test "$code" = 200
    read -r code body < <(api "$API_PORT" /v1/status)
    check "GET /v1/status without a token: 401 (got $code)" test "$code" = 401
    read -r code body < <(api "$API_PORT" /v1/status "wrong$TOKEN")
    check "GET /v1/status with a wrong token: 401 (got $code)" test "$code" = 401
    check "console: firstboot names the injected host and router id" \
        serial_has "rampart: host $HOSTNAME_CRED; uplink "
    check "console: firstboot used router id $ROUTER_ID" serial_has "router id $ROUTER_ID;"
    check "sshd: root logs in with the injected key (credential rampart.ssh_key)" \
        wait_for 30 ssh_ok true
    check "root has no password (locked)" \
        test "$(ssh_ok "passwd -S root | cut -d' ' -f2" 2>/dev/null)" = L
}

good_checks() {
    local code body
    check "console: no configuration error" bash -c "! tr -d '\r' <'$LOG' | grep -q 'CONFIGURATION ERROR'"
    check "the store holds host $HOSTNAME_CRED (rampart-seed)" \
        wait_for 60 bash -c "curl -sf -m 3 -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$API_PORT/v1/hosts/$HOSTNAME_CRED >/dev/null"
    check "the store holds BGP peer ${PEER%%:*} AS ${PEER#*:} on uplink-$HOSTNAME_CRED" \
        wait_for 30 bash -c "curl -sf -m 3 -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$API_PORT/v1/bgp_peers/$HOSTNAME_CRED-${PEER%%:*} | jq -e '.peer_asn == ${PEER#*:} and .local_asn == 64512' >/dev/null"
    check "rampart-gateway.service is active and not restarting" wait_for 30 bash -c "$(declare -f ssh_ok); T='$T' SSH_PORT=$SSH_PORT; ssh_ok 'systemctl is-active -q rampart-gateway && p=\$(systemctl show -p MainPID --value rampart-gateway) && sleep 6 && systemctl is-active -q rampart-gateway && [ \$p = \$(systemctl show -p MainPID --value rampart-gateway) ]'"
    # BIRD with the injected router id: from the API when the gateway reports it
    # (/v1/status "gateways"); the stand-in build (rampart-agent) reports nothing,
    # so then from the line its unit prints on the console.
    if [ "$FLAVOUR" = gateway ]; then
        check "API /v1/status gateways[]: BIRD running with router id $ROUTER_ID" wait_for 90 bird_ok
        if ! bird_ok; then
            jq -c '.gateways' "$T/body" 2>/dev/null | sed 's/^/    gateways: /'
            ssh_ok journalctl -b -u rampart-gateway -n 12 --no-pager -o cat 2>/dev/null | sed 's/^/    gateway log: /'
        fi
    else
        echo "  note  stand-in build (no rampart-gateway): BIRD checked on the console, not through the API"
        check "console: BIRD runs with router id $ROUTER_ID (stand-in)" \
            wait_for 60 serial_has "BIRD router id $ROUTER_ID daemon up and running"
    fi
}

declare -A BOOT_TIMES
for which in $ONLY; do
    case $which in
    bios)
        echo "== bios: $(basename "$RAW") on SeaBIOS"
        HOSTNAME_CRED=gw-bios LOG=$T/bios.serial
        if boot bios bios "$RAW" raw; then
            ok "boot to a serving API: ${BOOT_S} s (kernel at ~${T_KERNEL:-?} s, systemd at ~${T_INIT:-?} s)"
            BOOT_TIMES[bios]=$BOOT_S
            common_checks
            good_checks
            ssh_ok "systemd-analyze critical-chain rampart-api.service; systemd-analyze blame | head -8;
                    journalctl -b -o short-monotonic --no-pager -u rampart-api -u systemd-networkd |
                    grep -E 'serving on|DHCPv4 address|Gained carrier'" 2>/dev/null |
                sed 's/^/    info: /' 
        else
            bad "boot to a serving API within $BOOT_TIMEOUT s"
        fi
        stop_qemu;;
    uefi)
        echo "== uefi: $(basename "$QCOW") on OVMF, 4 GiB overlay"
        HOSTNAME_CRED=gw-uefi LOG=$T/uefi.serial
        rm -f "$T/uefi-overlay.qcow2"
        qemu-img create -q -f qcow2 -F qcow2 -b "$QCOW" "$T/uefi-overlay.qcow2" 4G
        if boot uefi uefi "$T/uefi-overlay.qcow2" qcow2; then
            ok "boot to a serving API: ${BOOT_S} s (kernel at ~${T_KERNEL:-?} s, systemd at ~${T_INIT:-?} s)"
            BOOT_TIMES[uefi]=$BOOT_S
            common_checks
            good_checks
            check "root filesystem grew to the 4 GiB disk (>= 3.5 GiB)" \
                test "$(ssh_ok "df -B1M --output=size / | tail -1" 2>/dev/null | tr -d ' ')" -ge 3500 2>/dev/null
            check "journald bounded (SystemMaxUse) and timesyncd enabled" \
                test "$(ssh_ok "systemd-analyze cat-config systemd/journald.conf | grep -c '^SystemMaxUse=200M'; systemctl is-enabled systemd-timesyncd" 2>/dev/null | paste -sd' ')" = "1 enabled"
        else
            bad "boot to a serving API within $BOOT_TIMEOUT s"
        fi
        stop_qemu;;
    bad)
        echo "== bad: $(basename "$RAW") on SeaBIOS with BGP_LOCAL_ASN=notanumber"
        HOSTNAME_CRED=gw-bad LOG=$T/bad.serial
        if boot bad bios "$RAW" raw -smbios "type=11,value=io.systemd.credential:rampart.bgp_local_asn=notanumber"; then
            ok "boot to a serving API with a bad setting: ${BOOT_S} s (kernel at ~${T_KERNEL:-?} s, systemd at ~${T_INIT:-?} s)"
            check "console: the error names BGP_LOCAL_ASN and the credential" \
                wait_for 10 serial_has "CONFIGURATION ERROR: BGP_LOCAL_ASN='notanumber' (from credential rampart.bgp_local_asn)"
            common_checks
            check "journal: the error is there too" \
                bash -c "$(declare -f ssh_ok); T='$T' SSH_PORT=$SSH_PORT; ssh_ok journalctl -b -t rampart-firstboot | grep -q 'CONFIGURATION ERROR: BGP_LOCAL_ASN'"
            check "the gateway stays stopped (condition)" \
                bash -c "$(declare -f ssh_ok); T='$T' SSH_PORT=$SSH_PORT; ! ssh_ok systemctl is-active -q rampart-gateway.service"
        else
            bad "boot to a serving API within $BOOT_TIMEOUT s with a bad setting"
        fi
        stop_qemu;;
    esac
done

echo "boot to a serving API (TCG, -m 1024 -smp 2): BIOS ${BOOT_TIMES[bios]:-n/a} s, UEFI ${BOOT_TIMES[uefi]:-n/a} s"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
