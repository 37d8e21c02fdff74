# Contract tests for bo.microvm's NixOS modules, evaluated without nixpkgs:
#   nix-instantiate --eval --strict --json tests/nix/contract.nix
# Each case is { name; got; want; }; tests/nix/nix_test.go runs every case as
# a subtest and compares got with want.
let
  fake = import ./fake/pkgs.nix;
  modules = ../../nixos/modules;
  bridge = modules + "/microvm/bridge.nix";
  guest = modules + "/microvm/guest.nix";
  virtualization = modules + "/virtualization.nix";

  eval = module: settings: import ./fake/eval.nix { inherit module settings; };
  out = module: settings: (eval module settings).out;
  # true when evaluating the value throws (a type error, a missing value, an
  # unknown option).
  fails = value: !(builtins.tryEval (builtins.deepSeq value true)).success;
  failedAssertions = cfg: map (a: a.message) (builtins.filter (a: !a.assertion) (cfg.assertions or [ ]));
  optionNames = module: top: builtins.attrNames (eval module { }).options.${top};

  br = settings: out bridge { microvm-bridge = settings; };
  eno1 = br {
    enable = true;
    physicalNic = "eno1";
    address = "198.18.0.11/24";
    gateway = "198.18.0.1";
    nameservers = [ "198.18.0.1" ];
  };

  cp1Settings = {
    enable = true;
    name = "k0s-cp1";
    vcpu = 2;
    mem = 3072;
    network = {
      mac = "02:00:00:00:01:01";
      address = "198.18.0.101";
      gateway = "198.18.0.1";
    };
    volumes = [
      {
        path = "var.img";
        size = 512;
        label = "var";
        mountPoint = "/var";
      }
      {
        path = "ceph.img";
        size = 1024;
        fsType = "none";
        serial = "ceph0";
      }
    ];
    k0s = {
      role = "controller+worker";
      bootstrap = true;
      package = fake.k0s;
    };
  };
  vm = settings: out guest { microvm-guest = settings; };
  cp1 = vm cp1Settings;
  w1 = vm (
    cp1Settings
    // {
      name = "k0s-w1";
      network = cp1Settings.network // {
        mac = "02:00:00:00:02:01";
        address = "198.18.0.102";
      };
      k0s = {
        role = "worker";
        package = fake.k0s;
      };
    }
  );
  plain = vm (builtins.removeAttrs cp1Settings [ "k0s" ]);

  virt = settings: out virtualization { virtualization = settings; };
in
[
  # microvm-bridge
  {
    name = "the bridge module declares the options the user's document names and the host address options";
    got = optionNames bridge "microvm-bridge";
    want = [
      "address"
      "bridgeName"
      "enable"
      "gateway"
      "macAddress"
      "nameservers"
      "physicalNic"
      "tapPattern"
    ];
  }
  {
    name = "a bridge module that is not enabled configures nothing and needs no values";
    got = br { };
    want = { };
  }
  {
    name = "enabling the bridge with physicalNic eno1 creates a br0 netdev of kind bridge";
    got = eno1.systemd.network.netdevs."10-br0".netdevConfig;
    want = {
      Name = "br0";
      Kind = "bridge";
    };
  }
  {
    name = "eno1 is enslaved to br0";
    got = {
      match = eno1.systemd.network.networks."10-br0-uplink".matchConfig.Name;
      bridge = eno1.systemd.network.networks."10-br0-uplink".networkConfig.Bridge;
    };
    want = {
      match = "eno1";
      bridge = "br0";
    };
  }
  {
    name = "networkd attaches every vm-* tap to br0";
    got = {
      match = eno1.systemd.network.networks."11-br0-microvm-taps".matchConfig.Name;
      bridge = eno1.systemd.network.networks."11-br0-microvm-taps".networkConfig.Bridge;
    };
    want = {
      match = "vm-*";
      bridge = "br0";
    };
  }
  {
    name = "the host address, gateway and DNS sit on br0";
    got = {
      inherit (eno1.systemd.network.networks."20-br0") address gateway dns;
      match = eno1.systemd.network.networks."20-br0".matchConfig.Name;
      dhcp = eno1.systemd.network.networks."20-br0".networkConfig.DHCP;
    };
    want = {
      address = [ "198.18.0.11/24" ];
      gateway = [ "198.18.0.1" ];
      dns = [ "198.18.0.1" ];
      match = "br0";
      dhcp = "no";
    };
  }
  {
    name = "a bridge without a host address asks DHCP for one";
    got =
      (br {
        enable = true;
        physicalNic = "eno1";
      }).systemd.network.networks."20-br0".networkConfig.DHCP;
    want = "yes";
  }
  {
    name = "the bridge switches the host to systemd-networkd";
    got = {
      inherit (eno1.networking) useNetworkd;
      inherit (eno1.systemd.network) enable;
    };
    want = {
      useNetworkd = true;
      enable = true;
    };
  }
  {
    name = "a bridge name set by the site is used for the netdev and every port";
    got =
      let
        c = br {
          enable = true;
          physicalNic = "enp3s0";
          bridgeName = "lan0";
        };
      in
      {
        netdev = c.systemd.network.netdevs."10-lan0".netdevConfig.Name;
        uplink = c.systemd.network.networks."10-lan0-uplink".networkConfig.Bridge;
        taps = c.systemd.network.networks."11-lan0-microvm-taps".networkConfig.Bridge;
      };
    want = {
      netdev = "lan0";
      uplink = "lan0";
      taps = "lan0";
    };
  }
  {
    name = "a gateway without a host address fails an assertion";
    got = failedAssertions (br {
      enable = true;
      physicalNic = "eno1";
      gateway = "198.18.0.1";
    });
    want = [ "microvm-bridge.gateway needs microvm-bridge.address (with DHCP the gateway comes from the lease)." ];
  }
  {
    name = "an enabled bridge without physicalNic is an error";
    got = fails (br { enable = true; });
    want = true;
  }
  {
    name = "an interface name with a space is rejected by the physicalNic type";
    got = fails (br {
      enable = true;
      physicalNic = "eno 1";
    });
    want = true;
  }
  {
    name = "a misspelt bridge option is rejected";
    got = fails (br {
      enable = true;
      physicalNIC = "eno1";
    });
    want = true;
  }

  # virtualization
  {
    name = "the virtualization module declares enable, cpuVendor, nested and users";
    got = optionNames virtualization "virtualization";
    want = [
      "cpuVendor"
      "enable"
      "nested"
      "users"
    ];
  }
  {
    name = "enabling virtualization enables libvirtd with the KVM qemu";
    got = {
      enable = (virt { enable = true; }).virtualisation.libvirtd.enable;
      qemu = (virt { enable = true; }).virtualisation.libvirtd.qemu.package.name;
    };
    want = {
      enable = true;
      qemu = "qemu-kvm";
    };
  }
  {
    name = "an AMD host with nested virtualisation loads kvm-amd with nested=1";
    got =
      let
        c = virt {
          enable = true;
          cpuVendor = "amd";
          nested = true;
        };
      in
      {
        inherit (c.boot) kernelModules;
        modprobe = c.boot.extraModprobeConfig;
      };
    want = {
      kernelModules = [ "kvm-amd" ];
      modprobe = "options kvm_amd nested=1\n";
    };
  }
  {
    name = "nested virtualisation without a CPU vendor fails an assertion";
    got = failedAssertions (virt {
      enable = true;
      nested = true;
    });
    want = [ "virtualization.nested needs virtualization.cpuVendor (intel or amd)." ];
  }
  {
    name = "virtualization that is not enabled configures nothing";
    got = virt { };
    want = { };
  }

  # microvm-guest
  {
    name = "the guest module declares the per-VM options a site sets";
    got = optionNames guest "microvm-guest";
    want = [
      "authorizedKeys"
      "balloon"
      "enable"
      "k0s"
      "machineId"
      "mem"
      "name"
      "network"
      "persistentEtc"
      "shareHostStore"
      "tapId"
      "vcpu"
      "volumes"
    ];
  }
  {
    name = "every guest option has a type and a description";
    got =
      let
        walk =
          path: node:
          if (node._type or null) == "option" then
            (if node ? type && node ? description then [ ] else [ path ])
            ++ (if node.type ? submoduleOptions then walk path node.type.submoduleOptions else [ ])
            ++ (
              if (node.type.elemType.submoduleOptions or null) != null then
                walk path node.type.elemType.submoduleOptions
              else
                [ ]
            )
          else
            builtins.concatLists (builtins.attrValues (builtins.mapAttrs (n: walk "${path}.${n}") node));
      in
      walk "microvm-guest" (eval guest { }).options.microvm-guest;
    want = [ ];
  }
  {
    name = "a guest module that is not enabled configures nothing and needs no values";
    got = vm { };
    want = { };
  }
  {
    name = "the guest disables the bootloader";
    got = cp1.boot.loader.grub.enable;
    want = false;
  }
  {
    name = "the guest enables memory ballooning";
    got = {
      inherit (cp1.microvm) balloon deflateOnOOM;
    };
    want = {
      balloon = true;
      deflateOnOOM = true;
    };
  }
  {
    name = "vCPU and memory go to microvm.nix unchanged";
    got = {
      inherit (cp1.microvm) vcpu mem;
    };
    want = {
      vcpu = 2;
      mem = 3072;
    };
  }
  {
    name = "the VM's tap is vm-<name> with the VM's MAC";
    got = cp1.microvm.interfaces;
    want = [
      {
        type = "tap";
        id = "vm-k0s-cp1";
        mac = "02:00:00:00:01:01";
      }
    ];
  }
  {
    name = "the tapId option reports the tap name";
    got = (eval guest { microvm-guest = cp1Settings; }).config.microvm-guest.tapId;
    want = "vm-k0s-cp1";
  }
  {
    name = "the VM's address and gateway are configured on the interface with its MAC";
    got = {
      inherit (cp1.systemd.network.networks."10-vm-k0s-cp1") address gateway;
      mac = cp1.systemd.network.networks."10-vm-k0s-cp1".matchConfig.MACAddress;
    };
    want = {
      address = [ "198.18.0.101/24" ];
      gateway = [ "198.18.0.1" ];
      mac = "02:00:00:00:01:01";
    };
  }
  {
    name = "the host name is the VM name";
    got = cp1.networking.hostName;
    want = "k0s-cp1";
  }
  {
    name = "volumes become microvm.nix volumes relative to the VM directory that microvm-run never creates";
    got = cp1.microvm.volumes;
    want = [
      {
        image = "var.img";
        size = 512;
        fsType = "ext4";
        label = "var";
        mountPoint = "/var";
        serial = null;
        autoCreate = false;
      }
      {
        image = "ceph.img";
        size = 1024;
        label = null;
        mountPoint = null;
        serial = "ceph0";
        autoCreate = false;
      }
    ];
  }
  {
    name = "a raw volume with a mount point fails an assertion";
    got = failedAssertions (vm (
      cp1Settings
      // {
        volumes = [
          {
            path = "ceph.img";
            size = 1024;
            fsType = "none";
            mountPoint = "/ceph";
          }
        ];
      }
    ));
    want = [ "microvm-guest.volumes: a volume with fsType \"none\" is a raw disk and cannot have a mountPoint." ];
  }
  {
    name = "persistent /etc is a virtiofs share of the VM directory's etc";
    got = builtins.filter (s: s.tag == "persist-etc") cp1.microvm.shares;
    want = [
      {
        proto = "virtiofs";
        tag = "persist-etc";
        source = "etc";
        mountPoint = "/persist/etc";
      }
    ];
  }
  {
    name = "the share's host directory is created before virtiofsd starts";
    got = cp1.microvm.binScripts.virtiofsd-run;
    want = "mkdir -p 'etc'";
  }
  {
    name = "the SSH host key lives on the persistent share";
    got = cp1.services.openssh.hostKeys;
    want = [
      {
        path = "/persist/etc/ssh/ssh_host_ed25519_key";
        type = "ed25519";
      }
    ];
  }
  {
    name = "/etc/k0s is a link into the persistent share";
    got = cp1.systemd.tmpfiles.rules;
    want = [
      "d /persist/etc/k0s 0750 root root -"
      "L+ /etc/k0s - - - - /persist/etc/k0s"
    ];
  }
  {
    name = "the machine id is on the kernel command line and derived from the VM name";
    got = cp1.boot.kernelParams;
    want = [ "systemd.machine_id=${builtins.hashString "md5" "bo.microvm:k0s-cp1"}" ];
  }
  {
    name = "the host's /nix/store is shared read-only so a VM can switch in place";
    got = builtins.filter (s: s.source == "/nix/store") cp1.microvm.shares;
    want = [
      {
        proto = "virtiofs";
        tag = "ro-store";
        source = "/nix/store";
        mountPoint = "/nix/.ro-store";
      }
    ];
  }
  {
    name = "the bootstrap controller+worker starts k0s as a controller with a worker and without a join token";
    got = cp1.systemd.services.k0s.serviceConfig.ExecStart;
    want = "'${fake.k0s}/bin/k0s' 'controller' '--config=/etc/k0s/k0s.yaml' '--enable-worker'";
  }
  {
    name = "a worker starts k0s worker with the join token";
    got = w1.systemd.services.k0s.serviceConfig.ExecStart;
    want = "'${fake.k0s}/bin/k0s' 'worker' '--token-file=/etc/k0s/k0stoken'";
  }
  {
    name = "a joining controller uses the join token";
    got =
      (vm (
        cp1Settings
        // {
          k0s = {
            role = "controller";
            package = fake.k0s;
          };
        }
      )).systemd.services.k0s.serviceConfig.ExecStart;
    want = "'${fake.k0s}/bin/k0s' 'controller' '--config=/etc/k0s/k0s.yaml' '--token-file=/etc/k0s/k0stoken'";
  }
  {
    name = "k0s starts only once its configuration or join token exists";
    got = cp1.systemd.services.k0s.unitConfig.ConditionPathExists;
    want = [
      "|/etc/k0s/k0s.yaml"
      "|/etc/k0s/k0stoken"
    ];
  }
  {
    name = "a controller opens the API, join, etcd and konnectivity ports";
    got = cp1.networking.firewall.allowedTCPPorts;
    want = [
      6443
      9443
      2380
      8132
      8133
      10250
      4240
      4244
    ];
  }
  {
    name = "a worker opens only the node ports and loads rbd for Rook";
    got = {
      tcp = w1.networking.firewall.allowedTCPPorts;
      modules = w1.boot.kernelModules;
    };
    want = {
      tcp = [
        10250
        4240
        4244
      ];
      modules = [
        "overlay"
        "br_netfilter"
        "rbd"
      ];
    };
  }
  {
    name = "a VM without a k0s role gets no k0s unit, firewall ports or kernel modules";
    got = {
      services = plain.systemd ? services;
      firewall = plain.networking ? firewall;
      modules = plain.boot ? kernelModules;
    };
    want = {
      services = false;
      firewall = false;
      modules = false;
    };
  }
  {
    name = "bootstrap on a worker fails an assertion";
    got = failedAssertions (vm (
      cp1Settings
      // {
        k0s = {
          role = "worker";
          bootstrap = true;
        };
      }
    ));
    want = [ "microvm-guest.k0s.bootstrap needs a controller role." ];
  }
  {
    name = "a k0s VM without a /var volume gets a warning";
    got = builtins.length (vm (cp1Settings // { volumes = [ ]; })).warnings;
    want = 1;
  }
  {
    name = "a VM name of 13 characters is rejected because its tap id would exceed 15";
    got = fails (vm (cp1Settings // { name = "k0s-worker-13"; }));
    want = true;
  }
  {
    name = "a VM name of 12 characters is accepted";
    got = (vm (cp1Settings // { name = "k0s-worker12"; })).microvm.interfaces;
    want = [
      {
        type = "tap";
        id = "vm-k0s-worker12";
        mac = "02:00:00:00:01:01";
      }
    ];
  }
  {
    name = "an upper-case MAC is rejected";
    got = fails (vm (cp1Settings // { network = cp1Settings.network // { mac = "02:00:00:00:01:AB"; }; }));
    want = true;
  }
  {
    name = "the tapId option cannot be set";
    got = fails (eval guest { microvm-guest = cp1Settings // { tapId = "tap0"; }; }).config.microvm-guest.tapId;
    want = true;
  }
  {
    name = "an unknown k0s role is rejected";
    got = fails (vm (cp1Settings // { k0s.role = "single"; }));
    want = true;
  }
  {
    name = "without persistent /etc the guest has no share, host key path or links";
    got =
      let
        c = vm (cp1Settings // { persistentEtc.enable = false; });
      in
      {
        shares = map (s: s.tag) c.microvm.shares;
        hostKeys = c.services.openssh ? hostKeys;
        tmpfiles = c.systemd ? tmpfiles;
        virtiofsd = (c.microvm.binScripts or { }) ? virtiofsd-run;
      };
    want = {
      shares = [ "ro-store" ];
      hostKeys = false;
      tmpfiles = false;
      virtiofsd = false;
    };
  }
]
