package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/business-operations/bo.microvm/internal/nix"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

// step is one change: what a person would call it, how to make it, and what it does to the
// view (so check mode's diff is the same as a real run's).
type step struct {
	what   string
	do     func() error
	effect func(v view)
}

func fail(r *VM, err error) *VM {
	r.Failed = true
	r.Msg = err.Error()
	var ne *nix.Error
	if errors.As(err, &ne) {
		r.LogTail = ne.Tail
	}
	return r
}

// lockAndRead takes the VM's lock (not in check mode, which changes nothing) and reads its
// state directory into r. The returned unlock is always safe to call.
func (in *Installer) lockAndRead(ctx context.Context, req Request, r *VM) (statedir.VM, func(), error) {
	unlock := func() {}
	if !req.Check {
		u, err := in.Host.Lock(ctx, r.Name)
		if err != nil {
			return statedir.VM{}, unlock, err
		}
		unlock = u
	}
	vm, err := in.Host.Read(r.Name)
	r.Dir = vm.Dir
	if err != nil {
		return vm, unlock, err
	}
	r.Previous, r.Current, r.Booted = vm.Current, vm.Current, vm.Booted
	return vm, unlock, nil
}

// present installs one VM's runner (or predicts it in check mode).
// built is the VM's runner from the flake, evaluated (and built) with the other VMs' by runners.
func (in *Installer) present(ctx context.Context, req Request, name string, st systemd.UnitState, built *runner) *VM {
	r := &VM{Name: name, State: "present", Changes: []string{}, Flake: req.Flake,
		ActiveState: st.ActiveState, Running: running(st)}
	vm, unlock, err := in.lockAndRead(ctx, req, r)
	defer unlock()
	if err != nil {
		return fail(r, err)
	}
	if vm.Declarative {
		return fail(r, fmt.Errorf("VM %s is declared in the hypervisor's NixOS configuration (microvm.vms.%s; %s/toplevel exists): "+
			"its install-microvm-%s.service owns %s/current and a host switch would undo this install. "+
			"Change it in the host configuration, or remove it from microvm.vms there to manage it with bo.microvm", name, name, vm.Dir, name, vm.Dir))
	}

	var target string
	switch {
	case req.Flake == "":
		target = req.Runners[name]
		if err := in.checkRunner(ctx, target); err != nil {
			return fail(r, err)
		}
	case built == nil: // not built: declared by the host (refused above) or not in the batch
		return fail(r, fmt.Errorf("VM %s: no runner was built for it", name))
	default:
		r.Installable = built.installable
		if built.err != nil {
			return fail(r, built.err)
		}
		target = built.target
	}

	before, err := in.readView(name)
	if err != nil {
		return fail(r, err)
	}
	steps, err := in.planPresent(vm, target, req.Flake)
	if err != nil {
		return fail(r, err)
	}
	after := before.clone()
	for _, s := range steps {
		r.Changes = append(r.Changes, s.what)
		s.effect(after)
	}
	r.before, r.after = before.String(), after.String()
	r.Changed = len(steps) > 0
	r.Current = target

	if !req.Check {
		for _, s := range steps {
			if err := s.do(); err != nil {
				fail(r, fmt.Errorf("%s: %w", s.what, err))
				break
			}
		}
		// Verify from the host, not from what was meant to happen.
		now, err := in.Host.Read(name)
		if err != nil && !r.Failed {
			fail(r, err)
		}
		r.Current, r.Booted = now.Current, now.Booted
		if !r.Failed && now.Current != target {
			fail(r, fmt.Errorf("after the swap %s/current points at %q, not at the new runner %s", vm.Dir, now.Current, target))
		}
	}
	r.RestartRequired = r.Running && r.Current != "" && r.Booted != r.Current
	return r
}

// checkRunner makes sure a given runner is on the host, complete, and a runner.
func (in *Installer) checkRunner(ctx context.Context, runner string) error {
	if _, err := os.Stat(in.Host.Path(runner)); err != nil {
		return fmt.Errorf("runner: %s is not on the hypervisor (copy it first, e.g. nix copy --to ssh-ng://root@HOST %s): %w", runner, runner, err)
	}
	if _, err := os.Stat(in.Host.Path(filepath.Join(runner, "bin", "microvm-run"))); err != nil {
		return fmt.Errorf("runner: %s has no bin/microvm-run, so it is not a microvm.nix runner (use config.microvm.declaredRunner, not the system toplevel)", runner)
	}
	ok, err := in.Nix.Valid(ctx, runner)
	if err != nil {
		return fmt.Errorf("runner: check %s with nix: %w", runner, err)
	}
	if !ok {
		return fmt.Errorf("runner: nix does not know %s as a valid store path (an interrupted copy?); copy it again", runner)
	}
	return nil
}

// planPresent lists the changes that make vm run target from flake (flake "" leaves the
// flake file alone).
func (in *Installer) planPresent(vm statedir.VM, target, flake string) ([]step, error) {
	var steps []step
	sd := in.Host.StateDirPath()
	dir := in.Host.VMDir(vm.Name)
	noop := func(view) {}

	if _, err := os.Stat(sd); errors.Is(err, fs.ErrNotExist) {
		steps = append(steps, step{what: "create " + in.hostPath(sd), do: func() error { return in.mkdirOwned(sd) }, effect: noop})
	} else if err != nil {
		return nil, err
	}
	if !vm.Exists {
		steps = append(steps, step{what: fmt.Sprintf("create %s (mode %04o)", vm.Dir, DirMode), do: func() error { return in.mkdirOwned(dir) }, effect: noop})
	} else if bad, err := in.wrongOwnerOrMode(dir); err != nil {
		return nil, err
	} else if bad != "" {
		steps = append(steps, step{what: fmt.Sprintf("set %s to %s (was %s)", vm.Dir, in.ownerModeText(), bad),
			do: func() error { return in.fixOwned(dir) }, effect: noop})
	}
	if vm.Current != target {
		what := "current -> " + target
		if vm.Current != "" {
			what = fmt.Sprintf("current: %s -> %s", vm.Current, target)
		}
		link := filepath.Join(dir, "current")
		steps = append(steps, step{what: what,
			do: func() error {
				if err := statedir.SwapSymlink(link, target); err != nil {
					return err
				}
				return os.Lchown(link, in.Owner.UID, in.Owner.GID)
			},
			effect: func(v view) { v[dirKey("current")] = linkLine("current", target) }})
	}
	if flake != "" {
		p := filepath.Join(dir, "flake")
		old, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read %s/flake: %w", vm.Dir, err)
		}
		if err != nil || string(old) != flake {
			steps = append(steps, step{what: fmt.Sprintf("write %s/flake: %s", vm.Dir, flake),
				do: func() error {
					// As `microvm -c`: the flakeref without a trailing newline.
					if err := statedir.WriteFile(p, []byte(flake), FlakeFileMode); err != nil {
						return err
					}
					return os.Chown(p, in.Owner.UID, in.Owner.GID)
				},
				effect: func(v view) { v[dirKey("flake")] = flakeLine(flake) }})
		}
	}
	for _, kind := range []string{"", "booted"} {
		link := in.Host.GCRoot(vm.Name, kind)
		want := filepath.Join(vm.Dir, "current")
		if kind == "booted" {
			want = filepath.Join(vm.Dir, "booted")
		}
		if got, err := os.Readlink(link); err == nil && got == want {
			continue
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read GC root %s: %w", in.hostPath(link), err)
		}
		steps = append(steps, step{what: "gcroot " + linkLine(in.hostPath(link), want),
			do: func() error {
				if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
					return err
				}
				return statedir.SwapSymlink(link, want)
			},
			effect: func(v view) { v[rootKey(in.hostPath(link))] = "gcroot " + linkLine(in.hostPath(link), want) }})
	}
	return steps, nil
}

func (in *Installer) mkdirOwned(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, DirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return in.fixOwned(dir)
}

func (in *Installer) fixOwned(dir string) error {
	if err := os.Chown(dir, in.Owner.UID, in.Owner.GID); err != nil {
		return err
	}
	return os.Chmod(dir, DirMode) // umask does not apply to chmod
}

// wrongOwnerOrMode describes dir's owner and mode when they differ from the wanted ones.
func (in *Installer) wrongOwnerOrMode(dir string) (string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", err
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	bad := st.Mode().Perm() != DirMode
	if sys != nil {
		bad = bad || (in.Owner.UID >= 0 && int(sys.Uid) != in.Owner.UID) || (in.Owner.GID >= 0 && int(sys.Gid) != in.Owner.GID)
	}
	if !bad {
		return "", nil
	}
	if sys == nil {
		return fmt.Sprintf("mode %04o", st.Mode().Perm()), nil
	}
	return fmt.Sprintf("%d:%d %04o", sys.Uid, sys.Gid, st.Mode().Perm()), nil
}

func (in *Installer) ownerModeText() string {
	id := func(n int) string {
		if n < 0 {
			return "-"
		}
		return fmt.Sprint(n)
	}
	return strings.Join([]string{id(in.Owner.UID), ":", id(in.Owner.GID), fmt.Sprintf(" %04o", DirMode)}, "")
}
