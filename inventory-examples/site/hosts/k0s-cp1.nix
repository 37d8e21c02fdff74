# Host config of VM k0s-cp1: the first controller, which also runs workloads.
{
  microvm-guest = {
    name = "k0s-cp1";
    network = {
      address = "198.18.0.101";
      mac = "02:00:00:00:01:01";
    };
    k0s = {
      role = "controller+worker";
      bootstrap = true;
    };
  };
}
