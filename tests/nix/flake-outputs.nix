# The outputs of bo.microvm's flake.nix, evaluated with a fake nixpkgs input:
#   nix-instantiate --eval --strict --json tests/nix/flake-outputs.nix
# Cases as in contract.nix: { name; got; want; }.
let
  root = ../..;
  flake = import (root + "/flake.nix");
  self = flake.outputs {
    inherit self;
    nixpkgs = import ./fake/nixpkgs.nix;
  };
  collection = self.packages.x86_64-linux.collection;
  shell = self.devShells.x86_64-linux.ansible;
  galaxyVersion =
    builtins.head (builtins.match ".*\nversion: ([0-9.]+)\n.*" (builtins.readFile (root + "/galaxy.yml")));
  contains = needle: hay: builtins.replaceStrings [ needle ] [ "" ] hay != hay;
  keeps = path: collection.src.filter (toString root + "/" + path) "regular";
in
[
  {
    name = "the flake takes only nixpkgs as an input (the site provides microvm.nix)";
    got = builtins.attrNames flake.inputs;
    want = [ "nixpkgs" ];
  }
  {
    name = "the flake exports the three NixOS modules from nixos/modules";
    got = builtins.mapAttrs (_: p: toString p) self.nixosModules;
    want = {
      microvm-guest = toString (root + "/nixos/modules/microvm/guest.nix");
      microvm-bridge = toString (root + "/nixos/modules/microvm/bridge.nix");
      virtualization = toString (root + "/nixos/modules/virtualization.nix");
    };
  }
  {
    name = "packages and dev shells exist for x86_64-linux and aarch64-linux";
    got = {
      packages = builtins.attrNames self.packages;
      devShells = builtins.attrNames self.devShells;
      aarch64 = builtins.attrNames self.devShells.aarch64-linux;
    };
    want = {
      packages = [
        "aarch64-linux"
        "x86_64-linux"
      ];
      devShells = [
        "aarch64-linux"
        "x86_64-linux"
      ];
      aarch64 = [
        "ansible"
        "default"
      ];
    };
  }
  {
    name = "the collection is a buildGoModule with galaxy.yml's version and the committed vendor hash";
    got = {
      inherit (collection) _fake pname version vendorHash;
    };
    want = {
      _fake = "buildGoModule";
      pname = "bo-microvm-collection";
      version = galaxyVersion;
      vendorHash = builtins.replaceStrings [ "\n" ] [ "" ] (builtins.readFile (root + "/nixos/pkgs/collection.vendorhash"));
    };
  }
  {
    name = "the collection builds both architectures' binaries into plugins/modules";
    got = map (s: contains s collection.buildPhase) [
      "for arch in amd64 arm64"
      "CGO_ENABLED=0 GOOS=linux GOARCH=$arch"
      "plugins/modules/\${name}_linux_$arch"
    ];
    want = [
      true
      true
      true
    ];
  }
  {
    name = "the collection is installed as ansible_collections/bo/microvm and built as a galaxy tarball";
    got = map (s: contains s collection.installPhase) [
      "dest=$out/ansible_collections/bo/microvm"
      "ansible-galaxy collection build --output-path \"$out/dist\""
    ];
    want = [
      true
      true
    ];
  }
  {
    name = "the collection's source leaves out build output and keeps the code";
    got = {
      build = keeps "build";
      tarball = keeps "bo-microvm-0.1.0.tar.gz";
      binary = keeps "plugins/modules/microvm_info_linux_amd64";
      gomod = keeps "go.mod";
      module = keeps "modules/microvm_info/main.go";
      sidecar = keeps "plugins/modules/microvm_info.yml";
    };
    want = {
      build = false;
      tarball = false;
      binary = false;
      gomod = true;
      module = true;
      sidecar = true;
    };
  }
  {
    name = "the ansible shell has ansible-core, ansible-lint, nix, Go 1.26 and zstd";
    got = map (p: p.name) shell.packages;
    want = [
      "ansible-core"
      "ansible-lint"
      "nix"
      "go-1.26"
      "gnumake"
      "git"
      "openssh"
      "zstd"
    ];
  }
  {
    name = "the ansible shell puts the built collection on ANSIBLE_COLLECTIONS_PATH and its playbooks in BO_PLAYBOOKS";
    got = {
      inherit (shell) ANSIBLE_COLLECTIONS_PATH BO_PLAYBOOKS;
    };
    want = {
      ANSIBLE_COLLECTIONS_PATH = "${collection}";
      BO_PLAYBOOKS = "${collection}/ansible_collections/bo/microvm/playbooks";
    };
  }
  {
    name = "the default package and shell are the collection and the ansible shell";
    got = {
      package = self.packages.x86_64-linux.default.pname;
      shell = self.devShells.x86_64-linux.default.name;
    };
    want = {
      package = "bo-microvm-collection";
      shell = "bo-microvm-ansible";
    };
  }
]
