#!/bin/bash
# Recipe: a pristine Debian 12 root, as a fresh machine has it before anyone ran the project.
# Usage: root.sh OUT. tests/fresh/check keys its cache on this file's sha256: edit it and the
# next run rebuilds. Nothing of the project's needs goes in here: that is .ci/deps's job.
set -euo pipefail
out=$1
mirror=${BO_FRESH_MIRROR:-http://deb.debian.org/debian}

debootstrap --variant=minbase bookworm "$out" "$mirror"
# The sources a Debian 12 installation writes (release, updates, security).
cat >"$out/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://security.debian.org/debian-security bookworm-security main
SOURCES
rm -rf "$out"/var/lib/apt/lists/* "$out"/var/cache/apt/archives/*.deb
echo bo-fresh >"$out/etc/hostname"
