# Stand-in packages: derivation-shaped attribute sets whose store paths are
# readable in test output.
let
  fake = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };
in
{
  inherit fake;
  kmod = fake "kmod";
  util-linux = fake "util-linux";
  libvirt = fake "libvirt";
  qemu_kvm = fake "qemu-kvm";
  k0s = fake "k0s";
}
