{
  description = "bo.microvm: k0s clusters as microvm.nix VMs on NixOS hypervisors, run by an Ansible collection of Go modules";

  # The consuming site flake provides microvm.nix (and may make this nixpkgs
  # follow its own); nothing here pins it.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # The collection version is galaxy.yml's `version:` line.
      galaxyVersion =
        let
          galaxy = ./galaxy.yml;
          found =
            if builtins.pathExists galaxy then
              builtins.match ".*\nversion: *[\"']?([0-9][^\"'\n]*)[\"']?\n.*" ("\n" + builtins.readFile galaxy + "\n")
            else
              null;
        in
        if found == null then "0.0.0" else builtins.head found;

      collectionFor =
        pkgs:
        pkgs.callPackage ./nixos/pkgs/collection.nix {
          src = ./.;
          version = galaxyVersion;
          # go.mod asks for Go 1.26; use that toolchain where nixpkgs names it.
          buildGoModule = pkgs.buildGo126Module or pkgs.buildGoModule;
        };
    in
    {
      nixosModules = {
        microvm-guest = ./nixos/modules/microvm/guest.nix;
        microvm-bridge = ./nixos/modules/microvm/bridge.nix;
        virtualization = ./nixos/modules/virtualization.nix;
      };

      packages = forAllSystems (pkgs: {
        collection = collectionFor pkgs;
        default = self.packages.${pkgs.stdenv.hostPlatform.system}.collection;
      });

      devShells = forAllSystems (pkgs: {
        ansible = pkgs.callPackage ./nixos/pkgs/ansible-shell.nix {
          collection = self.packages.${pkgs.stdenv.hostPlatform.system}.collection;
          go = pkgs.go_1_26 or pkgs.go;
        };
        default = self.devShells.${pkgs.stdenv.hostPlatform.system}.ansible;
      });
    };
}
