# Hypervisor hv1: its NIC, address and CPU.
{
  networking.hostName = "hv1";
  virtualization.cpuVendor = "intel";
  microvm-bridge = {
    physicalNic = "eno1";
    address = "198.18.0.11/24";
  };
}
