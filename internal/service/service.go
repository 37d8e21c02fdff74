// Package service starts, stops and restarts microvm.nix VMs through systemd (one job per
// VM, outcomes read from systemd's job results), manages their autostart want, and waits
// until a started guest answers on a TCP port. It is the domain of the microvm_service module:
// gather (state dir, unit states) -> validate -> plan -> act (skipped in check mode) -> verify.
package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

// Systemd is what this package needs from the host's service manager. *systemd.Conn
// implements it; tests use a fake.
type Systemd interface {
	States(ctx context.Context, units []string) (map[string]systemd.UnitState, error)
	Do(ctx context.Context, verb systemd.Verb, unit string) error
	Status(ctx context.Context, unit string) (systemd.Status, error)
	Wants(ctx context.Context, unit string) ([]string, error)
	Reload(ctx context.Context) error
}

// State is the unit state a request asks for.
type State string

// The states microvm_service knows. Unset leaves the unit as it is (only restart_if_outdated
// and enabled then apply).
const (
	Unset     State = ""
	Started   State = "started"
	Stopped   State = "stopped"
	Restarted State = "restarted"
)

// Actions reported per VM.
const (
	ActionNone      = "none"
	ActionStarted   = "started"
	ActionStopped   = "stopped"
	ActionRestarted = "restarted"
)

// Defaults.
const (
	DefaultJobTimeout  = 300 * time.Second
	DefaultParallel    = 8
	DefaultWaitPort    = 22
	DefaultWaitTimeout = 300 * time.Second
	JournalLines       = 20
)

// WaitFor asks to wait, after the jobs, until each active VM's guest accepts TCP connections.
type WaitFor struct {
	Hosts   map[string]string // VM name -> address
	Port    int
	Timeout time.Duration
}

// Request is one microvm_service invocation.
type Request struct {
	Names             []string
	State             State
	RestartIfOutdated bool
	Enabled           *bool // nil: leave autostart as it is
	JobTimeout        time.Duration
	WaitFor           *WaitFor
	Check             bool
}

// Service acts on one hypervisor. Its zero value is not usable: Systemd and Runner are
// required.
type Service struct {
	Host     statedir.Host
	Systemd  Systemd
	Runner   command.Runner                               // journalctl on failure
	Dial     func(ctx context.Context, addr string) error // nil: a TCP connect
	Parallel int                                          // DefaultParallel when 0
	// PollInterval is the pause between wait_for attempts (1s when 0).
	PollInterval time.Duration
	// JournalDelay is the pause before a failed VM's journal is read (Run sets 1s).
	JournalDelay time.Duration
}

// VM is the report for one VM.
type VM struct {
	Unit    string     `json:"unit"`
	Before  string     `json:"before"` // ActiveState before the run
	After   string     `json:"after"`  // ActiveState after the run (predicted in check mode)
	Action  string     `json:"action"` // started | stopped | restarted | none
	Reason  string     `json:"reason,omitempty"`
	Current string     `json:"current"`
	Booted  string     `json:"booted"`
	Enabled *Autostart `json:"enabled,omitempty"`
	Wait    *Waited    `json:"wait_for,omitempty"`
	Note    string     `json:"note,omitempty"` // e.g. a stop that left the unit failed
	Error   string     `json:"error,omitempty"`
	Journal []string   `json:"journal,omitempty"`
}

// Waited is the outcome of waiting for one guest.
type Waited struct {
	Address string  `json:"address"`
	Seconds float64 `json:"seconds"`
	Skipped bool    `json:"skipped,omitempty"` // check mode
}

// Report is the outcome of a request.
type Report struct {
	VMs     map[string]*VM `json:"vms"`
	Changed bool           `json:"-"`
	Summary Summary        `json:"summary"`
}

// Summary lists VMs by what happened to them.
type Summary struct {
	Started   []string `json:"started"`
	Stopped   []string `json:"stopped"`
	Restarted []string `json:"restarted"`
	Unchanged []string `json:"unchanged"`
	Enabled   []string `json:"enabled"`  // autostart added
	Disabled  []string `json:"disabled"` // autostart removed
	Failed    []string `json:"failed"`
}

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

// Apply carries out r: it gathers every VM's state, plans all of them and refuses the whole
// request before acting if any VM cannot be planned (e.g. not installed); then, unless
// r.Check, runs the jobs in parallel, verifies each unit's state and waits for the guests.
// A failed VM does not stop the others; the error then names every failed VM and the
// report still holds what was done.
func (s *Service) Apply(ctx context.Context, r Request) (*Report, error) {
	if err := Validate(&r); err != nil {
		return nil, err
	}
	if !r.Check {
		unlock, err := s.lockAll(ctx, r.Names, r.JobTimeout)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}

	// Gather.
	units := make([]string, len(r.Names))
	for i, n := range r.Names {
		units[i] = systemd.MicroVMUnit(n)
	}
	states, err := s.Systemd.States(ctx, units)
	if err != nil {
		return nil, err
	}
	rep := &Report{VMs: map[string]*VM{}}
	type item struct {
		name   string
		vm     statedir.VM
		report *VM
	}
	items := make([]*item, 0, len(r.Names))
	var planErrs []string
	for _, n := range r.Names {
		vm, err := s.Host.Read(n)
		if err != nil {
			return nil, err
		}
		st := states[systemd.MicroVMUnit(n)]
		v := &VM{Unit: st.Name, Before: st.ActiveState, After: st.ActiveState, Action: ActionNone, Current: vm.Current, Booted: vm.Booted}
		rep.VMs[n] = v
		items = append(items, &item{name: n, vm: vm, report: v})
		action, reason, err := s.plan(vm, st, r)
		if err != nil {
			v.Error = err.Error()
			planErrs = append(planErrs, err.Error())
			continue
		}
		v.Action, v.Reason = action, reason
	}
	var auto *autostartPlan
	if r.Enabled != nil && len(planErrs) == 0 {
		auto, err = s.planAutostart(ctx, r.Names, *r.Enabled)
		if err != nil {
			return rep, err
		}
		for _, n := range r.Names {
			a := auto.vms[n]
			rep.VMs[n].Enabled = &a.report
			if a.err != nil {
				rep.VMs[n].Error = a.err.Error()
				planErrs = append(planErrs, a.err.Error())
			}
		}
	}
	if len(planErrs) > 0 {
		for _, it := range items {
			it.report.Action, it.report.Reason = ActionNone, ""
			if it.report.Enabled != nil {
				it.report.Enabled.After, it.report.Enabled.Changed = it.report.Enabled.Before, false
			}
		}
		rep.summarize()
		return rep, fmt.Errorf("nothing was changed: %s", strings.Join(planErrs, "; "))
	}

	// Check mode: predict.
	for _, it := range items {
		switch it.report.Action {
		case ActionStarted, ActionRestarted:
			it.report.After = "active"
		case ActionStopped:
			it.report.After = "inactive"
		}
	}
	if r.Check {
		if r.WaitFor != nil {
			for _, it := range items {
				if it.report.After == "active" {
					it.report.Wait = &Waited{Address: waitAddr(r.WaitFor, it.name), Skipped: true}
				}
			}
		}
		rep.summarize()
		return rep, nil
	}

	// Act: autostart links first (one daemon reload), then the jobs in parallel.
	if auto != nil {
		if err := s.applyAutostart(ctx, auto); err != nil {
			rep.summarize()
			return rep, err
		}
		for _, n := range r.Names {
			rep.VMs[n].Enabled = &auto.vms[n].report
			if e := auto.vms[n].err; e != nil {
				rep.VMs[n].Error = e.Error()
			}
		}
	}
	par := s.Parallel
	if par <= 0 {
		par = DefaultParallel
	}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for _, it := range items {
		if it.report.Error != "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				it.report.Error = fmt.Sprintf("%s: not started before the module's deadline: %v", it.name, ctx.Err())
				return
			}
			defer func() { <-sem }()
			since := time.Now().Add(-time.Second)
			if err := s.act(ctx, it.name, it.report, r); err != nil {
				it.report.Error = err.Error()
				it.report.Journal = s.journal(ctx, it.name, since)
			}
		}()
	}
	wg.Wait()
	rep.summarize()
	if len(rep.Summary.Failed) > 0 {
		var msgs []string
		for _, n := range rep.Summary.Failed {
			msgs = append(msgs, rep.VMs[n].Error)
		}
		return rep, fmt.Errorf("%d of %d VMs failed: %s", len(rep.Summary.Failed), len(r.Names), strings.Join(msgs, "; "))
	}
	return rep, nil
}

// plan decides the action for one VM from what the host says. It is a pure function of its
// arguments and the runner file check.
func (s *Service) plan(vm statedir.VM, st systemd.UnitState, r Request) (action, reason string, err error) {
	if st.LoadState == "not-found" {
		return "", "", fmt.Errorf("%s: systemd has no unit %s: is microvm.nix's host module (microvm@.service) enabled on this host?", vm.Name, st.Name)
	}
	running := isRunning(st.ActiveState)
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
		if r.Check && !vm.Exists {
			// A check-mode deploy predicts the start of a VM that microvm_install, in the same
			// run, only predicted; a real run refuses it until it is installed.
			return action, reason + " (not installed yet: a real run needs bo.microvm.microvm_install first)", nil
		}
		if err := s.checkRunner(vm); err != nil {
			return "", "", err
		}
	}
	return action, reason, nil
}

// isRunning: a unit that is active, reloading, or deactivating-then-stopping counts as up
// for planning; activating (e.g. waiting to auto-restart after a crash) gets a start job.
func isRunning(activeState string) bool {
	return activeState == "active" || activeState == "reloading"
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
func (s *Service) act(ctx context.Context, name string, v *VM, r Request) error {
	unit := systemd.MicroVMUnit(name)
	if v.Action != ActionNone {
		verb := map[string]systemd.Verb{ActionStarted: systemd.Start, ActionStopped: systemd.Stop, ActionRestarted: systemd.Restart}[v.Action]
		jctx, cancel := context.WithTimeout(ctx, r.JobTimeout)
		err := s.Systemd.Do(jctx, verb, unit)
		cancel()
		st, serr := s.Systemd.Status(ctx, unit)
		if serr == nil {
			v.After = st.ActiveState
		}
		if err != nil {
			return fmt.Errorf("%s: %w (unit now %s)", name, err, describe(st, serr))
		}
		if serr != nil {
			return fmt.Errorf("%s: %w", name, serr)
		}
		if err := verify(v.Action, st); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if v.Action == ActionStopped && st.ActiveState == "failed" {
			v.Note = fmt.Sprintf("stopped, but systemd marks the unit failed (result %s): its ExecStop (booted/bin/microvm-shutdown) or the hypervisor's exit failed; see journalctl -u %s", st.Result, unit)
		}
		if vm, err := s.Host.Read(name); err == nil {
			v.Current, v.Booted = vm.Current, vm.Booted
		}
	}
	if r.WaitFor != nil && v.After == "active" {
		return s.wait(ctx, name, v, r.WaitFor)
	}
	return nil
}

// verify checks the post-condition of a finished job: systemd reports a start whose
// Condition failed as "done", so the state is what counts.
func verify(action string, st systemd.Status) error {
	switch action {
	case ActionStarted, ActionRestarted:
		if st.ActiveState == "active" {
			return nil
		}
		if !st.ConditionResult && st.ActiveState == "inactive" {
			cond := st.FailedCondition
			if cond == "" {
				cond = "a Condition"
			}
			return fmt.Errorf("systemd skipped the %s because %s failed; the unit is %s", map[string]string{ActionStarted: "start", ActionRestarted: "restart"}[action], cond, describe(st, nil))
		}
		return fmt.Errorf("the job finished but the unit is %s, not active", describe(st, nil))
	case ActionStopped:
		if st.ActiveState == "inactive" || st.ActiveState == "failed" {
			return nil
		}
		return fmt.Errorf("the stop job finished but the unit is %s", describe(st, nil))
	}
	return nil
}

func describe(st systemd.Status, err error) string {
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	d := st.ActiveState + " (" + st.SubState
	if st.Result != "" && st.Result != "success" {
		d += ", result " + st.Result
	}
	return d + ")"
}

// journal returns the last lines the VM's units logged since this run acted on it, for
// failure reports. It never fails: a journal that cannot be read is reported as such.
func (s *Service) journal(ctx context.Context, name string, since time.Time) []string {
	if s.Runner == nil {
		return nil
	}
	jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// journald receives a failing unit's last words a moment after systemd reports the
	// job; without this pause they are often missing.
	select {
	case <-jctx.Done():
	case <-time.After(s.JournalDelay):
	}
	out, err := s.Runner.Run(jctx, command.Cmd{Name: "journalctl", Args: []string{
		"-u", systemd.MicroVMUnit(name), "-u", "microvm-*@" + name + ".service",
		"-n", fmt.Sprint(JournalLines), "--no-pager", "--since", fmt.Sprintf("@%d", since.Unix()),
	}})
	if err != nil {
		return []string{"(cannot read the journal: " + err.Error() + ")"}
	}
	text := command.Tail(string(out.Stdout), JournalLines)
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

// lockAll takes every VM's lock in name order (so two runs cannot deadlock), waiting at most
// timeout for each.
func (s *Service) lockAll(ctx context.Context, names []string, timeout time.Duration) (func(), error) {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	var unlocks []func()
	release := func() {
		for i := len(unlocks) - 1; i >= 0; i-- {
			unlocks[i]()
		}
	}
	for _, n := range sorted {
		lctx, cancel := context.WithTimeout(ctx, timeout)
		u, err := s.Host.Lock(lctx, n)
		cancel()
		if err != nil {
			release()
			return nil, err
		}
		unlocks = append(unlocks, u)
	}
	return release, nil
}

func (rep *Report) summarize() {
	s := Summary{Started: []string{}, Stopped: []string{}, Restarted: []string{}, Unchanged: []string{}, Enabled: []string{}, Disabled: []string{}, Failed: []string{}}
	names := make([]string, 0, len(rep.VMs))
	for n := range rep.VMs {
		names = append(names, n)
	}
	sort.Strings(names)
	changed := false
	for _, n := range names {
		v := rep.VMs[n]
		switch v.Action {
		case ActionStarted:
			s.Started = append(s.Started, n)
		case ActionStopped:
			s.Stopped = append(s.Stopped, n)
		case ActionRestarted:
			s.Restarted = append(s.Restarted, n)
		default:
			if v.Enabled == nil || !v.Enabled.Changed {
				s.Unchanged = append(s.Unchanged, n)
			}
		}
		if v.Action != ActionNone {
			changed = true
		}
		if v.Enabled != nil && v.Enabled.Changed {
			changed = true
			if v.Enabled.After {
				s.Enabled = append(s.Enabled, n)
			} else {
				s.Disabled = append(s.Disabled, n)
			}
		}
		if v.Error != "" {
			s.Failed = append(s.Failed, n)
		}
	}
	rep.Summary = s
	rep.Changed = changed
}

// Msg is a one-line account of the report, for the task's msg.
func (rep *Report) Msg(check bool) string {
	var parts []string
	add := func(verb string, names []string) {
		if len(names) > 0 {
			parts = append(parts, verb+" "+strings.Join(names, ", "))
		}
	}
	s := rep.Summary
	if check {
		add("would start", s.Started)
		add("would stop", s.Stopped)
		add("would restart", s.Restarted)
		add("would enable autostart of", s.Enabled)
		add("would disable autostart of", s.Disabled)
	} else {
		add("started", s.Started)
		add("stopped", s.Stopped)
		add("restarted", s.Restarted)
		add("enabled autostart of", s.Enabled)
		add("disabled autostart of", s.Disabled)
	}
	if len(parts) == 0 {
		return "nothing to do: every VM is already as asked"
	}
	return strings.Join(parts, "; ")
}
