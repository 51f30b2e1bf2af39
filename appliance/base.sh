#!/usr/bin/env bash
# appliance/base.sh ROOT: turn a fresh debootstrap of appliance/packages.txt into
# the cached base root filesystem (build/appliance/rootfs-base). Everything here
# is independent of our binaries; build.sh keys the cache on a hash of this file
# and packages.txt, so editing either redoes debootstrap.
#
# Runs as root on the build host, without mounts other than the /proc that
# update-initramfs needs inside the chroot (unmounted again on exit).
set -euo pipefail

ROOT=${1:?usage: base.sh ROOT}
[ -d "$ROOT/etc" ] || { echo "base.sh: $ROOT is not a root filesystem" >&2; exit 1; }

KVER=$(basename "$(ls -d "$ROOT"/lib/modules/*/ | sort -V | tail -1)")
MODDIR=$ROOT/lib/modules/$KVER/kernel

# --- kernel modules: keep NICs, storage, netfilter, filesystems we use ---------------
# Dropped: sound, cameras/TV, wireless, bluetooth, GPUs with big firmware-dependent
# drivers (BMC VGA such as ast/mgag200 and simpledrm stay), InfiniBand verbs (the
# mlx4/mlx5 Ethernet drivers are under drivers/net and stay), staging, industrial
# I/O, and filesystems an appliance never mounts.
for d in sound drivers/media drivers/net/wireless drivers/bluetooth net/bluetooth \
         net/mac80211 net/wireless drivers/gpu/drm/amd drivers/gpu/drm/radeon \
         drivers/gpu/drm/nouveau drivers/gpu/drm/i915 drivers/staging drivers/infiniband \
         drivers/iio drivers/isdn drivers/net/can net/can drivers/net/wwan \
         drivers/net/ieee802154 net/ieee802154 drivers/net/hamradio drivers/usb/gadget \
         drivers/nfc net/nfc drivers/input/touchscreen drivers/input/joystick \
         drivers/input/tablet drivers/input/misc drivers/hid/intel-ish-hid \
         net/6lowpan net/rxrpc drivers/w1 drivers/mtd drivers/leds drivers/comedi \
         fs/btrfs fs/xfs fs/ocfs2 fs/gfs2 fs/ntfs3 fs/f2fs fs/reiserfs fs/jfs \
         fs/nilfs2 fs/ubifs fs/smb fs/cifs fs/ceph fs/orangefs fs/coda fs/afs \
         fs/ubifs fs/hfsplus fs/hfs fs/udf fs/ufs fs/erofs fs/dlm fs/nfsd; do
    rm -rf "${MODDIR:?}/$d"
done
chroot "$ROOT" depmod "$KVER"

# --- initramfs: the drivers needed to reach the root filesystem ---------------------
# MODULES=list with the disk controllers servers and hypervisors boot from, instead
# of MODULES=most: mkinitramfs takes seconds instead of minutes, and the initramfs
# is far smaller. Everything else (NICs included) loads from the root filesystem.
mkdir -p "$ROOT/etc/initramfs-tools/conf.d"
cat >"$ROOT/etc/initramfs-tools/conf.d/rampart.conf" <<'EOF'
MODULES=list
COMPRESS=zstd
RESUME=none
EOF
# Added to the image only (udev loads what the hardware needs by modalias, the
# kernel asks for ext4 itself): listing them in /etc/initramfs-tools/modules would
# load every one at boot, which costs more than ten seconds under emulation.
mkdir -p "$ROOT/etc/initramfs-tools/hooks"
cat >"$ROOT/etc/initramfs-tools/hooks/rampart-storage" <<'EOF'
#!/bin/sh
# rampart appliance: the root filesystem and the disk controllers it may sit behind
[ "$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
manual_add_modules ext4 crc32c_generic crc32c_intel \
    virtio_pci virtio_blk virtio_scsi vmw_pvscsi hv_vmbus hv_storvsc xen_blkfront \
    ahci ata_piix ata_generic pata_acpi nvme sd_mod \
    mpt3sas megaraid_sas mpi3mr hpsa smartpqi aacraid \
    xhci_pci ehci_pci ohci_pci uhci_hcd usb_storage uas usbhid hid_generic \
    mmc_block sdhci_pci sdhci_acpi
EOF
chmod 755 "$ROOT/etc/initramfs-tools/hooks/rampart-storage"
# Never used on a server; probing them costs seconds under emulation.
printf 'blacklist floppy\nblacklist parport_pc\nblacklist pcspkr\n' >"$ROOT/etc/modprobe.d/rampart.conf"

# --- no docs, man pages or locales, now or after a later apt-get install -------------
mkdir -p "$ROOT/etc/dpkg/dpkg.cfg.d"
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/01-rampart-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/bug/*
EOF
find "$ROOT/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
find "$ROOT/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/usr/share/lintian \
       "$ROOT"/usr/share/bug
find "$ROOT/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true

# --- regenerate the initramfs for the trimmed module tree ---------------------------
mount -t proc proc "$ROOT/proc"
trap 'umount "$ROOT/proc" 2>/dev/null || true' EXIT
rm -f "$ROOT"/boot/initrd.img-*
chroot "$ROOT" update-initramfs -c -k "$KVER" >/dev/null
# GRUB boots /vmlinuz and /initrd.img; the kernel's postinst made no initrd link
# (INITRD=No during debootstrap)
ln -sfn "boot/initrd.img-$KVER" "$ROOT/initrd.img"
ln -sfn "boot/initrd.img-$KVER" "$ROOT/initrd.img.old"
ln -sfn "boot/vmlinuz-$KVER" "$ROOT/vmlinuz"
ln -sfn "boot/vmlinuz-$KVER" "$ROOT/vmlinuz.old"
umount "$ROOT/proc"
trap - EXIT

# --- identity that must differ per machine: made at first boot ----------------------
printf 'uninitialized\n' >"$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id"
ln -sf /etc/machine-id "$ROOT/var/lib/dbus/machine-id"
rm -f "$ROOT"/etc/ssh/ssh_host_*
rm -f "$ROOT/var/lib/systemd/random-seed"

# --- accounts: root locked, no password anywhere ------------------------------------
chroot "$ROOT" usermod -p '!' root
chroot "$ROOT" passwd -l root >/dev/null

# --- services -------------------------------------------------------------------------
# BIRD runs as rampart-gateway's child, never as its own service.
systemctl --root="$ROOT" mask bird.service >/dev/null 2>&1
systemctl --root="$ROOT" enable systemd-networkd.service systemd-resolved.service \
    systemd-timesyncd.service ssh.service >/dev/null 2>&1
# Nothing here needs network-online.target; do not let a cable-less port delay boot.
systemctl --root="$ROOT" disable systemd-networkd-wait-online.service >/dev/null 2>&1 || true
systemctl --root="$ROOT" mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
    e2scrub_reap.service >/dev/null 2>&1 || true
ln -sf ../run/systemd/resolve/stub-resolv.conf "$ROOT/etc/resolv.conf"

# --- caches and logs from the build -------------------------------------------------
rm -rf "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb \
       "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/log/*.log "$ROOT"/var/log/apt/* \
       "$ROOT"/var/cache/debconf/*-old "$ROOT"/var/lib/dpkg/*-old "$ROOT"/tmp/*
mkdir -p "$ROOT/var/lib/apt/lists/partial"
printf 'deb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    >"$ROOT/etc/apt/sources.list"
