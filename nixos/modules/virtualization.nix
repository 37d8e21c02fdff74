# Host module: KVM and libvirtd. microvm.nix's host module runs the VMs itself
# (systemd units, user "microvm" in group "kvm"); libvirtd is here for the tools
# people expect next to it (virsh, virt-manager over SSH) and for ad-hoc VMs.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkDefault mkEnableOption mkIf mkOption types;

  cfg = config.virtualization;
  kvmModule = {
    intel = "kvm-intel";
    amd = "kvm-amd";
  };
in
{
  options.virtualization = {
    enable = mkEnableOption "libvirtd with KVM support";

    cpuVendor = mkOption {
      type = types.nullOr (types.enum [ "intel" "amd" ]);
      default = null;
      example = "amd";
      description = ''
        CPU vendor, to load the matching KVM module (kvm-intel or kvm-amd). null
        leaves that to the hardware configuration, where nixos-generate-config
        usually puts it.
      '';
    };

    nested = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Allow nested virtualisation (VMs inside the microVMs). Needs `cpuVendor`.
      '';
    };

    users = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "alice" ];
      description = "Users added to the libvirtd group, so they can manage VMs without root.";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.nested -> cfg.cpuVendor != null;
        message = "virtualization.nested needs virtualization.cpuVendor (intel or amd).";
      }
    ];

    boot.kernelModules = lib.optional (cfg.cpuVendor != null) kvmModule.${cfg.cpuVendor};
    boot.extraModprobeConfig = lib.optionalString cfg.nested ''
      options ${lib.replaceStrings [ "-" ] [ "_" ] kvmModule.${cfg.cpuVendor}} nested=1
    '';

    virtualisation.libvirtd = {
      enable = true;
      qemu.package = mkDefault pkgs.qemu_kvm;
      onBoot = mkDefault "ignore";
      onShutdown = mkDefault "shutdown";
    };

    users.groups.libvirtd.members = cfg.users;
    environment.systemPackages = [ pkgs.libvirt ];
  };
}
