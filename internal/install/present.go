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
	"github.com/business-operations/bo.microvm/internal/step"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

// plannedStep is one step of the shared engine (internal/step) and what it does to the view
// when it changes something (so check mode's diff is the same as a real run's).
type plannedStep struct {
	step.Step
	effect func(v view)
}

// runSteps runs steps through the engine (in check mode: their checks only) and records them
// in r: the engine's report under steps, each change (the reason of a step that changed or
// would change) under changes, and the diff. An error names the step that failed.
func runSteps(ctx context.Context, steps []plannedStep, check bool, r *VM, before view) error {
	plain := make([]step.Step, len(steps))
	for i, s := range steps {
		plain[i] = s.Step
	}
	var rep step.Report
	err := step.Run(ctx, plain, check, &rep)
	after := before.clone()
	for i, res := range rep.Steps {
		if res.Status == step.Changed || res.Status == step.WouldChange {
			r.Changes = append(r.Changes, res.Reason)
			if steps[i].effect != nil {
				steps[i].effect(after)
			}
		}
	}
	r.Steps = rep.Steps
	r.Changed = rep.Changed
	r.before, r.after = before.String(), after.String()
	return err
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
	r.Previous, r.Current, r.Booted, r.Old = vm.Current, vm.Current, vm.Booted, vm.Old
	return vm, unlock, nil
}

// present installs one VM's runner (or predicts it in check mode).
// built is the VM's runner from the flake, evaluated (and built) with the other VMs' by runners.
func (in *Installer) present(ctx context.Context, req Request, name string, st systemd.UnitState, built *runner) *VM {
	r := &VM{Name: name, State: "present", Changes: []string{}, Flake: req.Flake,
		ActiveState: st.ActiveState, Running: st.Running()}
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
	r.Current = target
	if vm.Current != "" && vm.Current != target {
		r.Old = vm.Current
	}
	if req.HostKey != "" {
		if pub, ok, err := readHostKey(filepath.Join(in.Host.VMDir(name), req.HostKey)); err == nil && ok {
			before[hostKeyKey(req.HostKey)] = hostKeyLine(req.HostKey, pub)
		} // an unreadable key fails its step
	}
	if err := runSteps(ctx, in.planPresent(vm, target, req.Flake, req.HostKey, r), req.Check, r, before); err != nil {
		fail(r, err)
	}
	if !req.Check {
		in.verifyCurrent(name, vm, r, target, "after the swap", "the new runner")
	}
	r.RestartRequired = r.Running && r.Current != "" && r.Booted != r.Current
	return r
}

// checkRunner makes sure a given runner is on the host, complete, and a runner.
// verifyCurrent reads the VM back from the host (not from what was meant to happen) into r,
// and fails r when current is not want (what names it in the message).
func (in *Installer) verifyCurrent(name string, vm statedir.VM, r *VM, want, after, what string) {
	now, err := in.Host.Read(name)
	if err != nil && !r.Failed {
		fail(r, err)
	}
	r.Current, r.Booted, r.Old = now.Current, now.Booted, now.Old
	if !r.Failed && now.Current != want {
		fail(r, fmt.Errorf("%s %s/current points at %q, not at %s %s", after, vm.Dir, now.Current, what, want))
	}
}

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

// planPresent lists the steps that make vm run target from flake (flake "" leaves the flake
// file alone) and, with hostKey, have an SSH host key (see hostKeyStep), in the order they run. Each step's Check reads the host when the step's turn
// comes (so a directory created by an earlier step is seen), and its reason is the change as
// a person would name it, which the VM reports under changes.
func (in *Installer) planPresent(vm statedir.VM, target, flake, hostKey string, r *VM) []plannedStep {
	sd := in.Host.StateDirPath()
	dir := in.Host.VMDir(vm.Name)
	noop := func(view) {}
	steps := []plannedStep{
		{Step: step.Step{Title: "create the state directory",
			Check: func(context.Context) (bool, string, error) {
				if _, err := os.Stat(sd); errors.Is(err, fs.ErrNotExist) {
					return true, "create " + in.hostPath(sd), nil
				} else if err != nil {
					return false, "", err
				}
				return false, in.hostPath(sd) + " exists", nil
			},
			Do: func(context.Context) error { return in.mkdirOwned(sd) }}, effect: noop},
		{Step: step.Step{Title: "create the VM directory, owner and mode",
			Check: func(context.Context) (bool, string, error) {
				if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
					return true, fmt.Sprintf("create %s (mode %04o)", vm.Dir, DirMode), nil
				}
				bad, err := in.wrongOwnerOrMode(dir)
				if err != nil || bad == "" {
					return false, vm.Dir + " is " + in.ownerModeText(), err
				}
				return true, fmt.Sprintf("set %s to %s (was %s)", vm.Dir, in.ownerModeText(), bad), nil
			},
			Do: func(context.Context) error { return in.mkdirOwned(dir) }}, effect: noop},
	}
	if hostKey != "" {
		steps = append(steps, in.hostKeyStep(vm, hostKey, r))
	}
	steps = append(steps, in.oldStep(vm, target))
	steps = append(steps, in.currentStep(vm, target, "point current at the runner"))
	if flake != "" {
		p := filepath.Join(dir, "flake")
		steps = append(steps, plannedStep{Step: step.Step{Title: "write the flake file",
			Check: func(context.Context) (bool, string, error) {
				old, err := os.ReadFile(p)
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return false, "", fmt.Errorf("read %s/flake: %w", vm.Dir, err)
				}
				if err == nil && string(old) == flake {
					return false, vm.Dir + "/flake holds " + flake, nil
				}
				return true, fmt.Sprintf("write %s/flake: %s", vm.Dir, flake), nil
			},
			Do: func(context.Context) error {
				// As `microvm -c`: the flakeref without a trailing newline.
				if err := statedir.WriteFile(p, []byte(flake), FlakeFileMode); err != nil {
					return err
				}
				return os.Chown(p, in.Owner.UID, in.Owner.GID)
			}},
			effect: func(v view) { v[dirKey("flake")] = flakeLine(flake) }})
	}
	keepsOld := vm.Old != "" || (vm.Current != "" && vm.Current != target)
	return append(steps, in.rootSteps(vm, keepsOld)...)
}

// oldStep keeps the runner current points at, when the step's turn comes, as old (with its
// own GC root, see rootSteps) before current moves on, as microvm.nix's installOnHost does
// (nixos-modules/microvm/ssh-deploy.nix at 71beea00: rm -f old; mv current old): the runner
// a rollback returns to. The runner old pointed at before is then no longer rooted here, so
// nix's garbage collector can reclaim it (unless the VM still runs it: booted's root).
// Nothing changes when current is missing or already is target, or old already is current.
func (in *Installer) oldStep(vm statedir.VM, target string) plannedStep {
	dir := in.Host.VMDir(vm.Name)
	var keep string // the runner to keep, found by Check
	return plannedStep{Step: step.Step{Title: "keep the previous runner as old",
		Check: func(context.Context) (bool, string, error) {
			cur, err := readLinkOrEmpty(filepath.Join(dir, "current"))
			if err != nil {
				return false, "", fmt.Errorf("read %s/current: %w", vm.Dir, err)
			}
			prev, err := readLinkOrEmpty(filepath.Join(dir, "old"))
			if err != nil {
				return false, "", fmt.Errorf("read %s/old: %w", vm.Dir, err)
			}
			keep = cur
			switch {
			case cur == "":
				return false, "no runner installed before", nil
			case cur == target:
				if prev == "" {
					return false, "no previous runner", nil
				}
				return false, "old -> " + prev, nil
			case prev == cur:
				return false, "old -> " + cur, nil
			case prev != "":
				return true, fmt.Sprintf("old: %s -> %s", prev, cur), nil
			}
			return true, "old -> " + cur, nil
		},
		Do: func(context.Context) error {
			link := filepath.Join(dir, "old")
			if err := statedir.SwapSymlink(link, keep); err != nil {
				return err
			}
			return os.Lchown(link, in.Owner.UID, in.Owner.GID)
		}},
		effect: func(v view) { v[dirKey("old")] = linkLine("old", keep) }}
}

// currentStep points the VM's current link at target, atomically.
func (in *Installer) currentStep(vm statedir.VM, target, title string) plannedStep {
	link := filepath.Join(in.Host.VMDir(vm.Name), "current")
	return plannedStep{Step: step.Step{Title: title,
		Check: func(context.Context) (bool, string, error) {
			old, err := os.Readlink(link)
			switch {
			case err == nil && old == target:
				return false, "current -> " + target, nil
			case err == nil:
				return true, fmt.Sprintf("current: %s -> %s", old, target), nil
			case errors.Is(err, fs.ErrNotExist):
				return true, "current -> " + target, nil
			}
			return false, "", fmt.Errorf("read %s/current: %w", vm.Dir, err)
		},
		Do: func(context.Context) error {
			if err := statedir.SwapSymlink(link, target); err != nil {
				return err
			}
			return os.Lchown(link, in.Owner.UID, in.Owner.GID)
		}},
		effect: func(v view) { v[dirKey("current")] = linkLine("current", target) }}
}

// rootSteps keep the GC roots of the VM's links, as microvm.nix names them
// (/nix/var/nix/gcroots/microvm/<name>, booted-<name>, old-<name>; ssh-deploy.nix at
// 71beea00): indirect roots to <dir>/current, <dir>/booted and, with old, <dir>/old. So nix
// keeps exactly the installed runner, the running one and the previous one of each VM.
func (in *Installer) rootSteps(vm statedir.VM, old bool) []plannedStep {
	kinds := []string{"", "booted"}
	if old {
		kinds = append(kinds, "old")
	}
	var steps []plannedStep
	for _, kind := range kinds {
		root := in.Host.GCRoot(vm.Name, kind)
		want := filepath.Join(vm.Dir, "current")
		title := "keep the GC root of current"
		if kind != "" {
			want = filepath.Join(vm.Dir, kind)
			title = "keep the GC root of " + kind
		}
		line := "gcroot " + linkLine(in.hostPath(root), want)
		steps = append(steps, plannedStep{Step: step.Step{Title: title,
			Check: func(context.Context) (bool, string, error) {
				if got, err := os.Readlink(root); err == nil && got == want {
					return false, line, nil
				} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return false, "", fmt.Errorf("read GC root %s: %w", in.hostPath(root), err)
				}
				return true, line, nil
			},
			Do: func(context.Context) error {
				if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
					return err
				}
				return statedir.SwapSymlink(root, want)
			}},
			effect: func(v view) { v[rootKey(in.hostPath(root))] = line }})
	}
	return steps
}

func readLinkOrEmpty(p string) (string, error) {
	t, err := os.Readlink(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return t, err
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
