# The evaluation cost model of the lab's site flake (tests/lab/README.md,
# "Evaluation cost"). A real site flake imports nixpkgs (paid once per nix
# evaluation, shared by every system in it) and evaluates one NixOS system per
# VM (paid per VM, and kept in memory until the evaluation ends: nix holds
# every evaluated value, NixOS/nix#2232). The lab flake has neither, so this
# file stands in for both with pure-nix burners that nix 2.8 evaluates:
#   memory: that many strings of 1 MB, held by the flake's outputs until the
#           evaluation ends (nix 2.8 copies each string into its GC heap);
#   CPU:    additions over short lists (each list is garbage after its sum,
#           so the CPU burner adds little memory of its own).
#
# cost.json next to flake.nix (written by `lab up` from BO_LAB_EVAL_COST)
# sets the sizes; without it everything is 0 and costs nothing:
#   { "shared_mb": 300, "shared_cpu_ms": 3000, "per_vm_mb": 100, "per_vm_cpu_ms": 1000 }
# Calibration (nix 2.8.0, this 2-core machine, measured 2026-12-01 with
# /usr/bin/time, load average 20): with this file, one VM evaluated in 2.3 s
# CPU (user + system) and 489 MB max RSS for a model of 4 s and 400 MB; eight
# VMs in one evaluation 7.2 s and 1.33 GB for a model of 11 s and 1.1 GB; so
# 10,000 additions stand for about 1 ms of CPU.
{ shared_mb ? 0, shared_cpu_ms ? 0, per_vm_mb ? 0, per_vm_cpu_ms ? 0 }:
let
  kb = builtins.concatStringsSep "" (builtins.genList (i: "0123456789abcdef") 64);
  mb = builtins.concatStringsSep "" (builtins.genList (i: kb) 1024);
  # memory N SEED: N distinct strings of 1 MB (each made on its own, so the
  # peak is what is held, not a copy of it).
  memory = n: seed: builtins.genList (i: mb + seed + toString i) n;
  # cpu MS SEED: about MS milliseconds of additions.
  chunk = 10000;
  cpu = ms: seed: builtins.foldl' (acc: c: acc + builtins.foldl' builtins.add c (builtins.genList (i: i) chunk))
    seed (builtins.genList (i: i) ms);
  # burn: both, forced together; the result holds the string.
  burn = n: ms: seed:
    let s = memory n seed; in builtins.seq (cpu ms (builtins.stringLength seed)) (builtins.deepSeq s s);
in
{
  # Stands for importing nixpkgs: forced once per evaluation.
  shared = burn shared_mb shared_cpu_ms "shared";
  # Stands for evaluating one NixOS system: forced by that VM's runner.
  perVM = name: burn per_vm_mb per_vm_cpu_ms name;
}
