# The site's hypervisors (NixOS hosts that run the VMs), by inventory name.
{
  hv1 = ./hv1.nix;
  hv2 = ./hv2.nix;
}
