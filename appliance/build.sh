#!/usr/bin/env bash
# appliance/build.sh: the bootable border appliance image (issue 8), from Debian
# packages and build/rel binaries, without loop devices or mounts:
#
#   1. base   debootstrap of appliance/packages.txt + appliance/base.sh into
#             build/appliance/rootfs-base; reused while the hash of those two
#             files (and the suite/mirror) is unchanged
#   2. root   a copy of the base + appliance/overlay + our binaries, made into an
#             ext4 filesystem with mkfs.ext4 -d, written straight into the image
#   3. ESP    FAT32 made with mkfs.vfat -C and filled with mtools: GRUB for UEFI
#             (removable path EFI/BOOT/BOOTX64.EFI) and the default rampart.conf
#   4. disk   GPT by sfdisk (bios_grub, ESP, root); GRUB i386-pc boot.img in the
#             MBR and core.img in the bios_grub partition, blocklists written here
#   5. qcow2  qemu-img convert -c
#
# Outputs: build/appliance/rampart-gateway.raw and rampart-gateway.qcow2.
# Installs the Debian packages it needs on the build host if missing (root).
# Environment: MIRROR (default http://deb.debian.org/debian), QCOW2_COMPRESSION
# (zlib: readable by any qemu; zstd: faster to build, needs qemu >= 5.1).
set -euo pipefail

cd "$(dirname "$0")/.."
SRC=$PWD/appliance
OUT=$PWD/build/appliance
SUITE=bookworm
MIRROR=${MIRROR:-http://deb.debian.org/debian}
QCOW2_COMPRESSION=${QCOW2_COMPRESSION:-zlib}
NAME=rampart-gateway
ESP_MIB=100
KERNEL_QUIET=${KERNEL_QUIET-quiet}   # KERNEL_QUIET= builds an image with all boot messages
BIOS_START=2048      # sectors; 1 MiB bios_grub partition for core.img
ESP_START=4096
ROOT_START=$((ESP_START + ESP_MIB * 2048))

T0=$(date +%s.%N)
step_t=$T0
step() { # print how long the previous step took, then name the next one
    local now
    now=$(date +%s.%N)
    awk -v a="$T0" -v b="$now" -v m="$1" 'BEGIN { printf "appliance: %-52s (%5.1f s so far)\n", m, b - a }'
    step_t=$now
}
die() { echo "appliance: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, file ownership in the image)"

# --- build host tools ----------------------------------------------------------------
need=()
for pair in debootstrap:debootstrap mkfs.vfat:dosfstools mcopy:mtools sfdisk:fdisk \
            mkfs.ext4:e2fsprogs qemu-img:qemu-utils grub-mkimage:grub-common \
            zstd:zstd; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
[ -f /usr/lib/grub/i386-pc/boot.img ] || need+=(grub-pc-bin)
[ -d /usr/lib/grub/x86_64-efi ] || need+=(grub-efi-amd64-bin)
if [ ${#need[@]} -gt 0 ]; then
    echo "appliance: installing build tools: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- our binaries ------------------------------------------------------------------------
GW=build/rel/rampart-gateway
FLAVOUR=gateway
if [ ! -x "$GW" ]; then
    GW=build/rel/rampart-agent
    FLAVOUR=agent-standin
    echo "appliance: WARNING: build/rel/rampart-gateway does not exist; rampart-agent stands in for it"
fi
for b in build/rel/rampart-api build/rel/rampartctl "$GW"; do
    [ -x "$b" ] || die "$b is missing: run 'make all' first"
done

mkdir -p "$OUT"

# Never delete a tree that still has something mounted inside (debootstrap and
# base.sh mount /proc in the target).
unmount_under() {
    local dir
    dir=$(realpath -m "$1")
    { findmnt -rno TARGET | grep -F "$dir/" | sort -r || true; } | while read -r m; do umount -l "$m" || true; done
    return 0
}
cleanup() {
    [ -d "$OUT/rootfs-base.new" ] && unmount_under "$OUT/rootfs-base.new"
    rm -f "$OUT/$NAME.raw.new" "$OUT/$NAME.qcow2.new" "$OUT/esp.img" "$OUT"/core.img "$OUT"/*.cfg.tmp
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. base root filesystem (cached) ----------------------------------------------------
PKGS=$(sed 's/#.*//' "$SRC/packages.txt" | tr -s ' \t' '\n' | grep . | sort -u | paste -sd,)
KEY=$( { echo "$SUITE $MIRROR"; echo "$PKGS"; cat "$SRC/base.sh"; } | sha256sum | cut -c1-16)
BASE=$OUT/rootfs-base
if [ -d "$BASE" ] && [ "$(cat "$OUT/rootfs-base.key" 2>/dev/null)" = "$KEY" ]; then
    step "base: reusing rootfs-base ($KEY)"
else
    step "base: debootstrap $SUITE ($KEY)"
    NEW=$OUT/rootfs-base.new
    unmount_under "$NEW"
    rm -rf "$NEW"
    mkdir -p "$OUT/debs"
    # INITRD=No: the kernel's postinst hook makes no initramfs now; base.sh makes
    # the one we want once modules are trimmed (one initramfs run instead of two).
    INITRD=No debootstrap --variant=minbase --cache-dir="$OUT/debs" --include="$PKGS" \
        "$SUITE" "$NEW" "$MIRROR" >"$OUT/debootstrap.log" 2>&1 ||
        { tail -20 "$OUT/debootstrap.log" >&2; die "debootstrap failed (log: $OUT/debootstrap.log)"; }
    unmount_under "$NEW"
    step "base: trim and initramfs (base.sh)"
    "$SRC/base.sh" "$NEW"
    unmount_under "$NEW"
    rm -rf "$BASE" "$OUT/rootfs-base.key"
    mv "$NEW" "$BASE"
    echo "$KEY" >"$OUT/rootfs-base.key"
fi
KVER=$(basename "$(ls -d "$BASE"/lib/modules/*/ | sort -V | tail -1)")
[ -f "$BASE/boot/vmlinuz-$KVER" ] && [ -f "$BASE/boot/initrd.img-$KVER" ] ||
    die "rootfs-base has no kernel/initramfs for $KVER; delete $BASE and rebuild"

# --- 2. the image's root: base + overlay + binaries ---------------------------------------
step "root: copy base, add overlay and binaries"
ROOT=$OUT/rootfs
rm -rf "$ROOT"
cp -a "$BASE" "$ROOT"
cp -a "$SRC/overlay/." "$ROOT/"
for b in build/rel/rampart-api build/rel/rampartctl; do
    objcopy --strip-debug "$b" "$ROOT/usr/bin/$(basename "$b")"
done
objcopy --strip-debug "$GW" "$ROOT/usr/bin/rampart-gateway"
chmod 755 "$ROOT"/usr/bin/rampart-api "$ROOT"/usr/bin/rampartctl "$ROOT"/usr/bin/rampart-gateway
echo "$FLAVOUR" >"$ROOT/usr/lib/rampart/flavour"
mkdir -p "$ROOT/usr/share/doc/rampart" "$ROOT/etc/issue.d" "$ROOT/boot/efi" "$ROOT/var/log/journal"
[ -f docs/appliance.md ] && cp docs/appliance.md "$ROOT/usr/share/doc/rampart/"
ln -sf /run/rampart/issue "$ROOT/etc/issue.d/rampart.issue"
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || REV="$REV+changes"
printf 'RAMPART_IMAGE_DATE=%s\nRAMPART_REVISION=%s\nRAMPART_GATEWAY=%s\nKERNEL=%s\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$REV" "$FLAVOUR" "$KVER" >"$ROOT/etc/rampart-release"
chroot "$ROOT" systemctl enable rampart-firstboot.service rampart-growroot.service \
    rampart-early.service rampart-api.service rampart-seed.service rampart-gateway.service rampart-ssh-hostkeys.service >/dev/null 2>&1
# Early module loads for things an appliance does not use (device mapper, loop
# devices, FUSE, a GPU before udev finds one): each is a process at boot.
chroot "$ROOT" systemctl mask modprobe@dm_mod.service modprobe@loop.service modprobe@fuse.service \
    modprobe@drm.service >/dev/null 2>&1

# An empty machine-id, not "uninitialized": systemd still makes one at the first
# boot, but does not take it for a first boot, whose "preset all units" costs
# 4-5 s under emulation and can do nothing here (the root is read-only then).
: >"$ROOT/etc/machine-id"
# /etc and /var are up to date with /usr (what systemd-update-done records):
# otherwise ConditionNeedsUpdate runs systemd-sysusers at the first boot, with
# nothing to do (debootstrap created the users), and udev waits for it.
usr_ns=$(stat -c %Y "$ROOT/usr")000000000
for d in etc var; do
    printf '# This file was created by rampart build.sh like systemd-update-done:\n# it holds the time of the last update of /usr (man:systemd-update-done.service(8)).\nTIMESTAMP_NSEC=%s\n' \
        "$usr_ns" >"$ROOT/$d/.updated"
    touch -r "$ROOT/usr" "$ROOT/$d/.updated"
done

ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)
ESP_ID=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ' | tr a-f A-F)
ESP_UUID="${ESP_ID:0:4}-${ESP_ID:4:4}"
cat >"$ROOT/etc/fstab" <<EOF
# <file system>          <mount point>  <type>  <options>                                    <dump> <pass>
UUID=$ROOT_UUID  /          ext4  rw,errors=remount-ro                                      0 1
UUID=$ESP_UUID             /boot/efi  vfat  umask=0077,nofail,x-systemd.device-timeout=45s   0 0
EOF
mkdir -p "$ROOT/boot/grub"
cat >"$ROOT/boot/grub/grub.cfg" <<EOF
# Rampart appliance. /vmlinuz and /initrd.img follow the newest installed kernel.
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
# No menu and no wait: Esc (or Shift held) while the machine starts shows the menu.
set timeout_style=hidden
set timeout=0
# quiet: the kernel's and systemd's boot messages are slow to print (serial port,
# and the framebuffer console under UEFI); errors and rampart's lines still show.
menuentry "Rampart border gateway" {
    linux /vmlinuz root=UUID=$ROOT_UUID ro console=tty0 console=ttyS0,115200n8 panic=30 $KERNEL_QUIET
    initrd /initrd.img
}
menuentry "Rampart border gateway (previous kernel)" {
    linux /vmlinuz.old root=UUID=$ROOT_UUID ro console=tty0 console=ttyS0,115200n8 panic=30 $KERNEL_QUIET
    initrd /initrd.img.old
}
EOF

# --- sizes and the GPT -------------------------------------------------------------------
used_mib=$(du -sxm "$ROOT" | cut -f1)
ROOT_MIB=$(( (used_mib * 5 / 4 + 256 + 63) / 64 * 64 ))   # grows to the disk at first boot
ROOT_SECTORS=$((ROOT_MIB * 2048))
TOTAL_SECTORS=$((ROOT_START + ROOT_SECTORS + 2048))
RAW=$OUT/$NAME.raw.new
rm -f "$RAW"
truncate -s $((TOTAL_SECTORS * 512)) "$RAW"
sfdisk --quiet "$RAW" <<EOF
label: gpt
unit: sectors
first-lba: 2048
start=$BIOS_START, size=2048, type=21686148-6449-6E6F-744E-656564454649, name="bios-boot"
start=$ESP_START, size=$((ESP_MIB * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="esp"
start=$ROOT_START, size=$ROOT_SECTORS, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name="root"
EOF

step "root: mkfs.ext4 -d ($used_mib MiB used, ${ROOT_MIB} MiB fs)"
# metadata_csum_seed and orphan_file are left off: GRUB 2.06 cannot read them.
mkfs.ext4 -q -F -t ext4 -L rampart-root -U "$ROOT_UUID" -b 4096 -m 1 \
    -O ^metadata_csum_seed,^orphan_file -E offset=$((ROOT_START * 512)) \
    -d "$ROOT" "$RAW" $((ROOT_SECTORS / 8))

# --- 3. GRUB images and the ESP ------------------------------------------------------------
step "boot: grub (i386-pc, x86_64-efi) and ESP"
cat >"$OUT/embed.cfg.tmp" <<EOF
search --no-floppy --fs-uuid --set=root $ROOT_UUID
set prefix=(\$root)/boot/grub
configfile (\$root)/boot/grub/grub.cfg
EOF
GRUB_MODS="part_gpt ext2 search search_fs_uuid normal configfile linux echo test serial terminal
           minicmd ls cat boot"
grub-mkimage -O i386-pc -o "$OUT/core.img" -p /boot/grub -c "$OUT/embed.cfg.tmp" \
    biosdisk $GRUB_MODS
grub-mkimage -O x86_64-efi -o "$OUT/bootx64.efi" -p /boot/grub -c "$OUT/embed.cfg.tmp" \
    fat efi_gop efi_uga $GRUB_MODS
core_sectors=$(( ($(stat -c %s "$OUT/core.img") + 511) / 512 ))
[ "$core_sectors" -le 2048 ] || die "core.img ($core_sectors sectors) does not fit the bios_grub partition"

rm -f "$OUT/esp.img"
mkfs.vfat -C -F 32 -n RAMPART-ESP -i "$ESP_ID" "$OUT/esp.img" $((ESP_MIB * 1024)) >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$OUT/esp.img" ::/EFI ::/EFI/BOOT
mcopy -i "$OUT/esp.img" "$OUT/bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$OUT/esp.img" "$SRC/rampart.conf" ::/rampart.conf
dd if="$OUT/esp.img" of="$RAW" bs=1M seek=$((ESP_START / 2048)) conv=notrunc,sparse status=none

# --- 4. BIOS boot code: what grub-bios-setup would do, on a file -------------------------------
le() { # VALUE BYTES: little-endian bytes of VALUE
    local v=$1 n=$2 i out=""
    for ((i = 0; i < n; i++)); do out+=$(printf '\\x%02x' $(((v >> (8 * i)) & 255))); done
    printf "$out"
}
# core.img at the start of bios_grub; its first sector (diskboot) loads the rest
# through the blocklist at its end: start (8 bytes), length (2), segment (2, kept).
dd if="$OUT/core.img" of="$RAW" bs=512 seek=$BIOS_START conv=notrunc status=none
le $((BIOS_START + 1)) 8 | dd of="$RAW" bs=1 seek=$((BIOS_START * 512 + 500)) conv=notrunc status=none
le $((core_sectors - 1)) 2 | dd of="$RAW" bs=1 seek=$((BIOS_START * 512 + 508)) conv=notrunc status=none
# boot.img's code (first 440 bytes, keeping the protective MBR's partition table),
# with the sector of core.img at 0x5c and the drive check jump at 0x66 replaced by
# two NOPs (buggy BIOSes pass a wrong boot drive), as grub-bios-setup does for disks.
dd if=/usr/lib/grub/i386-pc/boot.img of="$RAW" bs=440 count=1 conv=notrunc status=none
le $BIOS_START 8 | dd of="$RAW" bs=1 seek=$((0x5c)) conv=notrunc status=none
printf '\x90\x90' | dd of="$RAW" bs=1 seek=$((0x66)) conv=notrunc status=none

mv "$RAW" "$OUT/$NAME.raw"

# --- 5. qcow2 -----------------------------------------------------------------------------------
step "qcow2: qemu-img convert -c ($QCOW2_COMPRESSION)"
qemu-img convert -c -m 4 -W -O qcow2 -o compression_type="$QCOW2_COMPRESSION" \
    "$OUT/$NAME.raw" "$OUT/$NAME.qcow2.new"
mv "$OUT/$NAME.qcow2.new" "$OUT/$NAME.qcow2"
echo "$FLAVOUR" >"$OUT/flavour"
rm -f "$OUT/embed.cfg.tmp" "$OUT/bootx64.efi"

step "done"
raw_alloc=$(du -m "$OUT/$NAME.raw" | cut -f1)
printf 'appliance: %s.raw   %5d MiB (%d MiB allocated)\n' "$NAME" $(( $(stat -c %s "$OUT/$NAME.raw") >> 20 )) "$raw_alloc"
printf 'appliance: %s.qcow2 %5d MiB\n' "$NAME" $(( $(stat -c %s "$OUT/$NAME.qcow2") >> 20 ))
printf 'appliance: gateway binary: %s (%s), kernel %s, root UUID %s\n' "$GW" "$FLAVOUR" "$KVER" "$ROOT_UUID"
