package service

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

// Act: autostart links, then one job per VM in parallel (at most Parallel at once), each
// verified from systemd's unit state afterwards; the journal of a VM that failed; the
// per-VM locks held while acting.

// actAll carries out a plan: autostart links first (one daemon reload), then the jobs in
// parallel. It fills the report and returns an error naming every VM that failed.
func (s *Service) actAll(ctx context.Context, p *planned, r Request) error {
	rep := p.report
	if p.auto != nil {
		if err := s.applyAutostart(ctx, p.auto); err != nil {
			rep.summarize()
			return err
		}
		for _, n := range r.Names {
			rep.VMs[n].Enabled = &p.auto.vms[n].report
			if e := p.auto.vms[n].err; e != nil {
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
	for _, it := range p.items {
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
		return fmt.Errorf("%d of %d VMs failed: %s", len(rep.Summary.Failed), len(r.Names), strings.Join(msgs, "; "))
	}
	return nil
}

func (s *Service) act(ctx context.Context, name string, v *VM, r Request) error {
	unit := systemd.MicroVMUnit(name)
	if v.Action != ActionNone {
		verb := map[string]systemd.Verb{ActionStarted: systemd.Start, ActionStopped: systemd.Stop, ActionRestarted: systemd.Restart}[v.Action]
		if verb == systemd.Stop || verb == systemd.Restart {
			v.Shutdown = s.shutdownGuest(ctx, name, r)
		}
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
	if v.Action == ActionStarted || v.Action == ActionRestarted {
		return s.settle(ctx, name, v)
	}
	return nil
}

// settle watches a VM that was just started (without wait_for) for s.StartSettle. The
// unit is Type=simple (microvm.nix's host module), so systemd finishes the start job once
// the hypervisor is forked: one that fails at once (a tap it cannot open) is still
// "active" when the job returns, and a moment later "activating (auto-restart)"
// (Restart=always). Any change of state, of main PID or of the restart count fails it.
func (s *Service) settle(ctx context.Context, name string, v *VM) error {
	if s.StartSettle <= 0 {
		return nil
	}
	unit := systemd.MicroVMUnit(name)
	first, err := s.Systemd.Status(ctx, unit)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	interval := s.ShutdownPoll
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	deadline := time.Now().Add(s.StartSettle)
	for {
		st, err := s.Systemd.Status(ctx, unit)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if st.ActiveState != "active" || st.MainPID != first.MainPID || st.NRestarts != first.NRestarts {
			v.After = st.ActiveState
			return fmt.Errorf("%s: the hypervisor exited within %s of its start: the unit is %s (restarts: %d)", name, s.StartSettle, describe(st, nil), st.NRestarts)
		}
		if !time.Now().Before(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
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
