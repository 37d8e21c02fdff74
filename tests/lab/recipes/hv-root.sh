#!/bin/bash
# Recipe: the bookworm root every lab hypervisor boots (read-only lower layer).
# Usage: hv-root.sh OUT. The lab keys its cache on this file's hash: edit it and
# the next `lab up` rebuilds. Per-host files (units, networkd, keys) are NOT
# here: `lab up` lays them into each host's writable layer.
# No Python (xfsprogs pulls it in; its interpreters are diverted away), as on
# a NixOS host that does not install it: bo.microvm's modules are Go binaries
# and the playbooks gather no facts. zstd, as on NixOS (a core package: nixpkgs
# 0354e8b7 nixos/modules/config/system-path.nix corePackageNames): the fast path's
# first task on a host sends zstd where the host has it.
set -euo pipefail
out=$1
mirror=${BO_LAB_MIRROR:-http://deb.debian.org/debian}

debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,openssh-server,iproute2,e2fsprogs \
  bookworm "$out" "$mirror"

cp /etc/resolv.conf "$out/etc/resolv.conf"
# apt in a private mount namespace so /proc and /dev never leak onto the host.
unshare -m --propagation private /bin/bash -euo pipefail -c '
  out=$1
  mount -t proc proc "$out/proc"
  mount --rbind /dev "$out/dev"
  chroot "$out" apt-get update -q
  DEBIAN_FRONTEND=noninteractive chroot "$out" apt-get install -y -q --no-install-recommends \
    xfsprogs btrfs-progs nix-bin qemu-system-x86 socat procps kmod zstd
  chroot "$out" apt-get clean
  # xfsprogs depends on python3; divert its interpreters away so Ansible finds
  # none, as on a NixOS host without Python.
  for py in /usr/bin/python3.11 /usr/bin/python3; do
    chroot "$out" dpkg-divert --quiet --local --rename --divert "$py.no-python-on-nixos" --add "$py"
  done
' _ "$out"
rm -rf "$out"/var/lib/apt/lists/* "$out/etc/resolv.conf"
: >"$out/etc/resolv.conf"
