# The k0s unit that nixos/modules/microvm/guest.nix declares for one VM, evaluated with the
# module-system stand-in of tests/nix (fake/eval.nix: NixOS's merge rules, no nixpkgs; its
# k0s package is fake/pkgs.nix's, /nix/store/000…-k0s). TestBootstrapNixOS renders it into a
# lab systemd guest as NixOS writes units and puts the k0s contract fake at that store path.
#   nix-instantiate --eval --strict --json tests/e2e/nixos/k0s-unit.nix \
#     --argstr name sysd --argstr mac 02:00:00:00:01:21 --argstr address 198.19.3.121 \
#     --argstr gateway 198.19.3.1 --argstr role controller+worker --arg bootstrap true
{ name, mac, address, gateway, role, bootstrap }:
let
  pkgs = import ../../nix/fake/pkgs.nix;
  out = (import ../../nix/fake/eval.nix {
    module = ../../../nixos/modules/microvm/guest.nix;
    settings.microvm-guest = {
      enable = true;
      inherit name;
      network = { inherit mac address gateway; };
      volumes = [ { path = "var.img"; size = 64; label = "var"; mountPoint = "/var"; } ];
      k0s = { inherit role bootstrap; package = pkgs.k0s; };
    };
  }).out;
in
{
  service = out.systemd.services.k0s;
  # environment.systemPackages: NixOS links their bin/ into /run/current-system/sw/bin.
  systemPackages = map (p: p.outPath) out.environment.systemPackages;
}
