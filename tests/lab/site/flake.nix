# The lab's site flake (a fixture; no nixpkgs). `lab up` copies this directory
# to /srv/site on every hypervisor. One nixosConfigurations.<vm> per entry of
# vms.json, shaped like microvm.nix's: config.microvm.declaredRunner is a
# runner with microvm.nix's layout (bin/microvm-run, bin/microvm-shutdown,
# bin/tap-up, bin/tap-down, share/microvm/{tap-interfaces,tap-flags,system,
# hypervisor}) and config.system.build.toplevel is the guest "system", which
# the guest sees through the 9p-shared /nix/store and can switch to in place.
# Builders are the hypervisor's /bin/sh (nix.conf there: sandbox = false).
{
  description = "bo.microvm lab site flake: microvm.nix-shaped runners for lab guests";

  outputs = { self }:
    let
      system = "x86_64-linux";
      vms = builtins.fromJSON (builtins.readFile ./vms.json);

      # Fixed by the lab (tests/lab/lab): where the guest kernel and initramfs
      # are mounted in each hypervisor; network.json (written by `lab up`)
      # says the lab network's gateway and prefix.
      guestDir = "/opt/bo-lab/guest";
      network = if builtins.pathExists ./network.json
        then builtins.fromJSON (builtins.readFile ./network.json)
        else { gateway = "198.18.0.1"; prefix = 24; };
      gateway = network.gateway;
      # The evaluation cost model (cost.nix): none unless `lab up` wrote cost.json.
      cost = import ./cost.nix (if builtins.pathExists ./cost.json
        then builtins.fromJSON (builtins.readFile ./cost.json)
        else { });

      # host.json (written by `lab up` per hypervisor, from BO_LAB_SHUTDOWN_WAIT): which
      # microvm.nix revision's qemu microvm-shutdown this hypervisor's runners get.
      hostSettings = if builtins.pathExists ./host.json
        then builtins.fromJSON (builtins.readFile ./host.json)
        else { };

      # qemu's bin/microvm-shutdown (lib/runners/qemu.nix, shutdownCommand; a writeShellScript,
      # so no set -e): QMP qmp_capabilities, then Ctrl-Alt-Del as input-send-event (-device
      # i8042); the guest reboots and -no-reboot makes qemu exit.
      # "71beea00" (microvm.nix main at 71beea0076cd, the default): after the two commands
      # it waits with a bare `cat` in the pipe to socat; under systemd stdin is /dev/null,
      # so it returns about a second after the key press and systemd SIGTERMs qemu: every
      # `systemctl stop` is a hard kill of the guest.
      # "pr578" (commit c140208, PR #578, not on main at 71beea00): instead polls the QMP
      # socket until qemu stops accepting connections, unbounded as upstream (systemd's
      # TimeoutStopSec=150 is the backstop); the guest shuts down cleanly.
      shutdownScript = let
        key = k: ''{"type":"key","data":{"down":true,"key":{"type":"qcode","data":"'' + k + ''"}}}'';
        send = socket: ''
          if [ ! -S ${quote socket} ]; then
            exit 0
          fi
        '' ;
        qmp = join "," [ (key "ctrl") (key "alt") (key "delete") ];
        commands = ''
            echo '{"execute":"qmp_capabilities"}'
            echo '{"execute":"input-send-event","arguments":{"events":[${qmp}]}}'
        '';
      in {
        "71beea00" = socket: ''
          #!/bin/bash
          ${send socket}
          (
          ${commands}
            cat
          ) | socat STDIO UNIX:${quote socket},shut-none
        '';
        "pr578" = socket: ''
          #!/bin/bash
          ${send socket}
          (
          ${commands}
          ) | socat STDIO UNIX:${quote socket},shut-none
          while socat -u OPEN:/dev/null UNIX-CONNECT:${quote socket} 2>/dev/null; do
            sleep 1
          done
        '';
      };

      prefix = str network.prefix;
      qemu = "/usr/bin/qemu-system-x86_64";

      str = v: if builtins.isString v then v else toString v;
      join = builtins.concatStringsSep;
      quote = s: "'" + s + "'";
      letters = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" ];

      mkDerivation = name: env: script: derivation ({
        inherit name system;
        builder = "/bin/sh";
        args = [ "-c" script ];
        PATH = "/usr/sbin:/usr/bin:/sbin:/bin";
      } // env);

      defaults = { vcpu = 1; mem = 256; volumes = [ ]; generation = "1"; broken = false; guest = "busybox"; };

      # The guest system: activation records the generation in the guest's /run.
      toplevel = name: vm: mkDerivation "nixos-system-${name}-${str vm.generation}" {
        hostName = name;
        generation = str vm.generation;
        ip = vm.ip;
      } ''
        set -e
        mkdir -p "$out/bin"
        printf '%s\n' "$generation" >"$out/generation"
        printf 'lab-%s\n' "$generation" >"$out/nixos-version"
        cat >"$out/activate" <<EOS
        #!/bin/sh
        # Activate generation $generation of $hostName: what NixOS's activation
        # does, reduced to recording which system is live.
        ln -sfn $out /run/current-system
        echo $generation >/run/bo-generation
        echo "activated generation $generation ($out)"
        EOS
        cat >"$out/init" <<EOS
        #!/bin/sh
        exec $out/activate
        EOS
        cat >"$out/bin/switch-to-configuration" <<EOS
        #!/bin/sh
        # switch-to-configuration of a lab guest: switch and test activate
        # generation $generation in place (no reboot); boot has nothing to do.
        case "\$1" in
        switch | test) exec $out/activate ;;
        boot) echo "switch-to-configuration boot: nothing to do in a lab guest" ;;
        dry-activate) echo "would activate generation $generation ($out)" ;;
        *) echo "usage: switch-to-configuration switch|boot|test|dry-activate" >&2; exit 1 ;;
        esac
        EOS
        chmod 0755 "$out/activate" "$out/init" "$out/bin/switch-to-configuration"
      '';

      # The guest system of a systemd guest (system-systemd.nix: units and a switch that
      # restarts them, and its closure registration); the busybox guest's is toplevel's.
      systemdSystem = name: vm: import ./system-systemd.nix { inherit name vm mkDerivation str; };
      systemOf = name: vm: if vm.guest == "systemd" then (systemdSystem name vm).toplevel else toplevel name vm;

      runner = name: vm0:
        let
          vm = defaults // vm0;
          sys = systemOf name vm;
          tap = "vm-${name}";
          multiQueue = vm.vcpu > 1;
          socket = "${name}.sock";
          vols = builtins.genList (i: (builtins.elemAt vm.volumes i) // { letter = builtins.elemAt letters i; })
            (builtins.length vm.volumes);
          # fs_type "none": a raw disk microvm.nix does not create (autoCreate
          # false); microvm_volume makes it before the first start.
          autoVols = builtins.filter (v: (v.fs_type or "ext4") != "none") vols;
          mounted = builtins.filter (v: (v.label or null) != null && (v.mount or null) != null) autoVols;

          fs = v: v.fs_type or "ext4";
          createVolume = v: ''
            if [ ! -e ${quote v.path} ]; then
              touch ${quote v.path}
              chattr +C ${quote v.path} 2>/dev/null || true
              truncate -s ${str v.size}M ${quote v.path}
              mkfs.${fs v} ${if (v.label or null) != null then "${if fs v == "vfat" then "-n" else "-L"} ${quote v.label}" else ""} ${quote v.path}
            fi
          '';

          # "guest": "systemd" (guest-systemd.nix) or the busybox guest.
          sd = if vm.guest == "systemd"
            then import ./guest-systemd.nix { inherit name vm gateway prefix quote guestDir; }
            else null;

          # virtiofs shares, as guest.nix declares them (persist-etc: the VM directory's etc,
          # the guest's persistent /etc with its SSH host key, on every lab VM) plus the
          # systemd guest's root. One virtiofsd per share, each with its own socket
          # <hostName>-virtiofs-<tag>.sock, as microvm.nix's bin/virtiofsd-run starts one
          # supervisord program per share (lib/runner.nix, lib/runners/qemu.nix at 71beea00).
          shares = (if sd != null then sd.shares else [ ]) ++ [
            { tag = "persist-etc"; source = "etc"; socket = "${name}-virtiofs-persist-etc.sock"; }
          ];
          shareArgs = builtins.concatLists (builtins.genList (i: let s = builtins.elemAt shares i; in [
            "-chardev" "socket,id=fs${str (i + 1)},path=${s.socket}"
            "-device" "vhost-user-fs-device,chardev=fs${str (i + 1)},tag=${s.tag}"
          ]) (builtins.length shares));
          # bin/virtiofsd-run, run by microvm-virtiofsd@<vm> (Type=notify, NotifyAccess=all,
          # as root, in the VM directory): qemu 7.2's virtiofsd once per share, each socket in
          # group kvm so that qemu (user microvm) can connect; READY=1 once every socket is
          # there and listening (the sender stays a moment, so systemd can tell which unit it
          # belongs to). "There" is not enough: qemu 7.2's virtiofsd binds the socket (root's
          # group), then chowns it to --socket-group, then listens (fv_create_listen_socket,
          # tools/virtiofsd/fuse_virtio.c), so a qemu started on the bare socket can get EACCES
          # or ECONNREFUSED and exit; a listening socket (flag __SO_ACCEPTCON, 00010000, in
          # /proc/net/unix) has its group already;
          # the first daemon to exit ends the others and the unit (Restart=always), as
          # supervisord's programs do not outlive it. The relative source etc is made first,
          # as guest.nix's binScripts.virtiofsd-run mkBefore does (virtiofsd refuses a missing
          # directory).
          virtiofsdRun = ''
            #!/bin/bash
            set -eou pipefail
            mkdir -p etc
            pids=()
            trap 'kill "''${pids[@]}" 2>/dev/null || true' TERM INT
            ${join "" (map (s: ''
            rm -f ${quote s.socket}
            /usr/lib/qemu/virtiofsd --socket-path=${quote s.socket} --socket-group=kvm \
              -o source="$(realpath ${quote s.source})" -o cache=auto &
            pids+=($!)
            '') shares)}
            listening() { awk -v p="$1" '$4 == "00010000" && $8 == p { f = 1 } END { exit !f }' /proc/net/unix; }
            for sock in ${join " " (map (s: quote s.socket) shares)}; do
              for _ in $(seq 1 300); do
                [ -S "$sock" ] && listening "$sock" && break
                for p in "''${pids[@]}"; do
                  kill -0 "$p" 2>/dev/null || { echo "virtiofsd-run: a virtiofsd exited before $sock was there" >&2; kill "''${pids[@]}" 2>/dev/null; exit 1; }
                done
                sleep 0.1
              done
              [ -S "$sock" ] && listening "$sock" || { echo "virtiofsd-run: no listening socket $sock after 30 s" >&2; kill "''${pids[@]}" 2>/dev/null; exit 1; }
            done
            if [ -n "''${NOTIFY_SOCKET:-}" ]; then
              case $NOTIFY_SOCKET in
              @*) to=ABSTRACT-SENDTO:''${NOTIFY_SOCKET#@} ;;
              *) to=UNIX-SENDTO:$NOTIFY_SOCKET ;;
              esac
              (printf 'READY=1'; sleep 1) | socat -u - "$to"
            fi
            rc=0
            wait -n "''${pids[@]}" || rc=$?
            kill "''${pids[@]}" 2>/dev/null || true
            wait || true
            exit "$rc"
          '';

          cmdline = join " " ([
            "console=ttyS0" "reboot=t" "panic=-1" "quiet" "8250.nr_uarts=1" "tsc=reliable"
          ] ++ (if sd != null then sd.cmdline ++ [
            "bo.system=${sys}" "regInfo=${(systemdSystem name vm).registration}"
          ] else [
            "init=${sys}/init"
            "bo.ip=${vm.ip}/${prefix}" "bo.gw=${gateway}" "bo.hostname=${name}"
          ]) ++ (if mounted == [ ] || sd != null then [ ] else [
            ("bo.mounts=" + join "," (map (v: "${v.label}:${v.mount}") mounted))
          ]));

          qemuArgs = [
            qemu "-name" name
            # memory-backend: vhost-user-fs needs the guest's memory in a shared memfd
            # (lib/runners/qemu.nix: memory-backend-memfd share=on with virtiofs shares).
            "-M" "microvm,acpi=on,memory-backend=mem"
            "-m" (str vm.mem) "-smp" (str vm.vcpu)
            "-nodefaults" "-no-user-config" "-display" "none"
            "-no-reboot"
            "-chardev" "stdio,id=con0,signal=off" "-serial" "chardev:con0"
            "-device" "i8042"
            "-device" "virtio-rng-device"
            "-kernel" "${guestDir}/vmlinux" "-initrd" (if sd != null then sd.initrd else "${guestDir}/initrd")
            "-qmp" "unix:${socket},server,nowait"
            "-fsdev" "local,id=fs0,path=/nix/store,security_model=none,readonly=on"
            "-device" "virtio-9p-device,fsdev=fs0,mount_tag=ro-store"
            "-object" "memory-backend-memfd,id=mem,size=${str vm.mem}M,share=on"
            "-global" "virtio-mmio.force-legacy=false"
          ] ++ shareArgs ++ (if sd != null then sd.qemuArgs else [ ]) ++ builtins.concatMap (v: [
            "-drive" "id=vd${v.letter},format=raw,file=${v.path},if=none,aio=threads,discard=unmap"
            "-device" "virtio-blk-device,drive=vd${v.letter}"
          ]) vols ++ [
            "-netdev" ("tap,id=${tap},ifname=${tap},script=no,downscript=no"
              + (if multiQueue then ",queues=${str vm.vcpu}" else ""))
            "-device" ("virtio-net-device,netdev=${tap},mac=${vm.mac}")
          ];

          # Lab only: tsc_early_khz. Under TCG on a busy machine the guest
          # kernel fails to calibrate its TSC against the PIT and then hangs;
          # qemu's TCG TSC runs at the host's rate, so tell the guest that.
          microvmRun = ''
            #!/bin/bash
            set -eou pipefail
            ${join "" (map createVolume autoVols)}
            append=${quote cmdline}
            khz=$(awk '/^cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo)
            if [ -n "$khz" ]; then append="$append tsc_early_khz=$khz"; fi
            exec -a "microvm@${name}" ${join " " (map quote qemuArgs)} -append "$append"
          '';

          microvmShutdown = shutdownScript.${hostSettings.microvm_shutdown or "71beea00"} socket;

          tapUp = ''
            #!/bin/bash
            set -eou pipefail
            if [ -e /sys/class/net/${tap} ]; then
              ip link delete ${quote tap}
            fi
            ip tuntap add name ${quote tap} mode tap user microvm vnet_hdr${if multiQueue then " multi_queue" else ""}
            ip link set ${quote tap} up
          '';

          virtiofsInstall = "\n" + ''
            printf '%s' "$virtiofsdRun" >"$out/bin/virtiofsd-run"'' + join "" (map (s: "\n" + ''
            mkdir -p "$out/share/microvm/virtiofs/${s.tag}"
            printf '%s\n' ${quote s.socket} >"$out/share/microvm/virtiofs/${s.tag}/socket"
            printf '%s\n' ${quote s.source} >"$out/share/microvm/virtiofs/${s.tag}/source"'') shares);

          tapDown = ''
            #!/bin/bash
            ip link delete ${quote tap}
          '';
        in
        mkDerivation "microvm-qemu-${name}" ({
          inherit microvmRun microvmShutdown tapUp tapDown;
          toplevel = sys;
          broken = vm.broken;
          vmName = name;
          tapInterfaces = tap + "\n";
          tapFlags = "vnet_hdr\n" + (if multiQueue then "multi_queue\n" else "");
          inherit virtiofsdRun;
        }) ''
          set -e
          if [ -n "$broken" ]; then
            echo "error: lab fixture: VM $vmName is marked broken (broken = true in /srv/site/vms.json); this build fails on purpose" >&2
            exit 1
          fi
          mkdir -p "$out/bin" "$out/share/microvm"
          printf '%s' "$microvmRun" >"$out/bin/microvm-run"
          printf '%s' "$microvmShutdown" >"$out/bin/microvm-shutdown"
          printf '%s' "$tapUp" >"$out/bin/tap-up"
          printf '%s' "$tapDown" >"$out/bin/tap-down"${virtiofsInstall}
          chmod 0755 "$out"/bin/*
          printf '%s' "$tapInterfaces" >"$out/share/microvm/tap-interfaces"
          printf '%s' "$tapFlags" >"$out/share/microvm/tap-flags"
          printf 'qemu\n' >"$out/share/microvm/hypervisor"
          ln -s "$toplevel" "$out/share/microvm/system"
        '';
    in
    {
      # Forcing nixosConfigurations pays the shared cost once; forcing a VM's
      # runner pays its own, which its config keeps in memory as a NixOS
      # system's values are kept. Neither changes any derivation.
      nixosConfigurations = builtins.seq cost.shared (builtins.mapAttrs
        (name: vm0:
          let vm = defaults // vm0; evalCost = cost.perVM name; in {
            config = {
              _module.boLabEvalCost = evalCost;
              networking.hostName = name;
              system.build.toplevel = systemOf name vm;
              microvm = {
                hypervisor = "qemu";
                inherit (vm) vcpu mem;
                interfaces = [{ type = "tap"; id = "vm-${name}"; inherit (vm) mac; }];
                declaredRunner = builtins.seq evalCost (runner name vm);
              };
            };
          })
        vms);
    };
}
