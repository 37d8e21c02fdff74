# Host module: a bridge (br0 by default) that holds the physical NIC, carries the
# host's address and takes every microVM tap (ids "vm-<name>"), so VMs are on the LAN.
#
# microvm.nix's tap-up creates the taps but does not attach them to a bridge;
# systemd-networkd does that here by matching the tap names.
{ config, lib, ... }:

let
  inherit (lib) mkDefault mkEnableOption mkIf mkOption types;

  cfg = config.microvm-bridge;
  staticAddress = cfg.address != null;
in
{
  options.microvm-bridge = {
    enable = mkEnableOption ''
      a bridge that enslaves the physical NIC and every microVM tap, giving the VMs
      direct LAN access. This switches the host's networking to systemd-networkd'';

    physicalNic = mkOption {
      type = types.strMatching "[^/[:space:]]{1,15}";
      example = "eno1";
      description = ''
        Name of the physical network interface to enslave to the bridge. The host's
        address moves from this interface to the bridge.
      '';
    };

    bridgeName = mkOption {
      type = types.strMatching "[^/[:space:]]{1,15}";
      default = "br0";
      description = "Name of the bridge device.";
    };

    tapPattern = mkOption {
      type = types.str;
      default = "vm-*";
      description = ''
        systemd-networkd `Name=` match for the microVM taps to attach to the bridge.
        bo.microvm names a VM's tap `vm-<name>`.
      '';
    };

    macAddress = mkOption {
      type = types.nullOr (types.strMatching "([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}");
      default = null;
      example = "3c:ec:ef:00:00:01";
      description = ''
        MAC address for the bridge. Set it to the physical NIC's address when a DHCP
        server or switch port security knows the host by that address; null lets
        systemd-networkd derive a stable one from the machine id.
      '';
    };

    address = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "198.18.0.11/24";
      description = ''
        Host address with prefix length on the bridge. null configures the bridge by
        DHCP (and IPv6 router advertisements).
      '';
    };

    gateway = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "198.18.0.1";
      description = "Default gateway, used only with a static `address`.";
    };

    nameservers = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "198.18.0.1" ];
      description = "DNS servers configured on the bridge.";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.gateway == null || staticAddress;
        message = "microvm-bridge.gateway needs microvm-bridge.address (with DHCP the gateway comes from the lease).";
      }
      {
        assertion = cfg.physicalNic != cfg.bridgeName;
        message = "microvm-bridge.physicalNic must differ from microvm-bridge.bridgeName.";
      }
    ];

    networking.useNetworkd = mkDefault true;
    networking.useDHCP = mkDefault false;
    systemd.network.enable = true;

    systemd.network.netdevs."10-${cfg.bridgeName}" = {
      netdevConfig =
        {
          Name = cfg.bridgeName;
          Kind = "bridge";
        }
        // lib.optionalAttrs (cfg.macAddress != null) { MACAddress = cfg.macAddress; };
    };

    # The NIC and the taps carry no addresses of their own: they are bridge ports.
    systemd.network.networks."10-${cfg.bridgeName}-uplink" = {
      matchConfig.Name = cfg.physicalNic;
      networkConfig.Bridge = cfg.bridgeName;
      linkConfig.RequiredForOnline = "enslaved";
    };

    systemd.network.networks."11-${cfg.bridgeName}-microvm-taps" = {
      matchConfig.Name = cfg.tapPattern;
      networkConfig.Bridge = cfg.bridgeName;
      # Taps exist only while their VM runs: never wait for them at boot.
      linkConfig.RequiredForOnline = "no";
    };

    systemd.network.networks."20-${cfg.bridgeName}" = {
      matchConfig.Name = cfg.bridgeName;
      address = lib.optional staticAddress cfg.address;
      gateway = lib.optional (cfg.gateway != null) cfg.gateway;
      dns = cfg.nameservers;
      networkConfig = {
        DHCP = if staticAddress then "no" else "yes";
        IPv6AcceptRA = !staticAddress;
      };
      linkConfig.RequiredForOnline = "routable";
    };
  };
}
