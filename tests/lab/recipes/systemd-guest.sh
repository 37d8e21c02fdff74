#!/bin/bash
# Recipe: the systemd lab guest (selected per VM with "guest": "systemd" in vms.json; the
# busybox guest stays the default). A Debian 12 root with systemd as PID 1 (systemd, udev,
# dbus, networkd, journald, openssh-server, iproute2, kmod, e2fsprogs, nix-bin), which each guest
# mounts read-only over virtiofs under a tmpfs overlay, and its stage 1 (systemd-guest/init
# with busybox and the kernel modules it needs). The kernel is the busybox guest's
# (recipes/guest.sh: the same Debian kernel package). Usage: systemd-guest.sh OUT. (Not named guest-*: `lab` prunes guest-<key> caches by that prefix.)
# Writes OUT/root/ and OUT/initrd.cpio (without a key: `lab up` appends it).
# Cache key: the hash of this file and of tests/lab/systemd-guest/*.
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")/.." && pwd)
mirror=${BO_LAB_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d /tmp/bo-lab-guest-systemd.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,udev,openssh-server,iproute2,kmod,e2fsprogs \
  bookworm "$out/root" "$mirror"
r=$out/root
# nix-bin with apt after debootstrap, as recipes/hv-root.sh installs it (in debootstrap's
# --include its perl dependencies failed to configure in a minbase root); apt in a private
# mount namespace so /proc and /dev never leak onto the host.
cp /etc/resolv.conf "$r/etc/resolv.conf"
unshare -m --propagation private /bin/bash -euo pipefail -c '
  r=$1
  mount -t proc proc "$r/proc"
  mount --rbind /dev "$r/dev"
  chroot "$r" apt-get update -q
  DEBIAN_FRONTEND=noninteractive chroot "$r" apt-get install -y -q --no-install-recommends nix-bin
  chroot "$r" apt-get clean
' _ "$r"
: >"$r/etc/resolv.conf"
# Per-VM identity is never baked into the shared root: no SSH host keys (made at the first
# boot, see the ssh drop-in), an empty machine-id (systemd makes a transient one).
rm -f "$r"/etc/ssh/ssh_host_*
: >"$r/etc/machine-id"
# No fstab: stage 1 mounts the var volume on /var (see systemd-guest/init).
: >"$r/etc/fstab"
chroot "$r" systemctl enable systemd-networkd.service systemd-network-generator.service >/dev/null
# What a microVM need not start (and what costs seconds under TCG).
chroot "$r" systemctl mask getty@tty1.service serial-getty@ttyS0.service apt-daily.timer \
  apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
  systemd-networkd-wait-online.service >/dev/null
# An ed25519 host key only, in the persistent /etc (/persist/etc, the VM directory's etc
# over virtiofs: guest.nix's services.openssh.hostKeys), made at boot if missing as sshd
# makes missing keys (microvm_install ssh_host_key makes it on the hypervisor beforehand;
# RSA keygen takes minutes under TCG).
mkdir -p "$r/etc/systemd/system/ssh.service.d"
cat >"$r/etc/systemd/system/ssh.service.d/bo-lab-host-keys.conf" <<'EOC'
[Service]
ExecStartPre=
ExecStartPre=/bin/sh -c 'test -e /persist/etc/ssh/ssh_host_ed25519_key || { mkdir -p -m 0755 /persist/etc/ssh && ssh-keygen -q -t ed25519 -N "" -f /persist/etc/ssh/ssh_host_ed25519_key; }'
ExecStartPre=/usr/sbin/sshd -t
EOC
# A persistent journal on /var (the VM's volume), as a NixOS guest with /var on a volume
# keeps it: the fresh volume has no /var/log/journal, so Storage=auto would stay volatile.
# It is the oracle of a clean stop (the journal files are closed, the next boot finds none
# "uncleanly shut down"). The machine-id it is filed under comes from the kernel command
# line (site/guest-systemd.nix), the same for every boot of a VM.
mkdir -p "$r/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=persistent\n' >"$r/etc/systemd/journald.conf.d/bo-lab.conf"
# Every SSH login is a new sshd under TCG; with PAM it also ran pam_systemd (a logind session
# and a systemd --user manager for root) and pam_motd (update-motd's scripts): over 5 s per
# login on a busy machine, so commands over SSH timed out in the banner exchange. The lab
# logs in with its key as root; nothing the tests check goes through PAM.
printf 'UsePAM no\nHostKey /persist/etc/ssh/ssh_host_ed25519_key\n' >"$r/etc/ssh/sshd_config.d/bo-lab.conf"
# nix in the guest, as a NixOS guest has it (Debian's nix-bin 2.8, root's local store on the
# hypervisor's /nix/store, shared read-only over 9p, tag ro-store, as microvm.nix shares it by
# default): the database is the overlay's (fresh every boot) and knows the booted system once
# bo-lab-system.service has loaded the runner's regInfo=; a switch loads the new system's
# (roles/microvm_deploy/tasks/apply.yml, microvm.nix's deploy.sshSwitch). No build users: the
# guest builds nothing.
mkdir -p "$r/etc/nix" "$r/nix/store"
printf 'build-users-group =\n' >"$r/etc/nix/nix.conf"
# Stage 2's part of NixOS's boot, reduced to the lab's guest system: what the runner boots is
# on the command line (bo.system=, as NixOS's init=<system>/init names it; regInfo=, microvm.nix's
# registerClosure). Load the registration (store-disk.nix's boot.postBootCommands at 71beea00:
# `nix-store --load-db < <regInfo>`), then activate the system (its switch-to-configuration test:
# its units installed and started), before sshd, so a guest that answers SSH runs its system.
install -m 0755 "$here/systemd-guest/bo-lab-system" "$r/usr/local/sbin/bo-lab-system"
cat >"$r/etc/systemd/system/bo-lab-system.service" <<'EOC'
[Unit]
Description=Activate the system the runner boots (bo.system=, regInfo=)
After=local-fs.target
Before=ssh.service multi-user.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/bo-lab-system

[Install]
WantedBy=multi-user.target
EOC
chroot "$r" systemctl enable bo-lab-system.service >/dev/null
rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin
# /etc is a fresh tmpfs overlay on every boot: without this stamp (newer than /usr)
# ConditionNeedsUpdate=/etc holds on every boot and ldconfig.service and
# systemd-hwdb-update.service (tens of seconds under TCG) run every time.
touch "$r/etc/.updated"

# Stage 1: busybox and the modules, from the kernel package of the busybox guest.
kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
kpkg=$(kernel_pkg)
if [ -z "$kpkg" ]; then apt-get update -qq; kpkg=$(kernel_pkg); fi
[ -n "$kpkg" ] || { echo "systemd-guest.sh: cannot find the kernel package behind linux-image-amd64" >&2; exit 1; }
(cd "$work" && apt-get download -q "$kpkg" >/dev/null)
dpkg-deb -x "$work"/"$kpkg"_*.deb "$work/k"
kver=${kpkg#linux-image-}
depmod -b "$work/k" "$kver"
i=$work/initrd
mkdir -p "$i"/{bin,sbin,usr/bin,usr/sbin,lib/modules,proc,sys,dev,run,tmp,etc,root,lower,rw,newroot}
cp /bin/busybox "$i/bin/busybox"
for a in $("$i/bin/busybox" --list-full); do
  [ -e "$i/$a" ] || ln -s /bin/busybox "$i/$a"
done
: >"$i/etc/modules.order"
for m in virtio_mmio virtio_net virtio_blk virtiofs overlay ext4 9pnet_virtio 9p; do
  modprobe -d "$work/k" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
  cp "$ko" "$i/lib/modules/"
  basename "$ko" >>"$i/etc/modules.order"
done
install -m 0755 "$here/systemd-guest/init" "$i/init"
(cd "$i" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$out/initrd.cpio"
echo "$kver" >"$out/kernel-version"
