# Hypervisor hv2: its NIC, address and CPU.
{
  networking.hostName = "hv2";
  virtualization.cpuVendor = "amd";
  microvm-bridge = {
    physicalNic = "enp1s0";
    address = "198.18.0.12/24";
  };
}
