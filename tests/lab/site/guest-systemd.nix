# The systemd guest of a VM with "guest": "systemd" in vms.json (the default is the busybox
# guest): what its runner does differently, as microvm.nix's qemu runner does for a guest
# with a virtiofs share (lib/runners/qemu.nix at 71beea00: -numa/memory-backend-memfd
# share=on, -chardev socket + vhost-user-fs-device per share; lib/runner.nix: bin/virtiofsd-run
# for the host's microvm-virtiofsd@ unit, Type=notify). Its one share is the lab's Debian
# root (recipes/systemd-guest.sh), bound read-only into each hypervisor at
# /opt/bo-lab/guest-root; stage 1 mounts it under a tmpfs overlay and starts systemd.
# Lab only: -cpu qemu64 and tb-size=64 (TCG: a systemd guest boots in about 31 s with
# qemu64 instead of 44-58 s with max on an idle machine; the default translation cache
# makes qemu's RSS about 1 GB).
{ name, vm, gateway, prefix, quote, guestDir }:
let
  share = "${name}-virtiofs-guest-root.sock"; # <hostName>-virtiofs-<tag>.sock, as upstream
  # What a lab microVM need not start (systemd-debug-generator masks them): under TCG each
  # unit costs about a second of the guest's one CPU (measured: systemd-analyze blame).
  # Kernel module loaders (virtio modules come from stage 1), pseudo file systems nothing
  # uses, utmp, the random seed (virtio-rng feeds the pool), sysctl and modules-load
  # (none configured), remount-fs (no fstab); logind and user-sessions (3.7 s and 1.2 s of a
  # boot: sshd runs without PAM, so no login goes through them; the lab logs in as root).
  masked = [
    "modprobe@configfs.service" "modprobe@dm_mod.service" "modprobe@drm.service"
    "modprobe@efi_pstore.service" "modprobe@fuse.service" "modprobe@loop.service"
    "dev-hugepages.mount" "dev-mqueue.mount" "sys-kernel-debug.mount" "sys-kernel-tracing.mount"
    "sys-fs-fuse-connections.mount" "sys-kernel-config.mount"
    "systemd-update-utmp.service" "systemd-update-utmp-runlevel.service"
    "systemd-random-seed.service" "systemd-sysctl.service" "systemd-modules-load.service"
    "systemd-remount-fs.service"
    "systemd-logind.service" "systemd-user-sessions.service"
  ];
in
{
  initrd = "${guestDir}/initrd-systemd";
  qemuArgs = [
    "-cpu" "qemu64" "-accel" "tcg,tb-size=64"
  ];
  # Its root, besides the persist-etc share every lab VM has (flake.nix: one virtiofsd
  # and one socket per share; the memfd memory backend is there for all of them).
  shares = [ { tag = "guest-root"; source = "/opt/bo-lab/guest-root"; socket = share; } ];
  # systemd-network-generator reads ip= (a prefix length is accepted for the netmask).
  # systemd.machine_id= (systemd(1)): the same machine-id on every boot of this VM, so its
  # persistent journal on /var is one journal across boots (NixOS guests keep machine-id
  # in their persistent /etc; the lab guest's /etc is a fresh overlay on every boot).
  cmdline = [
    "ip=${vm.ip}::${gateway}:${prefix}::eth0:off"
    "systemd.hostname=${name}"
    "systemd.machine_id=${builtins.hashString "md5" "bo-lab-${name}"}"
  ] ++ map (u: "systemd.mask=${u}") masked;
}
