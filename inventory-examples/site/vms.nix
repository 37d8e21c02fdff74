# The site's VMs: the hypervisor that runs each one and the modules of its
# NixOS configuration (a profile, then the VM's own host config).
# ../inventory-microvm.yaml says the same (microvm_host and the per-VM values);
# bo.microvm's tests/nix checks that the two agree.
{
  k0s-cp1 = {
    hypervisor = "hv1";
    modules = [
      ./profiles/k0s-node.nix
      ./hosts/k0s-cp1.nix
    ];
  };
  k0s-w1 = {
    hypervisor = "hv2";
    modules = [
      ./profiles/k0s-node.nix
      ./hosts/k0s-w1.nix
    ];
  };
}
