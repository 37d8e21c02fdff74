# The guest system of a VM with the systemd guest (guest-systemd.nix): what the runner boots
# and what a switch activates, standing in for a NixOS system's toplevel. It has one unit,
# bo-lab-generation.service (a oneshot that records the generation in /run/bo-generation,
# wanted by multi-user.target, as NixOS links a unit's wantedBy into the system's
# etc/systemd/system), so a new generation is a changed unit, and a switch-to-configuration
# that does what NixOS's does with units (nixos/modules/system/activation/switch-to-configuration,
# reduced): the new system's units where systemd reads them (/etc/systemd/system, which the
# guest's stage 1 fills from the booted system before systemd starts, as a NixOS boot links
# /etc from the system before it execs systemd), a daemon-reload, the changed and new units
# restarted; /run/current-system names the active system. With it, the closure registration
# microvm.nix puts on the guest's command line (regInfo=, registerClosure; store-disk.nix at
# 71beea00: pkgs.closureInfo { rootPaths = [ toplevel ]; }), made here as closureInfo makes
# its `registration`: the `nix-store --load-db` format (path, NAR hash, NAR size, deriver,
# references) of every path in the system's closure.
{ name, vm, mkDerivation, str }:
let
  generation = str vm.generation;
  toplevel = mkDerivation "nixos-system-${name}-${generation}" {
    inherit generation;
    hostName = name;
  } ''
    set -e
    mkdir -p "$out/bin" "$out/etc/systemd/system/multi-user.target.wants"
    printf '%s\n' "$generation" >"$out/generation"
    printf 'lab-%s\n' "$generation" >"$out/nixos-version"
    # Before=ssh.service: a guest that answers SSH has run its system's unit.
    cat >"$out/etc/systemd/system/bo-lab-generation.service" <<EOS
    [Unit]
    Description=Lab guest configuration of $hostName, generation $generation
    Before=ssh.service

    [Service]
    Type=oneshot
    RemainAfterExit=yes
    ExecStart=/bin/sh -c 'echo $generation >/run/bo-generation'
    EOS
    ln -s ../bo-lab-generation.service "$out/etc/systemd/system/multi-user.target.wants/bo-lab-generation.service"
    cat >"$out/bin/switch-to-configuration" <<EOS
    #!/bin/sh
    # switch-to-configuration of generation $generation of $hostName (a systemd lab guest).
    set -e
    sys=$out
    case "\$1" in
    switch | test)
      changed=""
      for f in "\$sys"/etc/systemd/system/*.service; do
        u=\''${f##*/}
        if ! cmp -s "\$f" "/etc/systemd/system/\$u"; then
          cp "\$f" "/etc/systemd/system/.\$u.new"
          mv "/etc/systemd/system/.\$u.new" "/etc/systemd/system/\$u"
          changed="\$changed \$u"
        fi
      done
      ln -sfn "\$sys" /run/current-system
      systemctl daemon-reload
      if [ -n "\$changed" ]; then
        echo "restarting the following units:\$changed"
        systemctl restart \$changed
      fi
      ;;
    boot) echo "switch-to-configuration boot: nothing to do in a lab guest (the runner names the system it boots)" ;;
    dry-activate) echo "would activate generation $generation (\$sys)" ;;
    *) echo "usage: switch-to-configuration switch|boot|test|dry-activate" >&2; exit 1 ;;
    esac
    EOS
    chmod 0755 "$out/bin/switch-to-configuration"
  '';
  # exportReferencesGraph writes the closure as path, deriver, count, references; the
  # registration adds each path's NAR hash and size (nix-store --dump of the path).
  closureInfo = mkDerivation "closure-info" {
    exportReferencesGraph = [ "closure" toplevel ];
  } ''
    set -e
    mkdir -p "$out"
    : >"$out/registration"
    while read -r p; do
      read -r deriver
      read -r n
      printf '%s\n%s\n%s\n\n%s\n' "$p" "$(nix-store --dump "$p" | sha256sum | cut -d' ' -f1)" \
        "$(nix-store --dump "$p" | wc -c)" "$n" >>"$out/registration"
      i=0
      while [ "$i" -lt "$n" ]; do
        read -r ref
        printf '%s\n' "$ref" >>"$out/registration"
        i=$((i + 1))
      done
      printf '%s\n' "$p" >>"$out/store-paths"
    done <closure
  '';
in
{
  inherit toplevel;
  registration = "${closureInfo}/registration";
}
