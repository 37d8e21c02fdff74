package install

import (
	"context"
	"fmt"

	"github.com/business-operations/bo.microvm/internal/systemd"
)

// rollback puts one VM's current back on its previous runner, the one old points at (kept by
// oldStep at each install that changed current), or predicts it in check mode. old stays where
// it is, so old = current afterwards: a second rollback finds nothing to do (the module is
// idempotent; rolling back is not a toggle), and the runner rolled back from loses its GC root
// unless the VM still runs it (booted). A later install of a new runner keeps the rolled-back
// one as old again. Like an install it never restarts: a running VM then reports
// restart_required, and microvm_service (or the rollback playbook) restarts it.
//
// microvm.nix has no rollback of its own: `microvm -u` builds over current and keeps nothing
// (pkgs/microvm-command.nix at 71beea00), installOnHost keeps old and its GC root old-<name>
// (nixos-modules/microvm/ssh-deploy.nix) but never uses it; this reads the same old link.
func (in *Installer) rollback(ctx context.Context, req Request, name string, st systemd.UnitState) *VM {
	r := &VM{Name: name, State: "present", Changes: []string{}, ActiveState: st.ActiveState, Running: st.Running()}
	vm, unlock, err := in.lockAndRead(ctx, req, r)
	defer unlock()
	if err != nil {
		return fail(r, err)
	}
	switch {
	case vm.Declarative:
		return fail(r, fmt.Errorf("VM %s is declared in the hypervisor's NixOS configuration (%s/toplevel exists): "+
			"roll it back with the host's configuration (nixos-rebuild --rollback), not with this module", name, vm.Dir))
	case !vm.Exists || vm.Current == "":
		return fail(r, fmt.Errorf("VM %s has no runner installed (%s/current does not exist): nothing to roll back", name, vm.Dir))
	case vm.Old == "":
		return fail(r, fmt.Errorf("VM %s has no previous runner to roll back to (%s/old does not exist): "+
			"microvm_install keeps the runner current pointed at before each change of current, so there is one only after a second, different install", name, vm.Dir))
	}
	if vm.Old != vm.Current {
		if err := in.checkRunner(ctx, vm.Old); err != nil {
			return fail(r, fmt.Errorf("VM %s: its previous runner %s (%s/old) cannot be used: %w", name, vm.Old, vm.Dir, err))
		}
	}
	before, err := in.readView(name)
	if err != nil {
		return fail(r, err)
	}
	r.Current = vm.Old
	steps := append([]plannedStep{in.currentStep(vm, vm.Old, "point current back at the previous runner")}, in.rootSteps(vm, true)...)
	if err := runSteps(ctx, steps, req.Check, r, before); err != nil {
		fail(r, err)
	}
	if !req.Check {
		in.verifyCurrent(name, vm, r, vm.Old, "after the rollback", "the previous runner")
	}
	r.RestartRequired = r.Running && r.Current != "" && r.Booted != r.Current
	return r
}
