package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

// Plan: validate the request, gather each VM's state directory and unit state, decide each
// VM's action, and predict the outcome (what check mode reports).

// Validate checks a request before anything is read from the host. Errors name the option.
func Validate(r *Request) error {
	if len(r.Names) == 0 {
		return errors.New("name: give at least one VM name")
	}
	seen := map[string]bool{}
	var names []string
	for i, n := range r.Names {
		if err := statedir.ValidateName(n); err != nil {
			return fmt.Errorf("name[%d]: %w", i, err)
		}
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	r.Names = names
	switch r.State {
	case Unset, Started, Stopped, Restarted:
	default:
		return fmt.Errorf("state: must be one of started, stopped, restarted, got %q", r.State)
	}
	if r.State == Unset && !r.RestartIfOutdated && r.Enabled == nil {
		return errors.New("state: nothing to do: set state, restart_if_outdated or enabled")
	}
	if r.State == Stopped && r.RestartIfOutdated {
		return errors.New("restart_if_outdated: cannot be combined with state=stopped (a stopped VM boots its current runner when started)")
	}
	if r.JobTimeout <= 0 {
		return fmt.Errorf("timeout: must be a positive number of seconds, got %v", r.JobTimeout.Seconds())
	}
	if w := r.WaitFor; w != nil {
		if r.State == Stopped {
			return errors.New("wait_for: only applies when VMs end up running (state started or restarted)")
		}
		if w.Port < 1 || w.Port > 65535 {
			return fmt.Errorf("wait_for.port: must be between 1 and 65535, got %d", w.Port)
		}
		if w.Timeout <= 0 {
			return fmt.Errorf("wait_for.timeout: must be a positive number of seconds, got %v", w.Timeout.Seconds())
		}
		for _, n := range r.Names {
			if strings.TrimSpace(w.Hosts[n]) == "" {
				return fmt.Errorf("wait_for.hosts: no address for VM %s (give wait_for.hosts as {vm: address}, or wait_for.host for a single VM)", n)
			}
		}
		for n := range w.Hosts {
			if !seen[n] {
				return fmt.Errorf("wait_for.hosts: %s is not one of the VMs in name", n)
			}
		}
	}
	return nil
}

// item is one VM of a request: what was read about it and its report.
type item struct {
	name   string
	vm     statedir.VM
	st     systemd.UnitState
	report *VM
}

// planned is a request gathered and planned, ready to act on.
type planned struct {
	items  []*item
	auto   *autostartPlan
	report *Report
}

// gatherAndPlan reads every VM's unit state and state directory and plans them all. When any
// VM cannot be planned it returns the report with every action reset to none and an error
// naming each problem (nothing may be changed). Otherwise the report holds the predicted
// after states; in check mode it is final.
func (s *Service) gatherAndPlan(ctx context.Context, r Request) (*planned, error) {
	units := make([]string, len(r.Names))
	for i, n := range r.Names {
		units[i] = systemd.MicroVMUnit(n)
	}
	states, err := s.Systemd.States(ctx, units)
	if err != nil {
		return &planned{}, err
	}
	rep := &Report{VMs: map[string]*VM{}}
	p := &planned{report: rep}
	var planErrs []string
	for _, n := range r.Names {
		vm, err := s.Host.Read(n)
		if err != nil {
			return &planned{}, err
		}
		st := states[systemd.MicroVMUnit(n)]
		v := &VM{Unit: st.Name, Before: st.ActiveState, After: st.ActiveState, Action: ActionNone, Current: vm.Current, Booted: vm.Booted}
		rep.VMs[n] = v
		p.items = append(p.items, &item{name: n, vm: vm, st: st, report: v})
		action, reason, err := s.plan(vm, st, r)
		if err != nil {
			v.Error = err.Error()
			planErrs = append(planErrs, err.Error())
			continue
		}
		v.Action, v.Reason = action, reason
	}
	if r.Enabled != nil && len(planErrs) == 0 {
		p.auto, err = s.planAutostart(ctx, r.Names, *r.Enabled)
		if err != nil {
			rep.summarize()
			return p, err
		}
		for _, n := range r.Names {
			a := p.auto.vms[n]
			rep.VMs[n].Enabled = &a.report
			if a.err != nil {
				rep.VMs[n].Error = a.err.Error()
				planErrs = append(planErrs, a.err.Error())
			}
		}
	}
	if len(planErrs) > 0 {
		for _, it := range p.items {
			it.report.Action, it.report.Reason = ActionNone, ""
			if it.report.Enabled != nil {
				it.report.Enabled.After, it.report.Enabled.Changed = it.report.Enabled.Before, false
			}
		}
		rep.summarize()
		return p, fmt.Errorf("nothing was changed: %s", strings.Join(planErrs, "; "))
	}
	p.predict(r)
	rep.summarize()
	return p, nil
}

// predict sets each VM's after state from its action (and, in check mode, the waits that
// would happen).
func (p *planned) predict(r Request) {
	for _, it := range p.items {
		switch it.report.Action {
		case ActionStarted, ActionRestarted:
			it.report.After = "active"
		case ActionStopped:
			it.report.After = "inactive"
		}
		if r.Check && r.WaitFor != nil && it.report.After == "active" {
			it.report.Wait = &Waited{Address: waitAddr(r.WaitFor, it.name), Skipped: true}
		}
	}
}

func (s *Service) plan(vm statedir.VM, st systemd.UnitState, r Request) (action, reason string, err error) {
	if st.LoadState == "not-found" {
		return "", "", fmt.Errorf("%s: systemd has no unit %s: is microvm.nix's host module (microvm@.service) enabled on this host?", vm.Name, st.Name)
	}
	if !vm.Exists && r.State == Stopped {
		// As ansible.builtin.systemd fails for a unit systemd does not know: the template
		// instance microvm@<vm> always loads, so the state directory is what says whether
		// this hypervisor has the VM. (A start or restart is refused below, by checkRunner.)
		return "", "", fmt.Errorf("%s: this hypervisor has no such VM (%s does not exist): cannot stop it", vm.Name, vm.Dir)
	}
	// Active or reloading counts as up for planning; activating (e.g. waiting to
	// auto-restart after a crash) gets a start job.
	running := st.Running()
	switch {
	case r.State == Restarted:
		action, reason = ActionRestarted, "state=restarted"
	case r.State == Stopped:
		if st.ActiveState != "inactive" && st.ActiveState != "failed" {
			action, reason = ActionStopped, "state=stopped"
		}
	case running && r.RestartIfOutdated && vm.Outdated():
		action, reason = ActionRestarted, fmt.Sprintf("outdated: booted %s, current %s", vm.Booted, vm.Current)
	case r.State == Started && !running:
		action, reason = ActionStarted, "state=started"
	}
	if action == "" {
		return ActionNone, "", nil
	}
	if action == ActionStarted || action == ActionRestarted {
		if r.Check && vm.Current == "" {
			// A check-mode deploy predicts the start of a VM that microvm_install, in the same
			// run, only predicted; a real run refuses it until it is installed. Its directory may
			// exist without current: a destroy keeps the volume images there.
			return action, reason + " (not installed yet: a real run needs bo.microvm.microvm_install first)", nil
		}
		if err := s.checkRunner(vm); err != nil {
			return "", "", err
		}
	}
	return action, reason, nil
}

// checkRunner refuses to start a VM whose unit would be skipped by its
// ConditionPathExists=<dir>/current/bin/microvm-run (systemd reports such a start as done).
func (s *Service) checkRunner(vm statedir.VM) error {
	switch {
	case !vm.Exists:
		return fmt.Errorf("%s: not installed on this host (%s does not exist): install it with bo.microvm.microvm_install before starting it", vm.Name, vm.Dir)
	case vm.Current == "":
		return fmt.Errorf("%s: %s has no current runner link: install it with bo.microvm.microvm_install before starting it", vm.Name, vm.Dir)
	}
	runner := filepath.Join(s.Host.VMDir(vm.Name), "current", "bin", "microvm-run")
	if filepath.IsAbs(vm.Current) {
		runner = s.Host.Path(filepath.Join(vm.Current, "bin", "microvm-run"))
	}
	if _, err := os.Stat(runner); err != nil {
		return fmt.Errorf("%s: current points to %s, which has no bin/microvm-run (garbage-collected, or not a microvm.nix runner), so systemd would skip the start: reinstall it with bo.microvm.microvm_install", vm.Name, vm.Current)
	}
	return nil
}

// act runs one VM's job, verifies the unit state and waits for its guest.
