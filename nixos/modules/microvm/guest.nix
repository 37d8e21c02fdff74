# Guest module for a bo.microvm VM: import it next to microvm.nix's
# `nixosModules.microvm` in every `nixosConfigurations.<vm>` of the site flake.
#
# It turns the per-VM values the site gives (name, IP, MAC, vCPU, memory,
# volumes, k0s role) into microvm.nix and NixOS settings, disables the
# bootloader, enables memory ballooning and keeps the /etc state that must
# survive a restart (SSH host keys, /etc/k0s) on a virtiofs share from the host.
{ config, lib, pkgs, ... }:

let
  inherit (lib)
    mkBefore
    mkDefault
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    optional
    optionals
    types
    ;

  cfg = config.microvm-guest;
  etc = cfg.persistentEtc;
  k0s = cfg.k0s;

  tapId = "vm-${cfg.name}";
  isController = k0s.role == "controller" || k0s.role == "controller+worker";
  isWorker = k0s.role == "worker" || k0s.role == "controller+worker";
  hasVarVolume = lib.any (v: v.mountPoint == "/var") cfg.volumes;

  volumeModule = {
    options = {
      path = mkOption {
        type = types.strMatching "[^/].*";
        example = "var.img";
        description = ''
          Image file, relative to the VM's state directory on the hypervisor
          (`/var/lib/microvms/<name>/`). bo.microvm.microvm_volume creates it; the
          hypervisor only opens it.
        '';
      };
      size = mkOption {
        type = types.ints.positive;
        example = 512;
        description = "Size in MiB. Images are grown, never shrunk.";
      };
      fsType = mkOption {
        type = types.str;
        default = "ext4";
        example = "none";
        description = ''
          Filesystem made on the image when it is created; `none` leaves the disk raw
          (for Rook-Ceph OSDs), and then `mountPoint` must be null.
        '';
      };
      label = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "var";
        description = ''
          Filesystem label. The guest mounts the volume by label
          (`/dev/disk/by-label/<label>`) instead of by disk letter.
        '';
      };
      mountPoint = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/var";
        description = "Where the guest mounts the volume; null does not mount it.";
      };
      serial = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "ceph0";
        description = ''
          Disk serial (qemu, cloud-hypervisor, crosvm), visible in the guest as
          `/dev/disk/by-id/virtio-<serial>`: a stable name for raw disks.
        '';
      };
    };
  };

  toMicrovmVolume =
    v:
    {
      image = v.path;
      inherit (v) size label mountPoint serial;
      # The Ansible collection creates and grows images (as root, before the VM
      # starts); microvm-run must never format one.
      autoCreate = false;
    }
    // lib.optionalAttrs (v.fsType != "none") { inherit (v) fsType; };

  k0sArgs =
    if isController then
      [
        "controller"
        "--config=/etc/k0s/k0s.yaml"
      ]
      ++ optional (k0s.role == "controller+worker") "--enable-worker"
      ++ optional (!k0s.bootstrap) "--token-file=/etc/k0s/k0stoken"
    else
      [
        "worker"
        "--token-file=/etc/k0s/k0stoken"
      ];
in
{
  options.microvm-guest = {
    enable = mkEnableOption "the bo.microvm guest settings for this microVM";

    name = mkOption {
      type = types.strMatching "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?";
      example = "k0s-cp1";
      description = ''
        VM name: the inventory hostname, the `nixosConfigurations` attribute and the
        state directory on the hypervisor. At most 12 characters, because the tap
        interface is `vm-<name>` and interface names have at most 15.
      '';
    };

    tapId = mkOption {
      type = types.str;
      readOnly = true;
      default = tapId;
      defaultText = lib.literalExpression ''"vm-''${config.microvm-guest.name}"'';
      description = "Host-side tap interface of the VM (read-only).";
    };

    vcpu = mkOption {
      type = types.ints.positive;
      default = 1;
      description = "Number of virtual CPUs.";
    };

    mem = mkOption {
      type = types.ints.positive;
      default = 512;
      description = "Memory in MiB.";
    };

    balloon = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Enable the virtio memory balloon, so the hypervisor can reclaim memory the
        guest does not use (deflated again when the guest runs out of memory).
      '';
    };

    machineId = mkOption {
      type = types.strMatching "[0-9a-f]{32}";
      default = builtins.hashString "md5" "bo.microvm:${cfg.name}";
      defaultText = lib.literalExpression ''builtins.hashString "md5" "bo.microvm:''${name}"'';
      description = ''
        systemd machine id, passed on the kernel command line so that it is the same
        on every boot of the VM (the root filesystem is a tmpfs). Derived from the
        name by default.
      '';
    };

    shareHostStore = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Mount the hypervisor's /nix/store read-only over virtiofs instead of
        building a store disk image per VM. Needed for an in-place switch
        (`microvm_update_strategy: switch`): the new system is already in the host's store.
      '';
    };

    network = {
      mac = mkOption {
        type = types.strMatching "([0-9a-f]{2}:){5}[0-9a-f]{2}";
        example = "02:00:00:00:01:01";
        description = ''
          MAC address of the VM's interface (lower case). Use a locally administered
          address (second hex digit 2, 6, a or e).
        '';
      };
      address = mkOption {
        type = types.strMatching "[0-9]{1,3}(\\.[0-9]{1,3}){3}";
        example = "198.18.0.101";
        description = "IPv4 address of the VM (the inventory's `ansible_host`).";
      };
      prefixLength = mkOption {
        type = types.ints.between 0 32;
        default = 24;
        description = "Prefix length of `address`.";
      };
      gateway = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "198.18.0.1";
        description = "Default gateway; null for none.";
      };
      nameservers = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "DNS servers.";
      };
    };

    authorizedKeys = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "SSH public keys allowed to log in as root (Ansible connects as root).";
    };

    volumes = mkOption {
      type = types.listOf (types.submodule volumeModule);
      default = [ ];
      example = lib.literalExpression ''
        [
          { path = "var.img"; size = 512; label = "var"; mountPoint = "/var"; }
          { path = "ceph.img"; size = 1024; fsType = "none"; serial = "ceph0"; }
        ]
      '';
      description = ''
        Disk images of the VM. Keep them equal to the inventory's `microvm_volumes`,
        from which bo.microvm.microvm_volume creates them. Put /var on one: the root
        filesystem is a tmpfs, and k0s keeps its data in /var/lib/k0s.
      '';
    };

    persistentEtc = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Share a directory of the VM's state directory on the host with the guest
          over virtiofs, and keep there what in /etc must survive a restart: the SSH
          host keys and the /etc directories in `directories`.
        '';
      };
      source = mkOption {
        type = types.strMatching "[^/].*";
        default = "etc";
        description = ''
          Host directory, relative to the VM's state directory; created before the
          virtiofs daemon starts.
        '';
      };
      mountPoint = mkOption {
        type = types.str;
        default = "/persist/etc";
        description = "Where the guest mounts the share.";
      };
      directories = mkOption {
        type = types.listOf (types.strMatching "[^/].*");
        default = [ "k0s" ];
        description = ''
          Directories under /etc that are links into the share (k0s keeps its
          configuration and join token in /etc/k0s). Remove one that another module
          manages through `environment.etc`.
        '';
      };
    };

    k0s = {
      role = mkOption {
        type = types.nullOr (
          types.enum [
            "controller"
            "controller+worker"
            "worker"
          ]
        );
        default = null;
        description = ''
          k0s role of the VM (the inventory's `k0s_role`); null for a VM outside the
          cluster. Loads the kernel modules and opens the ports the role needs.
        '';
      };
      bootstrap = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Whether this controller initialises the cluster (the inventory's
          `k0s_bootstrap`; exactly one controller). It then starts without a join token.
        '';
      };
      package = mkOption {
        type = types.nullOr types.package;
        default = null;
        description = ''
          k0s package. When set, the guest gets a `k0s` systemd unit for the role (it
          starts once /etc/k0s/k0s.yaml or /etc/k0s/k0stoken exists); null leaves the
          unit to another module, e.g. k0s-nix's `services.k0s`.
        '';
      };
      extraArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "--disable-components=konnectivity-server" ];
        description = "Extra arguments for `k0s controller` or `k0s worker`.";
      };
      openFirewall = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Open the ports of the role: API 6443, join API 9443, etcd 2380,
          konnectivity 8132-8133 (controllers); kubelet 10250, Cilium health 4240,
          Hubble 4244 and VXLAN 8472/udp (all nodes).
        '';
      };
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = lib.all (v: v.fsType != "none" || v.mountPoint == null) cfg.volumes;
          message = "microvm-guest.volumes: a volume with fsType \"none\" is a raw disk and cannot have a mountPoint.";
        }
        {
          assertion = k0s.bootstrap -> isController;
          message = "microvm-guest.k0s.bootstrap needs a controller role.";
        }
      ];
      warnings = optional (k0s.role != null && !hasVarVolume) ''
        microvm-guest: ${cfg.name} runs k0s but has no volume mounted at /var; its k0s data is lost on every restart.
      '';

      networking.hostName = mkDefault cfg.name;

      # The hypervisor loads kernel and initrd directly.
      boot.loader.grub.enable = mkDefault false;
      boot.loader.systemd-boot.enable = mkDefault false;
      boot.kernelParams = [ "systemd.machine_id=${cfg.machineId}" ];

      microvm = {
        hypervisor = mkDefault "qemu";
        inherit (cfg) vcpu mem balloon;
        deflateOnOOM = mkDefault true;
        interfaces = [
          {
            type = "tap";
            id = tapId;
            inherit (cfg.network) mac;
          }
        ];
        volumes = map toMicrovmVolume cfg.volumes;
        shares =
          optional cfg.shareHostStore {
            proto = "virtiofs";
            tag = "ro-store";
            source = "/nix/store";
            mountPoint = "/nix/.ro-store";
          }
          ++ optional etc.enable {
            proto = "virtiofs";
            tag = "persist-etc";
            inherit (etc) source mountPoint;
          };
        # virtiofsd refuses a missing directory; it runs as root in the VM's state
        # directory, before the hypervisor.
        binScripts.virtiofsd-run = mkIf etc.enable (mkBefore "mkdir -p ${lib.escapeShellArg etc.source}");
      };

      networking.useNetworkd = mkDefault true;
      networking.useDHCP = mkDefault false;
      systemd.network.enable = true;
      systemd.network.networks."10-${tapId}" = {
        matchConfig.MACAddress = cfg.network.mac;
        address = [ "${cfg.network.address}/${toString cfg.network.prefixLength}" ];
        gateway = optional (cfg.network.gateway != null) cfg.network.gateway;
        dns = cfg.network.nameservers;
        networkConfig.DHCP = "no";
      };

      services.openssh = {
        enable = mkDefault true;
        settings.PermitRootLogin = mkDefault "prohibit-password";
      };
      users.users.root.openssh.authorizedKeys.keys = cfg.authorizedKeys;
    }

    (mkIf etc.enable {
      # sshd creates missing keys at its first start, here on the share.
      services.openssh.hostKeys = [
        {
          path = "${etc.mountPoint}/ssh/ssh_host_ed25519_key";
          type = "ed25519";
        }
      ];
      systemd.tmpfiles.rules = lib.concatMap (d: [
        "d ${etc.mountPoint}/${d} 0750 root root -"
        "L+ /etc/${d} - - - - ${etc.mountPoint}/${d}"
      ]) etc.directories;
    })

    (mkIf (k0s.role != null) {
      boot.kernelModules = [
        "overlay"
        "br_netfilter"
      ]
      # Rook's CSI plugin cannot modprobe on NixOS (rook#10121): load rbd up front.
      ++ optionals isWorker [ "rbd" ];
      boot.kernel.sysctl = {
        "net.ipv4.ip_forward" = mkDefault 1;
        "net.bridge.bridge-nf-call-iptables" = mkDefault 1;
        "net.bridge.bridge-nf-call-ip6tables" = mkDefault 1;
      };
      networking.firewall = mkIf k0s.openFirewall {
        allowedTCPPorts =
          optionals isController [
            6443
            9443
            2380
            8132
            8133
          ]
          ++ [
            10250
            4240
            4244
          ];
        allowedUDPPorts = [ 8472 ];
        checkReversePath = mkDefault "loose";
      };
    })

    (mkIf (k0s.role != null && k0s.package != null) {
      environment.systemPackages = [ k0s.package ];
      systemd.services.k0s = {
        description = "k0s ${k0s.role}";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-online.target" ];
        after = [ "network-online.target" ];
        path = [
          pkgs.kmod
          pkgs.util-linux
        ];
        # Started by bo.microvm.k0s_bootstrap once it wrote the config or the join
        # token; on later boots from the persisted /etc/k0s.
        unitConfig.ConditionPathExists = [
          "|/etc/k0s/k0s.yaml"
          "|/etc/k0s/k0stoken"
        ];
        # A guest switch must not restart the control plane.
        restartIfChanged = false;
        serviceConfig = {
          ExecStart = lib.escapeShellArgs ([ "${k0s.package}/bin/k0s" ] ++ k0sArgs ++ k0s.extraArgs);
          Restart = "always";
          RestartSec = 10;
          Delegate = true;
          KillMode = "process";
          LimitNOFILE = 999999;
          TimeoutStartSec = 0;
        };
      };
    })
  ]);
}
