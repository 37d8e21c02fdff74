# The example site's VMs and hypervisors as bo.microvm's modules see them,
# evaluated with the fake module evaluator (no nixpkgs, no microvm.nix):
#   nix-instantiate --eval --strict --json tests/nix/site.nix
# tests/nix/site_test.go compares the result with the example inventories.
let
  site = ../../inventory-examples/site;
  modules = ../../nixos/modules;
  vms = import (site + "/vms.nix");
  hypervisors = import (site + "/hypervisors");

  eval =
    module: extra:
    import ./fake/eval.nix {
      inherit module;
      modules = extra;
    };
in
{
  vms = builtins.mapAttrs (
    name: vm:
    let
      g = (eval (modules + "/microvm/guest.nix") vm.modules).config.microvm-guest;
    in
    {
      inherit (vm) hypervisor;
      inherit (g)
        enable
        name
        tapId
        vcpu
        mem
        ;
      inherit (g.network) address mac;
      volumes = map (v: { inherit (v) path size fsType label; }) g.volumes;
      k0s = { inherit (g.k0s) role bootstrap; };
    }
  ) vms;

  hypervisors = builtins.mapAttrs (
    name: module:
    let
      extra = [
        (site + "/hypervisors/common.nix")
        module
      ];
      b = (eval (modules + "/microvm/bridge.nix") extra).config.microvm-bridge;
      v = (eval (modules + "/virtualization.nix") extra).config.virtualization;
    in
    {
      bridge = { inherit (b) enable physicalNic address; };
      virtualization = { inherit (v) enable; };
    }
  ) hypervisors;
}
