# A stand-in for the nixpkgs flake input: enough of `lib` and of
# `legacyPackages.<system>` to evaluate bo.microvm's flake outputs without
# nixpkgs. Builders return their arguments, so tests can look at them.
let
  fakeLib = import ./lib.nix;
  fakePkgs = import ./pkgs.nix;
  inherit (builtins) stringLength substring;

  lib = fakeLib // {
    genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
    hasPrefix = p: s: substring 0 (stringLength p) s == p;
    hasSuffix = x: s: stringLength s >= stringLength x && substring (stringLength s - stringLength x) (stringLength x) s == x;
    removePrefix = p: s: if lib.hasPrefix p s then substring (stringLength p) (stringLength s) s else s;
    fileContents = file: lib.removeSuffix "\n" (builtins.readFile file);
    removeSuffix = x: s: if lib.hasSuffix x s then substring 0 (stringLength s - stringLength x) s else s;
    cleanSourceWith = args: args // { _fake = "cleanSourceWith"; };
    platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
    mapAttrs = builtins.mapAttrs;
    filterAttrs =
      pred: set:
      builtins.listToAttrs (
        builtins.concatMap (n: if pred n set.${n} then [ { name = n; value = set.${n}; } ] else [ ]) (builtins.attrNames set)
      );
    nixosSystem = args: args // { _fake = "nixosSystem"; };
  };

  pkgsFor =
    system:
    let
      pkgs =
        builtins.mapAttrs (_: p: p) fakePkgs
        // {
          inherit lib;
          stdenv.hostPlatform.system = system;
          callPackage =
            fn: args:
            let
              f = import fn;
            in
            f (builtins.intersectAttrs (builtins.functionArgs f) pkgs // args);
          buildGoModule =
            attrs:
            attrs
            // {
              _fake = "buildGoModule";
              type = "derivation";
              outPath = "/nix/store/00000000000000000000000000000000-${attrs.pname}-${attrs.version}";
            };
          mkShell = attrs: attrs // { _fake = "mkShell"; };
          go = fakePkgs.fake "go-1.25";
          go_1_26 = fakePkgs.fake "go-1.26";
          ansible = fakePkgs.fake "ansible-core";
          ansible-lint = fakePkgs.fake "ansible-lint";
          nix = fakePkgs.fake "nix";
          gnumake = fakePkgs.fake "gnumake";
          git = fakePkgs.fake "git";
          openssh = fakePkgs.fake "openssh";
          zstd = fakePkgs.fake "zstd";
        };
    in
    pkgs;
in
{
  inherit lib;
  legacyPackages = lib.genAttrs lib.platforms.linux pkgsFor;
}
