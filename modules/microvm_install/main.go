// Command microvm_install is the bo.microvm.microvm_install module: put VMs' runners on
// their hypervisor (build from the site flake, or a copied store path), or remove stopped VMs.
package main

import (
	"context"
	"time"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/install"
	"github.com/business-operations/bo.microvm/internal/nix"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/step"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

func main() {
	ansible.Main(ansible.Module{
		Name:             "microvm_install",
		ShortDescription: "Install a microVM's runner on its microvm.nix hypervisor, or remove a stopped VM",
		Description: []string{
			"Does what C(microvm -c) and C(microvm -u) do, without their flaws. For each VM in O(name) it builds the runner C(<flake>#nixosConfigurations.<name>.config.microvm.declaredRunner) with nix on the hypervisor into a temporary out-link B(first), then points the VM's C(current) link at it atomically. A failed build leaves the previous C(current) in place.",
			"It writes the VM's C(flake) file (the flakeref without a trailing newline, as C(microvm -c)), makes the VM directory C(microvm:kvm) mode C(0775) so the hypervisor user can create sockets, images and C(booted) there, and keeps the GC roots C(/nix/var/nix/gcroots/microvm/<name>) -> C(<dir>/current) and C(booted-<name>) -> C(<dir>/booted), so nix garbage collection never deletes a running VM's runner.",
			"Never starts, stops or restarts a VM. It reports per VM whether the VM is running and whether it needs a restart (C(booted) differs from C(current)); M(bo.microvm.microvm_service) acts on that.",
			"Refuses a VM that the hypervisor's NixOS configuration declares (a C(toplevel) link in its directory, from C(microvm.vms)), whose C(current) the host owns.",
			"With O(state=absent) it removes a B(stopped) VM: C(current), C(booted), C(flake), C(old), C(new), sockets and the GC roots. Every other file in the directory (volume images, share sources) is kept in place unless O(purge=true), and the directory goes only once it is empty, so a later install finds its data again.",
			"The runners of all VMs of one task are evaluated in B(one) C(nix eval) and built in one C(nix build --keep-going) of the derivations it named, so the site flake (and the nixpkgs it imports) is evaluated once per hypervisor, not once per VM. When a build fails, nix makes no out-link at all, so each VM is then built again alone (a built one only gets its out-link; the failing one gives its own build log).",
			"The VMs are then installed in parallel (at most O(parallel) at once), each under a per-VM lock shared with the other bo.microvm modules. A failure of one VM does not stop the others: the task fails and every VM's outcome is under RV(vms).",
		},
		Notes: []string{
			"Check mode evaluates the C(outPath) of every VM's runner in one C(nix eval) and compares it with C(current); it builds nothing and changes nothing on the host (nix may still copy the flake source and derivations into the store, as any evaluation does). A build that fails after a successful evaluation is predicted as a change.",
			"The runners an evaluation gave are remembered in C(/var/cache/bo-microvm/eval) on the hypervisor, keyed by the flake's fingerprint (C(nix flake metadata): the locked source and lock file, what nix's own evaluation cache keys on). A run whose flake is unchanged evaluates nothing and builds nothing for VMs already on their runner. Check mode reads it and never writes it; an entry whose derivations the garbage collector took is not used; O(nix_options) with C(--impure) disables it.",
			"Works with nix 2.8 (Debian) and newer, with no flag newer than 2.8; the experimental features C(nix-command flakes) are enabled per call. The flake's C(flake.lock) is never written (C(--no-write-lock-file)).",
			"Runs as root on the hypervisor: delegate the task to the VM's C(microvm_host).",
		},
		Spec: ansible.Spec{
			Options: []ansible.Option{
				{Name: "name", Type: ansible.List, Elements: ansible.Str, Required: true, Description: []string{"The VMs: state directory names, equal to their C(nixosConfigurations) attribute. One name or a list, handled in one invocation; an empty list does nothing (a hypervisor without VMs in a batch).", "At most 12 characters (the tap id C(vm-<name>) must fit 15), letters, digits, C(-), C(_), C(.)."}},
				{Name: "state", Default: "present", Choices: []any{"present", "absent"}, Description: []string{"V(present) installs or updates the runner; V(absent) removes a stopped VM."}},
				{Name: "flake", Description: []string{"Flakeref of the site flake as the hypervisor sees it, e.g. V(path:/srv/site) or V(git+https://git.example/site?ref=main). Local paths must be absolute; no C(#fragment).", "Stored in the VM's C(flake) file."}},
				{Name: "runner", Type: ansible.Raw, Description: []string{"Instead of O(flake): a runner store path already on the hypervisor (e.g. after C(nix copy) from the controller), for one VM; or a dict of VM name to store path for a list. Must contain C(bin/microvm-run) and be valid in the nix store. The C(flake) file is left as it is."}},
				{Name: "purge", Type: ansible.Bool, Default: false, Description: []string{"With O(state=absent): also delete every other file in the VM directory, volume images included. Their data is gone."}},
				{Name: "state_dir", Type: ansible.Path, Default: statedir.DefaultStateDir, Description: []string{"microvm.nix's C(microvm.stateDir) on the hypervisor."}},
				{Name: "owner", Default: "microvm", Description: []string{"Owner of the VM directory, C(current) and C(flake) (microvm.nix's hypervisor user)."}},
				{Name: "group", Default: "kvm", Description: []string{"Group of the VM directory, C(current) and C(flake)."}},
				{Name: "nix_options", Type: ansible.List, Elements: ansible.Str, Default: []any{}, Description: []string{"Extra arguments for C(nix build) and C(nix eval), e.g. V([--option, substituters, \"\"]) or V([--override-input, nixpkgs, path:/srv/nixpkgs]). Never shown in the module's messages; like every module argument they do appear in the task's C(invocation), so keep tokens in the hypervisor's C(nix.conf) (C(access-tokens)) rather than here."}},
				{Name: "parallel", Type: ansible.Int, Default: install.DefaultParallel, Description: []string{"How many VMs are installed at once. The builds run in one nix call, as parallel as the hypervisor's nix C(max-jobs) allows."}},
				{Name: "timeout", Type: ansible.Int, Default: 3600, Description: []string{"Seconds the whole task may take (builds, lock waits). When it passes, running builds are stopped and their VMs keep their previous runner."}},
			},
			Rules: ansible.Rules{MutuallyExclusive: [][]string{{"flake", "runner"}}},
		},
		CheckMode: ansible.Full,
		DiffMode:  ansible.Full,
		Timeout:   24 * time.Hour,
		Examples: `
- name: Install the VMs of this hypervisor from the site flake
  bo.microvm.microvm_install:
    name: [k0s-cp1, k0s-w1]
    flake: path:/srv/site
  register: install

- name: Show which running VMs need a restart for their new runner
  ansible.builtin.debug:
    var: install.restart_required

- name: Install a runner copied from the controller
  bo.microvm.microvm_install:
    name: k0s-cp1
    runner: /nix/store/0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p-microvm-qemu-k0s-cp1

- name: Remove a stopped VM, keeping its volume images
  bo.microvm.microvm_install:
    name: k0s-w1
    state: absent

- name: Remove a stopped VM and delete its data
  bo.microvm.microvm_install:
    name: k0s-w1
    state: absent
    purge: true
`,
		Returns: []ansible.Return{
			{Name: "vms", Type: "dict", Returned: "always", Description: "Outcome per VM, keyed by VM name.", Contains: []ansible.Return{
				{Name: "changed", Type: "bool", Returned: "always", Description: "This VM changed (or would, in check mode)."},
				{Name: "failed", Type: "bool", Returned: "always", Description: "This VM failed; the others are still done."},
				{Name: "msg", Type: "str", Returned: "when failed, or when state=absent kept files", Description: "What went wrong and what to do, or which files were kept."},
				{Name: "dir", Type: "str", Returned: "always", Description: "The VM directory.", Sample: "/var/lib/microvms/k0s-cp1"},
				{Name: "current", Type: "str", Returned: "always", Description: "Runner C(current) points at after the run (predicted in check mode); empty after removal.", Sample: "/nix/store/0a1b...-microvm-qemu-k0s-cp1"},
				{Name: "previous", Type: "str", Returned: "always", Description: "Runner C(current) pointed at before the run; empty on a fresh install."},
				{Name: "booted", Type: "str", Returned: "always", Description: "Runner the running VM was started from; empty when it is not running."},
				{Name: "running", Type: "bool", Returned: "always", Description: "The VM's unit C(microvm@<name>.service) is active."},
				{Name: "active_state", Type: "str", Returned: "always", Description: "The unit's ActiveState.", Sample: "active"},
				{Name: "restart_required", Type: "bool", Returned: "always", Description: "The VM runs and C(booted) differs from C(current): a restart (or switch) applies the new runner."},
				{Name: "flake", Type: "str", Returned: "with flake", Description: "The flakeref written to the C(flake) file."},
				{Name: "installable", Type: "str", Returned: "with flake", Description: "What nix built or evaluated.", Sample: "path:/srv/site#nixosConfigurations.k0s-cp1.config.microvm.declaredRunner"},
				{Name: "changes", Type: "list", Elements: "str", Returned: "always", Description: "Each change made (or predicted), as a person would name it."},
				{Name: "steps", Type: "list", Elements: "dict", Returned: "always", Description: "The steps of installing or removing this VM, in order (empty when it failed before them). " + step.ReturnDoc},
				{Name: "removed", Type: "list", Elements: "str", Returned: "state=absent", Description: "Entries of the VM directory and GC roots removed."},
				{Name: "kept", Type: "list", Elements: "str", Returned: "state=absent without purge", Description: "Entries of the VM directory kept (volume images, share sources)."},
				{Name: "log_tail", Type: "str", Returned: "when the build or evaluation failed", Description: "The last lines of nix's output (the build log)."},
			}},
			{Name: "changed_vms", Type: "list", Elements: "str", Returned: "always", Description: "Names of the VMs that changed."},
			{Name: "restart_required", Type: "list", Elements: "str", Returned: "always", Description: "Names of the running VMs whose C(booted) differs from C(current)."},
			{Name: "failed_vms", Type: "list", Elements: "str", Returned: "always", Description: "Names of the VMs that failed."},
			{Name: "nix_version", Type: "str", Returned: "state=present", Description: "The hypervisor's nix version.", Sample: "2.8.0"},
		},
		Run: run,
	})
}

func run(ctx context.Context, inv *ansible.Invocation) (*ansible.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(inv.Params.Int("timeout"))*time.Second)
	defer cancel()
	req, err := install.RequestFrom(inv.Params, inv.CheckMode)
	if err != nil {
		return nil, err
	}
	owner, err := install.LookupOwner(inv.Params.Str("owner"), inv.Params.Str("group"))
	if err != nil {
		return nil, err
	}
	conn, err := systemd.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	in := &install.Installer{
		Host:  statedir.Host{StateDir: inv.Params.Str("state_dir")},
		Nix:   nix.Nix{Runner: command.Exec{}, Options: inv.Params.Strs("nix_options")},
		Units: conn,
		Owner: owner,
	}
	rep, err := in.Run(ctx, req)
	if err != nil {
		return nil, err
	}
	return rep.Result(), rep.Err()
}
