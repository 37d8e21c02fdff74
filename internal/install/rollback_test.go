package install

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/command"
)

// generations installs vm1 from the flake once per runner, in order, as successive deploys do.
func (e *env) generations(runners ...string) *Report {
	e.t.Helper()
	var rep *Report
	for _, r := range runners {
		e.outputs["vm1"] = r
		rep = e.run(Request{Names: []string{"vm1"}, Flake: flake})
		require.False(e.t, rep.VMs["vm1"].Failed, rep.VMs["vm1"].Msg)
	}
	return rep
}

// onHost makes a runner store path exist on the host and be valid for nix (what checkRunner reads).
func (e *env) onHost(runner string) {
	require.NoError(e.t, os.MkdirAll(e.host.Path(runner+"/bin"), 0o755))
	require.NoError(e.t, os.WriteFile(e.host.Path(runner+"/bin/microvm-run"), []byte("#!/bin/sh\n"), 0o755))
	e.fake.Expect(command.Expect{Match: "nix --extra-experimental-features nix-command flakes path-info " + runner})
}

const (
	genA = "/nix/store/aaa-microvm-qemu-vm1"
	genB = "/nix/store/bbb-microvm-qemu-vm1"
	genC = "/nix/store/ccc-microvm-qemu-vm1"
)

func TestAnInstallKeepsThePreviousRunnerAsOldAndReleasesTheOneBefore(t *testing.T) {
	e := newEnv(t)
	rep := e.generations(genA)
	assert.Empty(t, e.link("/var/lib/microvms/vm1/old"), "a first install has no previous runner")
	assert.Empty(t, e.link("/nix/var/nix/gcroots/microvm/old-vm1"))
	assert.Empty(t, rep.VMs["vm1"].Old)

	rep = e.generations(genB)
	assert.Equal(t, genA, e.link("/var/lib/microvms/vm1/old"))
	assert.Equal(t, "/var/lib/microvms/vm1/old", e.link("/nix/var/nix/gcroots/microvm/old-vm1"), "the previous runner is rooted, as installOnHost roots it")
	assert.Equal(t, genA, rep.VMs["vm1"].Old)
	assert.Contains(t, rep.VMs["vm1"].Changes, "old -> "+genA)

	rep = e.generations(genC)
	assert.Equal(t, genC, e.link("/var/lib/microvms/vm1/current"))
	assert.Equal(t, genB, e.link("/var/lib/microvms/vm1/old"), "only the runner before current is kept: A has no link left")
	assert.Contains(t, rep.VMs["vm1"].Changes, "old: "+genA+" -> "+genB)

	before := e.snapshot()
	rep = e.generations(genC)
	assert.False(t, rep.Changed, "a re-run of the same runner keeps old as it is")
	assert.Equal(t, genB, rep.VMs["vm1"].Old)
	assert.Equal(t, before, e.snapshot())
}

func TestCheckModePredictsTheOldLink(t *testing.T) {
	e := newEnv(t)
	e.generations(genA)
	e.outputs["vm1"] = genB
	before := e.snapshot()
	rep := e.run(Request{Names: []string{"vm1"}, Flake: flake, Check: true})
	vm := rep.VMs["vm1"]
	assert.True(t, vm.Changed)
	assert.Equal(t, genA, vm.Old)
	assert.Contains(t, rep.Diffs[0].After, "old -> "+genA+"\n")
	assert.Contains(t, rep.Diffs[0].After, "gcroot /nix/var/nix/gcroots/microvm/old-vm1 -> /var/lib/microvms/vm1/old\n")
	assert.Equal(t, before, e.snapshot())
}

func TestRollbackPutsCurrentBackOnThePreviousRunnerOnce(t *testing.T) {
	e := newEnv(t)
	e.generations(genA, genB)
	require.NoError(t, os.Symlink(genB, e.host.Path("/var/lib/microvms/vm1/booted")))
	e.units["vm1"] = "active"
	e.onHost(genA)

	before := e.snapshot()
	check := e.run(Request{Names: []string{"vm1"}, Rollback: true, Check: true})
	assert.Equal(t, before, e.snapshot(), "check mode changes nothing")
	assert.True(t, check.VMs["vm1"].Changed)
	assert.Equal(t, genA, check.VMs["vm1"].Current, "check mode predicts the runner")
	assert.Equal(t, []string{"vm1"}, check.RestartRequired)

	rep := e.run(Request{Names: []string{"vm1"}, Rollback: true})
	vm := rep.VMs["vm1"]
	require.False(t, vm.Failed, vm.Msg)
	assert.True(t, vm.Changed)
	assert.Equal(t, genB, vm.Previous)
	assert.Equal(t, genA, vm.Current)
	assert.Equal(t, genA, e.link("/var/lib/microvms/vm1/current"))
	assert.Equal(t, genA, e.link("/var/lib/microvms/vm1/old"), "old stays: a second rollback has nothing to do")
	assert.Equal(t, genB, e.link("/var/lib/microvms/vm1/booted"), "the running VM keeps its booted runner (and its root) until it restarts")
	assert.True(t, vm.RestartRequired, "the running VM must restart to boot the previous runner")
	assert.Equal(t, []string{"current: " + genB + " -> " + genA}, vm.Changes)
	require.Len(t, rep.Diffs, 1)
	assert.Contains(t, rep.Diffs[0].Before, "current -> "+genB+"\n")
	assert.Contains(t, rep.Diffs[0].After, "current -> "+genA+"\n")
	assert.Zero(t, e.builds.Load()-2, "a rollback builds nothing")

	after := e.snapshot()
	again := e.run(Request{Names: []string{"vm1"}, Rollback: true})
	assert.False(t, again.Changed, "rolling back twice is rolling back once")
	assert.False(t, again.VMs["vm1"].Failed, again.VMs["vm1"].Msg)
	assert.Equal(t, after, e.snapshot())

	// The next deploy of a new runner keeps the rolled-back one as old.
	e.generations(genC)
	assert.Equal(t, genA, e.link("/var/lib/microvms/vm1/old"))
}

func TestRollbackFailsNamingTheVMWhenThereIsNothingToRollBackTo(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(e *env)
		wantErr string
	}{
		{"a VM installed once has no previous runner", func(e *env) { e.generations(genA) }, "VM vm1 has no previous runner to roll back to (/var/lib/microvms/vm1/old does not exist)"},
		{"a VM not installed", func(e *env) {}, "VM vm1 has no runner installed"},
		{"a previous runner the garbage collector took", func(e *env) { e.generations(genA, genB) }, "VM vm1: its previous runner " + genA + " (/var/lib/microvms/vm1/old) cannot be used"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.setup(e)
			before := e.snapshot()
			rep := e.run(Request{Names: []string{"vm1"}, Rollback: true})
			vm := rep.VMs["vm1"]
			assert.True(t, vm.Failed)
			assert.Contains(t, vm.Msg, tc.wantErr)
			assert.ErrorContains(t, rep.Err(), "vm1: ")
			assert.Equal(t, before, e.snapshot(), "a failed rollback leaves the VM as it was")
		})
	}
}

func TestRollbackRequestsNameTheOption(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  Request
		want string
	}{
		{"rollback with a flake", Request{Names: []string{"a"}, Rollback: true, Flake: flake}, "rollback, flake, runner: "},
		{"rollback with a runner", Request{Names: []string{"a"}, Rollback: true, Runners: map[string]string{"a": genA}}, "rollback, flake, runner: "},
		{"rollback with absent", Request{Names: []string{"a"}, Rollback: true, State: "absent"}, "rollback: only applies to state=present"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			_, err := e.in.Run(t.Context(), tc.req)
			assert.ErrorContains(t, err, tc.want)
			assert.Empty(t, e.fake.Calls())
		})
	}
}
