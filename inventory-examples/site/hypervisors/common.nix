# What every hypervisor of this site shares. Host setup in the order the
# bo.microvm docs give: KVM, microvm.nix's host module (imported by the site
# flake), bo.microvm's virtualization and bridge modules.
{ lib, ... }:
{
  virtualization.enable = true;

  microvm-bridge = {
    enable = true;
    gateway = "198.18.0.1";
    nameservers = [ "198.18.0.1" ];
  };

  # bo.microvm.microvm_install builds each VM's runner from the site flake here.
  nix.settings.experimental-features = [
    "nix-command"
    "flakes"
  ];

  services.openssh = {
    enable = true;
    settings.PermitRootLogin = "prohibit-password";
  };
  users.users.root.openssh.authorizedKeys.keys = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIReplaceWithYourOwnKeyReplaceWithYourOwnKey ansible@example"
  ];

  # Stand-ins for the hardware configuration (nixos-generate-config writes the
  # real one); replace them.
  boot.loader.systemd-boot.enable = lib.mkDefault true;
  fileSystems."/" = lib.mkDefault {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };
  fileSystems."/boot" = lib.mkDefault {
    device = "/dev/disk/by-label/boot";
    fsType = "vfat";
  };

  system.stateVersion = "25.11";
}
