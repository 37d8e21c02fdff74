# Host config of VM k0s-w1: a worker with more memory than the profile gives.
{
  microvm-guest = {
    name = "k0s-w1";
    mem = 4096;
    network = {
      address = "198.18.0.102";
      mac = "02:00:00:00:02:01";
    };
    k0s.role = "worker";
  };
}
