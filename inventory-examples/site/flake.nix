{
  description = "Example bo.microvm site: two k0s VMs on two NixOS hypervisors";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    # The site provides microvm.nix; bo.microvm's modules do not pin it.
    microvm = {
      url = "github:microvm-nix/microvm.nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    # In a site repository this is often a submodule:
    #   url = "git+file:./external/business-operations";
    # Try this example against a checkout with
    #   --override-input bo-microvm path:/abs/path/to/bo.microvm
    bo-microvm = {
      url = "github:business-operations/bo.microvm";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      nixpkgs,
      microvm,
      bo-microvm,
      ...
    }:
    let
      inherit (nixpkgs) lib;
      system = "x86_64-linux";
      vms = import ./vms.nix;
      hypervisors = import ./hypervisors;

      # One nixosConfigurations.<vm> per VM: the attribute name is the inventory
      # hostname and the VM's directory on its hypervisor.
      vmConfig =
        name: vm:
        lib.nixosSystem {
          modules = [
            microvm.nixosModules.microvm
            bo-microvm.nixosModules.microvm-guest
            { nixpkgs.hostPlatform = system; }
          ]
          ++ vm.modules;
        };

      hypervisorConfig =
        name: module:
        lib.nixosSystem {
          modules = [
            microvm.nixosModules.host
            bo-microvm.nixosModules.virtualization
            bo-microvm.nixosModules.microvm-bridge
            ./hypervisors/common.nix
            module
            {
              nixpkgs.hostPlatform = system;
              # The VMs stay imperative (deployed by Ansible, not by a host
              # rebuild); the host only starts them at boot.
              microvm.autostart = builtins.attrNames (lib.filterAttrs (_: vm: vm.hypervisor == name) vms);
            }
          ];
        };
    in
    {
      nixosConfigurations = lib.mapAttrs vmConfig vms // lib.mapAttrs hypervisorConfig hypervisors;
    };
}
