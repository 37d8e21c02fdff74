# Profile: what the k0s node VMs of this site share (vCPUs, memory, volumes,
# network). A host config overrides any of it; mkDefault marks what a host
# usually changes.
{ lib, pkgs, ... }:
{
  microvm-guest = {
    enable = true;
    vcpu = lib.mkDefault 2;
    mem = lib.mkDefault 3072;
    network = {
      prefixLength = 24;
      gateway = "198.18.0.1";
      nameservers = [ "198.18.0.1" ];
    };
    volumes = lib.mkDefault [
      {
        path = "var.img";
        size = 8192;
        label = "var";
        mountPoint = "/var";
      }
      {
        path = "ceph.img";
        size = 20480;
        fsType = "none";
        serial = "ceph0";
      }
    ];
    # The key Ansible (or AWX's machine credential) logs in with.
    authorizedKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIReplaceWithYourOwnKeyReplaceWithYourOwnKey ansible@example" ];
    # A k0s package gives the VM a `k0s` unit (nixpkgs has k0s, built without
    # embedded binaries); with null, provide the unit another way (e.g. k0s-nix).
    k0s.package = pkgs.k0s or null;
  };

  system.stateVersion = "25.11";
}
