# The outputs of the example site flake (inventory-examples/site/flake.nix),
# evaluated with fake nixpkgs and microvm.nix inputs and bo.microvm's own flake:
#   nix-instantiate --eval --strict --json tests/nix/site-flake.nix
# Cases as in contract.nix: { name; got; want; }.
let
  root = ../..;
  siteDir = root + "/inventory-examples/site";
  nixpkgs = import ./fake/nixpkgs.nix;
  microvm.nixosModules = {
    host = "microvm.nixosModules.host";
    microvm = "microvm.nixosModules.microvm";
  };
  bo =
    let
      self = (import (root + "/flake.nix")).outputs { inherit self nixpkgs; };
    in
    self;
  siteFlake = import (siteDir + "/flake.nix");
  site = siteFlake.outputs {
    inherit nixpkgs microvm;
    bo-microvm = bo;
  };
  configs = site.nixosConfigurations;
  # A module list with paths made readable.
  show = map (m: if builtins.isPath m then toString m else if builtins.isString m then m else "inline");
  inlineOf = modules: builtins.filter builtins.isAttrs modules;
in
[
  {
    name = "the site flake takes nixpkgs, microvm.nix and bo-microvm as inputs";
    got = builtins.attrNames siteFlake.inputs;
    want = [
      "bo-microvm"
      "microvm"
      "nixpkgs"
    ];
  }
  {
    name = "the site has one nixosConfigurations per VM and per hypervisor";
    got = builtins.attrNames configs;
    want = [
      "hv1"
      "hv2"
      "k0s-cp1"
      "k0s-w1"
    ];
  }
  {
    name = "a VM is microvm.nix's guest module, bo.microvm's guest module, then its profile and host config";
    got = show configs.k0s-cp1.modules;
    want = [
      "microvm.nixosModules.microvm"
      (toString (root + "/nixos/modules/microvm/guest.nix"))
      "inline"
      (toString (siteDir + "/profiles/k0s-node.nix"))
      (toString (siteDir + "/hosts/k0s-cp1.nix"))
    ];
  }
  {
    name = "a hypervisor is microvm.nix's host module, then bo.microvm's virtualization and bridge modules, then its own config";
    got = show configs.hv2.modules;
    want = [
      "microvm.nixosModules.host"
      (toString (root + "/nixos/modules/virtualization.nix"))
      (toString (root + "/nixos/modules/microvm/bridge.nix"))
      (toString (siteDir + "/hypervisors/common.nix"))
      (toString (siteDir + "/hypervisors/hv2.nix"))
      "inline"
    ];
  }
  {
    name = "each hypervisor starts the VMs the site places on it at boot";
    got = {
      hv1 = (builtins.head (inlineOf configs.hv1.modules)).microvm.autostart;
      hv2 = (builtins.head (inlineOf configs.hv2.modules)).microvm.autostart;
    };
    want = {
      hv1 = [ "k0s-cp1" ];
      hv2 = [ "k0s-w1" ];
    };
  }
  {
    name = "every configuration targets x86_64-linux";
    got = builtins.mapAttrs (_: c: (builtins.head (inlineOf c.modules)).nixpkgs.hostPlatform) configs;
    want = {
      hv1 = "x86_64-linux";
      hv2 = "x86_64-linux";
      k0s-cp1 = "x86_64-linux";
      k0s-w1 = "x86_64-linux";
    };
  }
]
