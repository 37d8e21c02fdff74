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
  mem = toString vm.mem;
  # What a lab microVM need not start (systemd-debug-generator masks them): under TCG each
  # unit costs about a second of the guest's one CPU (measured: systemd-analyze blame).
  # Kernel module loaders (virtio modules come from stage 1), pseudo file systems nothing
  # uses, utmp, the random seed (virtio-rng feeds the pool), sysctl and modules-load
  # (none configured), remount-fs (no fstab).
  masked = [
    "modprobe@configfs.service" "modprobe@dm_mod.service" "modprobe@drm.service"
    "modprobe@efi_pstore.service" "modprobe@fuse.service" "modprobe@loop.service"
    "dev-hugepages.mount" "dev-mqueue.mount" "sys-kernel-debug.mount" "sys-kernel-tracing.mount"
    "sys-fs-fuse-connections.mount" "sys-kernel-config.mount"
    "systemd-update-utmp.service" "systemd-update-utmp-runlevel.service"
    "systemd-random-seed.service" "systemd-sysctl.service" "systemd-modules-load.service"
    "systemd-remount-fs.service"
  ];
in
{
  machine = "microvm,acpi=on,memory-backend=mem";
  initrd = "${guestDir}/initrd-systemd";
  qemuArgs = [
    "-object" "memory-backend-memfd,id=mem,size=${mem}M,share=on"
    "-cpu" "qemu64" "-accel" "tcg,tb-size=64"
    "-global" "virtio-mmio.force-legacy=false"
    "-chardev" "socket,id=fs0,path=${share}"
    "-device" "vhost-user-fs-device,chardev=fs0,tag=guest-root"
  ];
  # systemd-network-generator reads ip= (a prefix length is accepted for the netmask).
  # systemd.machine_id= (systemd(1)): the same machine-id on every boot of this VM, so its
  # persistent journal on /var is one journal across boots (NixOS guests keep machine-id
  # in their persistent /etc; the lab guest's /etc is a fresh overlay on every boot).
  cmdline = [
    "ip=${vm.ip}::${gateway}:${prefix}::eth0:off"
    "systemd.hostname=${name}"
    "systemd.machine_id=${builtins.hashString "md5" "bo-lab-${name}"}"
  ] ++ map (u: "systemd.mask=${u}") masked;
  inherit share;
  # Run by microvm-virtiofsd@<vm> (Type=notify, NotifyAccess=all, as root, in the VM
  # directory): qemu 7.2's virtiofsd, its socket group kvm so that qemu (user microvm)
  # can connect; READY=1 once the socket is there (the sender stays a moment, so systemd
  # can tell which unit it belongs to).
  virtiofsdRun = ''
    #!/bin/bash
    set -eou pipefail
    rm -f ${quote share}
    /usr/lib/qemu/virtiofsd --socket-path=${quote share} --socket-group=kvm \
      -o source=/opt/bo-lab/guest-root -o cache=auto &
    pid=$!
    for _ in $(seq 1 300); do
      [ -S ${quote share} ] && break
      kill -0 "$pid" 2>/dev/null || { echo "virtiofsd-run: virtiofsd exited" >&2; exit 1; }
      sleep 0.1
    done
    [ -S ${quote share} ] || { echo "virtiofsd-run: no socket ${share} after 30 s" >&2; exit 1; }
    if [ -n "''${NOTIFY_SOCKET:-}" ]; then
      case $NOTIFY_SOCKET in
      @*) to=ABSTRACT-SENDTO:''${NOTIFY_SOCKET#@} ;;
      *) to=UNIX-SENDTO:$NOTIFY_SOCKET ;;
      esac
      (printf 'READY=1'; sleep 1) | socat -u - "$to"
    fi
    wait "$pid"
  '';
}
