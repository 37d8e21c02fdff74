package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

const (
	runnerA = "/nix/store/aaaa-microvm-qemu-a"
	runnerB = "/nix/store/bbbb-microvm-qemu-a"
)

type env struct {
	h   statedir.Host
	sd  *fakeSystemd
	run *command.Fake
	svc *Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	root := t.TempDir()
	h := statedir.Host{Root: root}
	sd := newFakeSystemd(root)
	run := &command.Fake{}
	return &env{h: h, sd: sd, run: run, svc: &Service{Host: h, Systemd: sd, Runner: run, PollInterval: time.Millisecond}}
}

func req(state State, names ...string) Request {
	return Request{Names: names, State: state, JobTimeout: 5 * time.Second}
}

func TestPlanAndActPerStartingState(t *testing.T) {
	type vmSetup struct {
		current, booted, active string
	}
	cases := []struct {
		name      string
		vm        vmSetup
		req       Request
		action    string
		after     string
		jobs      []string
		errSubstr string
	}{
		{"a stopped installed VM is started", vmSetup{runnerA, "", "inactive"}, req(Started, "a"), ActionStarted, "active", []string{"start microvm@a.service"}, ""},
		{"a running VM is left alone by started", vmSetup{runnerA, runnerA, "active"}, req(Started, "a"), ActionNone, "active", nil, ""},
		{"a failed VM is started again", vmSetup{runnerA, "", "failed"}, req(Started, "a"), ActionStarted, "active", []string{"start microvm@a.service"}, ""},
		{"a VM waiting to auto-restart gets a start job", vmSetup{runnerA, "", "activating"}, req(Started, "a"), ActionStarted, "active", []string{"start microvm@a.service"}, ""},
		{"a running VM is stopped", vmSetup{runnerA, runnerA, "active"}, req(Stopped, "a"), ActionStopped, "inactive", []string{"stop microvm@a.service"}, ""},
		{"a stopped VM is left alone by stopped", vmSetup{runnerA, "", "inactive"}, req(Stopped, "a"), ActionNone, "inactive", nil, ""},
		{"a failed VM counts as stopped", vmSetup{runnerA, "", "failed"}, req(Stopped, "a"), ActionNone, "failed", nil, ""},
		{"stopping a VM this hypervisor does not have (no state directory) fails naming it", vmSetup{"", "", "inactive"}, req(Stopped, "a"), ActionNone, "inactive", nil, "a: this hypervisor has no such VM (/var/lib/microvms/a does not exist): cannot stop it"},
		{"a VM whose directory holds only kept volumes is stopped already (nothing to do)", vmSetup{"dir-only", "", "inactive"}, req(Stopped, "a"), ActionNone, "inactive", nil, ""},
		{"restarted restarts a running VM", vmSetup{runnerA, runnerA, "active"}, req(Restarted, "a"), ActionRestarted, "active", []string{"restart microvm@a.service"}, ""},
		{"restarted starts a stopped VM", vmSetup{runnerA, "", "inactive"}, req(Restarted, "a"), ActionRestarted, "active", []string{"restart microvm@a.service"}, ""},
		{"an outdated running VM is restarted with restart_if_outdated", vmSetup{runnerB, runnerA, "active"}, Request{Names: []string{"a"}, State: Started, RestartIfOutdated: true, JobTimeout: time.Second}, ActionRestarted, "active", []string{"restart microvm@a.service"}, ""},
		{"an up-to-date running VM is left alone with restart_if_outdated", vmSetup{runnerA, runnerA, "active"}, Request{Names: []string{"a"}, State: Started, RestartIfOutdated: true, JobTimeout: time.Second}, ActionNone, "active", nil, ""},
		{"an outdated running VM is left alone without restart_if_outdated", vmSetup{runnerB, runnerA, "active"}, req(Started, "a"), ActionNone, "active", nil, ""},
		{"restart_if_outdated alone leaves a stopped VM stopped", vmSetup{runnerB, "", "inactive"}, Request{Names: []string{"a"}, RestartIfOutdated: true, JobTimeout: time.Second}, ActionNone, "inactive", nil, ""},
		{"starting a VM without a VM directory fails before any job", vmSetup{"", "", "inactive"}, req(Started, "a"), ActionNone, "inactive", nil, "not installed on this host"},
		{"restarting a VM whose runner is gone fails before any job", vmSetup{"/nix/store/gone-runner", "", "inactive"}, req(Restarted, "a"), ActionNone, "inactive", nil, "has no bin/microvm-run"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			switch {
			case tc.vm.current == "dir-only":
				require.NoError(t, os.MkdirAll(e.h.VMDir("a"), 0o775))
			case tc.vm.current == "/nix/store/gone-runner":
				require.NoError(t, os.MkdirAll(e.h.VMDir("a"), 0o775))
				require.NoError(t, os.Symlink(tc.vm.current, filepath.Join(e.h.VMDir("a"), "current")))
			case tc.vm.current != "":
				install(t, e.h, "a", tc.vm.current, tc.vm.booted)
			}
			e.sd.set("microvm@a.service", tc.vm.active)

			rep, err := e.svc.Apply(context.Background(), tc.req)
			if tc.errSubstr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.errSubstr)
				assert.Contains(t, err.Error(), "nothing was changed")
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.jobs, e.sd.jobList())
			require.Contains(t, rep.VMs, "a")
			assert.Equal(t, tc.vm.active, rep.VMs["a"].Before)
			assert.Equal(t, tc.after, rep.VMs["a"].After)
			assert.Equal(t, tc.action, rep.VMs["a"].Action)
			assert.Equal(t, tc.action != ActionNone && tc.errSubstr == "", rep.Changed)
		})
	}
}

func TestCheckModePredictsTheRealRunAndChangesNothing(t *testing.T) {
	for _, state := range []State{Started, Stopped, Restarted} {
		t.Run(string(state)+" on a mix of running and stopped VMs", func(t *testing.T) {
			e := newEnv(t)
			install(t, e.h, "a", runnerA, "")
			install(t, e.h, "b", runnerA, runnerA)
			e.sd.set("microvm@a.service", "inactive")
			e.sd.set("microvm@b.service", "active")
			r := req(state, "a", "b")

			r.Check = true
			predicted, err := e.svc.Apply(context.Background(), r)
			require.NoError(t, err)
			assert.Empty(t, e.sd.jobList(), "check mode queues no job")

			r.Check = false
			real, err := e.svc.Apply(context.Background(), r)
			require.NoError(t, err)
			assert.Equal(t, predicted.Changed, real.Changed)
			assert.Equal(t, predicted.Summary, real.Summary)
			for _, n := range []string{"a", "b"} {
				assert.Equal(t, predicted.VMs[n].Action, real.VMs[n].Action, n)
				assert.Equal(t, predicted.VMs[n].After, real.VMs[n].After, n)
			}

			if state == Restarted {
				return // restarted is never idempotent, as ansible.builtin.systemd's is not
			}
			r.Check = true
			again, err := e.svc.Apply(context.Background(), r)
			require.NoError(t, err)
			assert.False(t, again.Changed, "check mode after the real run predicts no change")
			r.Check = false
			jobs := len(e.sd.jobList())
			again, err = e.svc.Apply(context.Background(), r)
			require.NoError(t, err)
			assert.False(t, again.Changed, "the second real run changes nothing")
			assert.Len(t, e.sd.jobList(), jobs)
		})
	}
}

func TestJobFailuresAreReportedWithTheJournal(t *testing.T) {
	cases := []struct {
		name      string
		result    string
		after     *systemd.Status
		errSubstr string
	}{
		{"a failed job names the job result", "failed", &systemd.Status{UnitState: systemd.UnitState{Name: "microvm@a.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed"}, Result: "exit-code"}, `job result "failed"`},
		{"a dependency failure says a required unit failed", "dependency", nil, "a unit it requires failed"},
		{"a start skipped by ConditionPathExists is a failure, not success", "done", &systemd.Status{UnitState: systemd.UnitState{Name: "microvm@a.service", LoadState: "loaded", ActiveState: "inactive", SubState: "dead"}, ConditionResult: false, FailedCondition: "ConditionPathExists=/var/lib/microvms/a/current/bin/microvm-run"}, "skipped the start because ConditionPathExists=/var/lib/microvms/a/current/bin/microvm-run failed"},
		{"a unit that crashed right after the job is a failure", "done", &systemd.Status{UnitState: systemd.UnitState{Name: "microvm@a.service", LoadState: "loaded", ActiveState: "activating", SubState: "auto-restart"}, ConditionResult: true}, "not active"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			install(t, e.h, "a", runnerA, "")
			e.sd.set("microvm@a.service", "inactive")
			e.sd.result["start microvm@a.service"] = tc.result
			if tc.after != nil {
				e.sd.after["start microvm@a.service"] = *tc.after
			}
			e.run.Expect(command.Expect{Match: "journalctl -u microvm@a.service -u microvm-*@a.service -n 20 --no-pager --since @", Prefix: true, Stdout: "Nov 25 qemu: could not open tap\nNov 25 microvm@a.service: Failed\n"})

			rep, err := e.svc.Apply(context.Background(), req(Started, "a"))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.errSubstr)
			assert.Contains(t, err.Error(), "1 of 1 VMs failed")
			assert.Equal(t, []string{"Nov 25 qemu: could not open tap", "Nov 25 microvm@a.service: Failed"}, rep.VMs["a"].Journal)
			assert.Equal(t, []string{"a"}, rep.Summary.Failed)
			if tc.result != "done" {
				var je *systemd.JobError
				assert.True(t, errors.As(e.sd.Do(context.Background(), systemd.Start, "microvm@a.service"), &je), "the fake returns the typed error the module reports")
			}
		})
	}
}

func TestOneFailedVMDoesNotStopTheOthers(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"a", "b", "c"} {
		install(t, e.h, n, runnerA, "")
		e.sd.set("microvm@"+n+".service", "inactive")
	}
	e.sd.result["start microvm@b.service"] = "failed"
	e.run.Expect(command.Expect{Match: "journalctl", Prefix: true, Stdout: "boom\n"})

	rep, err := e.svc.Apply(context.Background(), req(Started, "a", "b", "c"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "b: systemd start microvm@b.service")
	assert.Equal(t, []string{"a", "b", "c"}, rep.Summary.Started, "b's start was attempted")
	assert.Equal(t, []string{"b"}, rep.Summary.Failed)
	assert.Equal(t, "active", rep.VMs["a"].After)
	assert.Equal(t, "active", rep.VMs["c"].After)
	assert.True(t, rep.Changed)
}

func TestABatchWithOneUninstalledVMActsOnNone(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, "")
	e.sd.set("microvm@a.service", "inactive")
	rep, err := e.svc.Apply(context.Background(), req(Started, "a", "ghost"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ghost: not installed on this host (/var/lib/microvms/ghost does not exist): install it with bo.microvm.microvm_install")
	assert.Empty(t, e.sd.jobList())
	assert.False(t, rep.Changed)
}

func TestAJobWithoutOutcomeWithinTheTimeoutFails(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, runnerA)
	e.sd.set("microvm@a.service", "active")
	e.sd.result["stop microvm@a.service"] = "block"
	e.run.Expect(command.Expect{Match: "journalctl", Prefix: true})
	r := req(Stopped, "a")
	r.JobTimeout = 50 * time.Millisecond
	start := time.Now()
	_, err := e.svc.Apply(context.Background(), r)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Contains(t, err.Error(), "no job outcome before the deadline")
	assert.Contains(t, err.Error(), "context deadline exceeded")
}

func TestWaitFor(t *testing.T) {
	t.Run("waits until the guest answers and reports how long it took", func(t *testing.T) {
		e := newEnv(t)
		install(t, e.h, "a", runnerA, "")
		e.sd.set("microvm@a.service", "inactive")
		var tries atomic.Int32
		e.svc.Dial = func(_ context.Context, addr string) error {
			assert.Equal(t, "198.18.0.101:22", addr)
			if tries.Add(1) < 3 {
				return errors.New("connection refused")
			}
			return nil
		}
		r := req(Started, "a")
		r.WaitFor = &WaitFor{Hosts: map[string]string{"a": "198.18.0.101"}, Port: 22, Timeout: 5 * time.Second}
		rep, err := e.svc.Apply(context.Background(), r)
		require.NoError(t, err)
		assert.EqualValues(t, 3, tries.Load())
		require.NotNil(t, rep.VMs["a"].Wait)
		assert.Equal(t, "198.18.0.101:22", rep.VMs["a"].Wait.Address)
	})
	t.Run("an already running VM is waited for too, without a change", func(t *testing.T) {
		e := newEnv(t)
		install(t, e.h, "a", runnerA, runnerA)
		e.sd.set("microvm@a.service", "active")
		dialed := false
		e.svc.Dial = func(context.Context, string) error { dialed = true; return nil }
		r := req(Started, "a")
		r.WaitFor = &WaitFor{Hosts: map[string]string{"a": "198.18.0.101"}, Port: 22, Timeout: time.Second}
		rep, err := e.svc.Apply(context.Background(), r)
		require.NoError(t, err)
		assert.True(t, dialed)
		assert.False(t, rep.Changed)
	})
	t.Run("a guest that never answers fails after the timeout with the journal", func(t *testing.T) {
		e := newEnv(t)
		install(t, e.h, "a", runnerA, "")
		e.sd.set("microvm@a.service", "inactive")
		e.svc.Dial = func(context.Context, string) error { return errors.New("connection refused") }
		e.run.Expect(command.Expect{Match: "journalctl", Prefix: true, Stdout: "guest kernel panic\n"})
		r := req(Started, "a")
		r.WaitFor = &WaitFor{Hosts: map[string]string{"a": "198.18.0.101"}, Port: 22, Timeout: 50 * time.Millisecond}
		rep, err := e.svc.Apply(context.Background(), r)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "did not answer on 198.18.0.101:22 within 50ms")
		assert.Equal(t, []string{"guest kernel panic"}, rep.VMs["a"].Journal)
		assert.True(t, rep.Changed, "the start itself happened")
	})
	t.Run("a unit that leaves the active state while waiting fails at once", func(t *testing.T) {
		e := newEnv(t)
		install(t, e.h, "a", runnerA, "")
		e.sd.set("microvm@a.service", "inactive")
		e.svc.Dial = func(context.Context, string) error {
			e.sd.set("microvm@a.service", "activating")
			return errors.New("connection refused")
		}
		e.run.Expect(command.Expect{Match: "journalctl", Prefix: true})
		r := req(Started, "a")
		r.WaitFor = &WaitFor{Hosts: map[string]string{"a": "198.18.0.101"}, Port: 22, Timeout: time.Minute}
		start := time.Now()
		rep, err := e.svc.Apply(context.Background(), r)
		require.Error(t, err)
		assert.Less(t, time.Since(start), 5*time.Second)
		assert.Contains(t, err.Error(), "left the active state")
		assert.Equal(t, "activating", rep.VMs["a"].After)
	})
	t.Run("check mode does not wait", func(t *testing.T) {
		e := newEnv(t)
		install(t, e.h, "a", runnerA, "")
		e.sd.set("microvm@a.service", "inactive")
		e.svc.Dial = func(context.Context, string) error { t.Fatal("check mode dialed"); return nil }
		r := req(Started, "a")
		r.Check = true
		r.WaitFor = &WaitFor{Hosts: map[string]string{"a": "198.18.0.101"}, Port: 22, Timeout: time.Second}
		rep, err := e.svc.Apply(context.Background(), r)
		require.NoError(t, err)
		assert.True(t, rep.VMs["a"].Wait.Skipped)
	})
}

func TestValidateNamesTheOptionAndTheRule(t *testing.T) {
	tr := true
	cases := []struct {
		name string
		r    Request
		want string
	}{
		{"no names", Request{State: Started, JobTimeout: time.Second}, "name: give at least one VM name"},
		{"a name with a slash", req(Started, "a", "b/c"), `name[1]: VM name "b/c" must not contain '/'`},
		{"a name with dot-dot", req(Started, "..x"), `name[0]: VM name "..x" must not contain '..'`},
		{"a name too long for a tap id", req(Started, "abcdefghijklm"), "name[0]: VM name \"abcdefghijklm\" is 13 characters; at most 12"},
		{"nothing to do", req(Unset, "a"), "state: nothing to do"},
		{"restart_if_outdated with stopped", Request{Names: []string{"a"}, State: Stopped, RestartIfOutdated: true, JobTimeout: time.Second}, "restart_if_outdated: cannot be combined with state=stopped"},
		{"a zero timeout", Request{Names: []string{"a"}, State: Started}, "timeout: must be a positive number"},
		{"wait_for with stopped", Request{Names: []string{"a"}, State: Stopped, JobTimeout: time.Second, WaitFor: &WaitFor{Hosts: map[string]string{"a": "x"}, Port: 22, Timeout: time.Second}}, "wait_for: only applies"},
		{"wait_for without an address for a VM", Request{Names: []string{"a", "b"}, State: Started, JobTimeout: time.Second, WaitFor: &WaitFor{Hosts: map[string]string{"a": "x"}, Port: 22, Timeout: time.Second}}, "wait_for.hosts: no address for VM b"},
		{"wait_for with an address for a VM not in name", Request{Names: []string{"a"}, State: Started, JobTimeout: time.Second, WaitFor: &WaitFor{Hosts: map[string]string{"a": "x", "z": "y"}, Port: 22, Timeout: time.Second}}, "wait_for.hosts: z is not one of the VMs"},
		{"wait_for with a bad port", Request{Names: []string{"a"}, State: Started, JobTimeout: time.Second, WaitFor: &WaitFor{Hosts: map[string]string{"a": "x"}, Port: 0, Timeout: time.Second}}, "wait_for.port: must be between 1 and 65535"},
		{"enabled alone is enough", Request{Names: []string{"a"}, Enabled: &tr, JobTimeout: time.Second}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(&tc.r)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestDuplicateNamesAreActedOnOnce(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, "")
	e.sd.set("microvm@a.service", "inactive")
	_, err := e.svc.Apply(context.Background(), req(Started, "a", "a"))
	require.NoError(t, err)
	assert.Equal(t, []string{"start microvm@a.service"}, e.sd.jobList())
}

func TestAVMLockedByAnotherRunWaitsThenFails(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, "")
	e.sd.set("microvm@a.service", "inactive")
	unlock, err := e.h.Lock(context.Background(), "a")
	require.NoError(t, err)
	defer unlock()
	r := req(Started, "a")
	r.JobTimeout = 200 * time.Millisecond
	_, err = e.svc.Apply(context.Background(), r)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "VM a is locked by another run")
	assert.Empty(t, e.sd.jobList())
}

func TestAnUnknownUnitTemplateIsExplained(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, "")
	e.sd.units["microvm@a.service"] = systemd.Status{UnitState: systemd.UnitState{Name: "microvm@a.service", LoadState: "not-found", ActiveState: "inactive"}}
	_, err := e.svc.Apply(context.Background(), req(Started, "a"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is microvm.nix's host module (microvm@.service) enabled")
}

func TestDiffShowsEachUnitStateChange(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, "")
	install(t, e.h, "b", runnerA, runnerA)
	e.sd.set("microvm@a.service", "inactive")
	e.sd.set("microvm@b.service", "active")
	r := req(Started, "a", "b")
	r.Check = true
	rep, err := e.svc.Apply(context.Background(), r)
	require.NoError(t, err)
	d := rep.Diff()
	assert.Equal(t, "microvm@a.service: inactive\nmicrovm@b.service: active\n", d.Before)
	assert.Equal(t, "microvm@a.service: active\nmicrovm@b.service: active\n", d.After)
	assert.Equal(t, "would start a", rep.Msg(true))
}

func TestAStopThatLeavesTheUnitFailedSucceedsWithANote(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, runnerA)
	e.sd.set("microvm@a.service", "active")
	e.sd.after["stop microvm@a.service"] = systemd.Status{UnitState: systemd.UnitState{Name: "microvm@a.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed"}, Result: "exit-code"}
	rep, err := e.svc.Apply(context.Background(), req(Stopped, "a"))
	require.NoError(t, err)
	assert.Equal(t, "failed", rep.VMs["a"].After)
	assert.Contains(t, rep.VMs["a"].Note, "stopped, but systemd marks the unit failed (result exit-code)")
}

func TestCheckModePredictsTheStartOfAVMTheSameRunWouldInstall(t *testing.T) {
	e := newEnv(t)
	e.sd.set("microvm@fresh.service", "inactive")
	r := req(Started, "fresh")
	r.Check = true
	rep, err := e.svc.Apply(context.Background(), r)
	require.NoError(t, err)
	assert.True(t, rep.Changed, "check mode predicts the start")
	assert.Equal(t, ActionStarted, rep.VMs["fresh"].Action)
	assert.Contains(t, rep.VMs["fresh"].Reason, "not installed yet")
	assert.Empty(t, e.sd.jobList(), "check mode runs no job")

	// A destroyed VM whose volume images were kept: its directory exists, without current.
	require.NoError(t, os.MkdirAll(e.h.VMDir("kept"), 0o775))
	require.NoError(t, os.WriteFile(filepath.Join(e.h.VMDir("kept"), "var.img"), nil, 0o644))
	e.sd.set("microvm@kept.service", "inactive")
	r = req(Started, "kept")
	r.Check = true
	rep, err = e.svc.Apply(context.Background(), r)
	require.NoError(t, err)
	assert.Equal(t, ActionStarted, rep.VMs["kept"].Action)
	assert.Contains(t, rep.VMs["kept"].Reason, "not installed yet")
	r.Check = false
	_, err = e.svc.Apply(context.Background(), r)
	assert.ErrorContains(t, err, "has no current runner link", "a real run still refuses it")
}

// A hypervisor that exits right after its start job (microvm@ is Type=simple, so the job is
// done once it is forked) fails the VM when it dies within StartSettle, with or without
// restart, and a VM that stays up passes after StartSettle.
func TestStartSettleCatchesAHypervisorThatExitsAtOnce(t *testing.T) {
	for _, verb := range []State{Started, Restarted} {
		t.Run(string(verb), func(t *testing.T) {
			e := newEnv(t)
			install(t, e.h, "a", runnerA, "")
			e.sd.set("microvm@a.service", "inactive")
			e.svc.StartSettle, e.svc.ShutdownPoll = time.Second, time.Millisecond
			e.sd.dies = map[string]int{"microvm@a.service": 3}
			rep, err := e.svc.Apply(context.Background(), req(verb, "a"))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "a: the hypervisor exited within 1s of its start: the unit is activating (auto-restart, result exit-code) (restarts: 1)")
			assert.Equal(t, "activating", rep.VMs["a"].After)
			assert.Equal(t, []string{"a"}, rep.Summary.Failed)
		})
	}
	t.Run("a hypervisor that stays up", func(t *testing.T) {
		e := newEnv(t)
		install(t, e.h, "a", runnerA, "")
		e.sd.set("microvm@a.service", "inactive")
		e.svc.StartSettle, e.svc.ShutdownPoll = 20*time.Millisecond, time.Millisecond
		rep, err := e.svc.Apply(context.Background(), req(Started, "a"))
		require.NoError(t, err)
		assert.Equal(t, "active", rep.VMs["a"].After)
	})
}
