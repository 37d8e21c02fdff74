#!/bin/bash
# Recipe: the Debian 13 (trixie) root that holds the ansible-core 2.19 controller
# and ansible-lint. Usage: controller.sh OUT. `tests/lab/controller 2.19 ...`
# chroots into it. Cache key: this file's hash.
set -euo pipefail
out=$1
mirror=${BO_LAB_MIRROR:-http://deb.debian.org/debian}

# --include=ansible-core fails (virtual dependency of python3-cryptography), so
# install it with apt afterwards.
debootstrap --variant=minbase trixie "$out" "$mirror"
cp /etc/resolv.conf "$out/etc/resolv.conf"
unshare -m --propagation private /bin/bash -euo pipefail -c '
  out=$1
  mount -t proc proc "$out/proc"
  mount --rbind /dev "$out/dev"
  chroot "$out" apt-get update -q
  DEBIAN_FRONTEND=noninteractive chroot "$out" apt-get install -y -q --no-install-recommends \
    ansible-core ansible-lint openssh-client zstd
  chroot "$out" apt-get clean
' _ "$out"
rm -rf "$out"/var/lib/apt/lists/*
