package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/business-operations/bo.microvm/internal/step"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

// managed are the entries of a VM directory that microvm.nix (and this package) make and
// that hold no data: removing a VM always removes them. Everything else (volume images,
// share sources, the persistent etc with the VM's SSH host keys) is data and is kept unless
// purge is set.
var managed = map[string]bool{"current": true, "booted": true, "flake": true, "old": true, "new": true}

// leftover reports whether an entry is a temp file of an interrupted atomic write.
func leftover(name string) bool {
	return strings.HasPrefix(name, ".flake.tmp-") || strings.HasPrefix(name, "current.tmp-")
}

// absent removes one stopped VM (or predicts it in check mode).
func (in *Installer) absent(ctx context.Context, req Request, name string, st systemd.UnitState) *VM {
	r := &VM{Name: name, State: "absent", Changes: []string{}, ActiveState: st.ActiveState, Running: st.Running()}
	vm, unlock, err := in.lockAndRead(ctx, req, r)
	defer unlock()
	if err != nil {
		return fail(r, err)
	}
	if vm.Declarative {
		return fail(r, fmt.Errorf("VM %s is declared in the hypervisor's NixOS configuration (%s/toplevel exists): "+
			"remove it from microvm.vms in the host configuration instead; this module would only see it come back", name, vm.Dir))
	}
	if !stopped(st) {
		return fail(r, fmt.Errorf("VM %s is %s (%s): stop it first (bo.microvm.microvm_service with state: stopped); "+
			"removing a running VM's directory would pull its runner and disks from under it", name, st.ActiveState, systemd.MicroVMUnit(name)))
	}

	before, err := in.readView(name)
	if err != nil {
		return fail(r, err)
	}
	after := before.clone()
	dir := in.Host.VMDir(name)
	var steps []plannedStep
	// Each removal was found by reading the directory just now: its check only reports it.
	change := func(what string, do func() error) plannedStep {
		return plannedStep{Step: step.Step{Title: what,
			Check: func(context.Context) (bool, string, error) { return true, what, nil },
			Do:    func(context.Context) error { return do() }}}
	}
	if vm.Exists {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fail(r, fmt.Errorf("read %s: %w", vm.Dir, err))
		}
		var remove []string
		for _, e := range entries {
			if req.Purge || managed[e.Name()] || leftover(e.Name()) || e.Type()&fs.ModeSocket != 0 {
				remove = append(remove, e.Name())
			} else {
				r.Kept = append(r.Kept, e.Name())
			}
		}
		r.Removed = append(r.Removed, remove...)
		switch {
		case req.Purge:
			steps = append(steps, change("delete "+vm.Dir+" and everything in it", func() error { return os.RemoveAll(dir) }))
		case len(remove) > 0:
			steps = append(steps, change(fmt.Sprintf("remove %s from %s", strings.Join(remove, ", "), vm.Dir), func() error {
				for _, n := range remove {
					if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
						return err
					}
				}
				return nil
			}))
		}
		if len(r.Kept) == 0 && !req.Purge {
			steps = append(steps, change("remove the empty "+vm.Dir, func() error { return os.Remove(dir) }))
		}
		for _, n := range remove {
			delete(after, dirKey(n))
		}
	}
	for _, kind := range []string{"", "booted", "old"} {
		link := in.Host.GCRoot(name, kind)
		if _, err := os.Lstat(link); errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return fail(r, fmt.Errorf("read GC root %s: %w", in.hostPath(link), err))
		}
		r.Removed = append(r.Removed, in.hostPath(link))
		steps = append(steps, change("remove gcroot "+in.hostPath(link), func() error { return os.Remove(link) }))
		delete(after, rootKey(in.hostPath(link)))
	}
	r.Current, r.Booted = "", ""
	if len(r.Kept) > 0 {
		r.Msg = fmt.Sprintf("kept %s in %s (volume images, share sources, the persistent etc: the VM's data and SSH identity); purge: true deletes them", strings.Join(r.Kept, ", "), vm.Dir)
	}
	err = runSteps(ctx, steps, req.Check, r, before)
	r.before, r.after = before.String(), after.String()
	if err != nil {
		fail(r, err)
		now, _ := in.Host.Read(name)
		r.Current, r.Booted = now.Current, now.Booted
	}
	return r
}
