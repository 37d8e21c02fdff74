package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

// fakeSystemd is a small in-memory systemd: units with an ActiveState, jobs that move them
// (start/restart -> active, stop -> inactive) unless a test scripts another outcome, and
// microvms.target's loaded wants, which change only on Reload (as in systemd).
type fakeSystemd struct {
	mu      sync.Mutex
	units   map[string]systemd.Status
	jobs    []string
	reloads int
	// result per "verb unit": the job result ("done" when absent); "block" waits for ctx.
	result map[string]string
	// after per "verb unit": the unit's status after the job, instead of the default.
	after map[string]systemd.Status
	// wants is microvms.target's loaded Wants; wantsDirs are scanned on Reload.
	wants     []string
	declared  []string // wants from unit files (the host configuration)
	root      string
	wantsDirs []string
	noTarget  bool
	// dies per unit: after that many reads of its status the hypervisor has exited and
	// systemd waits to restart it ("activating (auto-restart)", one more restart), as a
	// Type=simple microvm@ whose hypervisor fails at once looks a moment after its start job.
	dies map[string]int
}

func newFakeSystemd(root string) *fakeSystemd {
	f := &fakeSystemd{units: map[string]systemd.Status{}, result: map[string]string{}, after: map[string]systemd.Status{}, root: root}
	for _, d := range imperativeWantsDirs {
		f.wantsDirs = append(f.wantsDirs, d.dir)
	}
	return f
}

func (f *fakeSystemd) set(unit, active string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.units[unit] = systemd.Status{UnitState: systemd.UnitState{Name: unit, LoadState: "loaded", ActiveState: active, SubState: sub(active)}, ConditionResult: true, FragmentPath: "/etc/systemd/system/microvm@.service"}
}

func sub(active string) string {
	return map[string]string{"active": "running", "inactive": "dead", "failed": "failed", "activating": "auto-restart"}[active]
}

func (f *fakeSystemd) status(unit string) systemd.Status {
	st, ok := f.units[unit]
	if !ok {
		return systemd.Status{UnitState: systemd.UnitState{Name: unit, LoadState: "loaded", ActiveState: "inactive", SubState: "dead"}, ConditionResult: true, FragmentPath: "/etc/systemd/system/microvm@.service"}
	}
	return st
}

func (f *fakeSystemd) States(_ context.Context, units []string) (map[string]systemd.UnitState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]systemd.UnitState{}
	for _, u := range units {
		out[u] = f.status(u).UnitState
	}
	return out, nil
}

func (f *fakeSystemd) Do(ctx context.Context, verb systemd.Verb, unit string) error {
	key := string(verb) + " " + unit
	f.mu.Lock()
	f.jobs = append(f.jobs, key)
	res := f.result[key]
	f.mu.Unlock()
	if res == "block" {
		<-ctx.Done()
		return fmt.Errorf("systemd %s %s: no job outcome before the deadline; the job stays queued in systemd: %w", verb, unit, ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if st, ok := f.after[key]; ok {
		f.units[unit] = st
	} else if res == "" || res == "done" {
		st := f.status(unit)
		st.ActiveState = map[systemd.Verb]string{systemd.Start: "active", systemd.Restart: "active", systemd.Stop: "inactive"}[verb]
		st.SubState = sub(st.ActiveState)
		f.units[unit] = st
	}
	if res != "" && res != "done" {
		return &systemd.JobError{Unit: unit, Verb: verb, Result: res}
	}
	return nil
}

func (f *fakeSystemd) Status(_ context.Context, unit string) (systemd.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if unit == Target {
		ls := "loaded"
		if f.noTarget {
			ls = "not-found"
		}
		return systemd.Status{UnitState: systemd.UnitState{Name: unit, LoadState: ls, ActiveState: "active"}}, nil
	}
	if n, ok := f.dies[unit]; ok {
		if n--; n > 0 {
			f.dies[unit] = n
		} else {
			delete(f.dies, unit)
			st := f.status(unit)
			st.ActiveState, st.SubState, st.Result, st.NRestarts = "activating", "auto-restart", "exit-code", st.NRestarts+1
			f.units[unit] = st
		}
	}
	return f.status(unit), nil
}

func (f *fakeSystemd) Wants(_ context.Context, unit string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.wants), nil
}

// Reload recomputes the loaded wants from the declared ones plus the link directories.
func (f *fakeSystemd) Reload(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	w := slices.Clone(f.declared)
	for _, d := range f.wantsDirs {
		entries, _ := os.ReadDir(filepath.Join(f.root, d))
		for _, e := range entries {
			if !slices.Contains(w, e.Name()) {
				w = append(w, e.Name())
			}
		}
	}
	f.wants = w
	return nil
}

func (f *fakeSystemd) jobList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.jobs)
}

// install makes VM name look installed under h: a runner with bin/microvm-run and the
// current link; booted when booted is not "".
func install(t *testing.T, h statedir.Host, name, current, booted string) {
	t.Helper()
	dir := h.VMDir(name)
	require.NoError(t, os.MkdirAll(dir, 0o775))
	for _, r := range []string{current, booted} {
		if r == "" {
			continue
		}
		require.NoError(t, os.MkdirAll(h.Path(filepath.Join(r, "bin")), 0o755))
		require.NoError(t, os.WriteFile(h.Path(filepath.Join(r, "bin", "microvm-run")), []byte("#!/bin/sh\n"), 0o755))
	}
	if current != "" {
		require.NoError(t, os.Symlink(current, filepath.Join(dir, "current")))
	}
	if booted != "" {
		require.NoError(t, os.Symlink(booted, filepath.Join(dir, "booted")))
	}
}
