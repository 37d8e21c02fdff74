#!/bin/bash
# Recipe: the lab guest. Debian's kernel and a busybox initramfs that stands in
# for a NixOS microVM (see tests/lab/README.md). Usage: guest.sh OUT.
# Writes OUT/vmlinux (the uncompressed kernel, booted by qemu through its PVH
# entry as microvm.nix boots kernel.dev/vmlinux: under TCG, decompressing a
# bzImage costs seconds), OUT/initrd.cpio (uncompressed for the same reason;
# without any SSH key: `lab up` appends a second cpio archive with the lab key)
# and OUT/kernel-version.
# Cache key: the hash of this file and of tests/lab/guest/*.
# Needs on the machine: apt-get (with lists), kmod, cpio, xz-utils, busybox-static, dropbear-bin.
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/bo-lab-guest.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The kernel of the running Debian release; apt-get download needs no install.
kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
kpkg=$(kernel_pkg)
if [ -z "$kpkg" ]; then # a machine whose package lists were never fetched
  apt-get update -qq
  kpkg=$(kernel_pkg)
fi
[ -n "$kpkg" ] || { echo "guest.sh: cannot find the kernel package behind linux-image-amd64" >&2; exit 1; }
(cd "$work" && apt-get download -q "$kpkg" >/dev/null)
dpkg-deb -x "$work"/"$kpkg"_*.deb "$work/k"
kver=${kpkg#linux-image-}
depmod -b "$work/k" "$kver"

mkdir -p "$out"
# Debian's bzImage is xz-compressed: the payload starts at the xz magic.
off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$work/k/boot/vmlinuz-$kver" | awk -F: 'NR == 1 { print $1 }')
[ -n "$off" ] || { echo "guest.sh: no xz payload in vmlinuz-$kver" >&2; exit 1; }
# (xz stops after the stream: tail would die of SIGPIPE in a pipeline)
xz -dc --single-stream < <(tail -c +$((off + 1)) "$work/k/boot/vmlinuz-$kver") >"$out/vmlinux"
echo "$kver" >"$out/kernel-version"

# The initramfs tree.
r=$work/root
mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc/dropbear,lib/modules,proc,sys,dev,run,tmp,var,nix/store,root/.ssh}
chmod 0700 "$r/root" "$r/root/.ssh"
chmod 1777 "$r/tmp"
cp /bin/busybox "$r/bin/busybox"
for a in $("$r/bin/busybox" --list-full); do
  [ -e "$r/$a" ] || ln -s /bin/busybox "$r/$a"
done

# Modules in load order (virtio first, then net, block, 9p for the shared
# store, virtiofs for the persistent /etc, ext4 for volumes), deduplicated.
: >"$r/etc/modules.order"
for m in virtio_mmio virtio_net virtio_blk 9pnet_virtio 9p virtiofs ext4; do
  modprobe -d "$work/k" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
  cp "$ko" "$r/lib/modules/"
  basename "$ko" >>"$r/etc/modules.order"
done

# dropbear, dropbearkey and dropbearconvert (the host key from the persistent /etc is in
# OpenSSH's format) and the libraries they link (glibc >= 2.34 has nss_files built in).
cp /usr/sbin/dropbear "$r/usr/sbin/dropbear"
cp /usr/bin/dropbearkey /usr/bin/dropbearconvert "$r/usr/bin/"
ldd /usr/sbin/dropbear /usr/bin/dropbearkey /usr/bin/dropbearconvert | sort -u | awk '/=>/ {print $3} /^\t\/lib/ {print $1}' | while read -r lib; do
  mkdir -p "$r$(dirname "$lib")"
  cp -L "$lib" "$r$lib"
done
mkdir -p "$r/lib64"
cp -L /lib64/ld-linux-x86-64.so.2 "$r/lib64/"

printf 'root::0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
printf 'root:x:0:\n' >"$r/etc/group"
printf '/bin/sh\n' >"$r/etc/shells"
install -m 0755 "$here/guest/init" "$r/init"
install -m 0644 "$here/guest/inittab" "$r/etc/inittab"

(cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$out/initrd.cpio"
