package info

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

type fakeUnits struct {
	active map[string]string
	files  map[string]bool
}

func (f fakeUnits) States(_ context.Context, units []string) (map[string]systemd.UnitState, error) {
	out := map[string]systemd.UnitState{}
	for _, u := range units {
		st := f.active[u]
		if st == "" {
			st = "inactive"
		}
		out[u] = systemd.UnitState{Name: u, LoadState: "loaded", ActiveState: st}
	}
	return out, nil
}

func (f fakeUnits) UnitFilesExist(_ context.Context, names []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, n := range names {
		out[n] = f.files[n]
	}
	return out, nil
}

// fixture builds a state dir with one VM in each state a hypervisor can show.
func fixture(t *testing.T) statedir.Host {
	h := statedir.Host{Root: t.TempDir()}
	mk := func(name string, links map[string]string, flake string) {
		dir := h.VMDir(name)
		require.NoError(t, os.MkdirAll(dir, 0o775))
		for l, target := range links {
			require.NoError(t, os.Symlink(target, filepath.Join(dir, l)))
		}
		if flake != "" {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "flake"), []byte(flake), 0o644))
		}
	}
	mk("stopped", map[string]string{"current": "/nix/store/a-runner"}, "path:/srv/site")
	mk("running", map[string]string{"current": "/nix/store/b-runner", "booted": "/nix/store/b-runner"}, "path:/srv/site")
	mk("outdated", map[string]string{"current": "/nix/store/c2-runner", "booted": "/nix/store/c1-runner"}, "path:/srv/site")
	mk("declared", map[string]string{"current": "/nix/store/d-runner", "toplevel": "/nix/store/d-system"}, "")
	mk("empty", nil, "")
	require.NoError(t, os.MkdirAll(h.Path("/sys/class/net/br0/bridge"), 0o755))
	require.NoError(t, os.WriteFile(h.Path("/sys/class/net/br0/operstate"), []byte("up\n"), 0o644))
	require.NoError(t, os.WriteFile(h.Path("/sys/class/net/br0/flags"), []byte("0x1003\n"), 0o644))
	return h
}

func TestGatherReportsEveryVMState(t *testing.T) {
	h := fixture(t)
	units := fakeUnits{
		active: map[string]string{"microvm@running.service": "active", "microvm@outdated.service": "active"},
		files:  map[string]bool{"microvm@.service": true, "microvm-tap-interfaces@.service": true, "microvm-set-booted@.service": true, "microvms.target": true},
	}
	f, err := Gather(context.Background(), h, units, Options{})
	require.NoError(t, err)
	require.Len(t, f.VMs, 5)

	for _, tc := range []struct {
		name                                 string
		running, outdated, declarative       bool
		current, booted, flake, active_state string
	}{
		{"stopped", false, false, false, "/nix/store/a-runner", "", "path:/srv/site", "inactive"},
		{"running", true, false, false, "/nix/store/b-runner", "/nix/store/b-runner", "path:/srv/site", "active"},
		{"outdated", true, true, false, "/nix/store/c2-runner", "/nix/store/c1-runner", "path:/srv/site", "active"},
		{"declared", false, false, true, "/nix/store/d-runner", "", "", "inactive"},
		{"empty", false, false, false, "", "", "", "inactive"},
	} {
		vm := f.VMs[tc.name]
		assert.Equal(t, tc.running, vm.Running, tc.name)
		assert.Equal(t, tc.outdated, vm.Outdated, tc.name)
		assert.Equal(t, tc.declarative, vm.Declarative, tc.name)
		assert.Equal(t, tc.current, vm.Current, tc.name)
		assert.Equal(t, tc.booted, vm.Booted, tc.name)
		assert.Equal(t, tc.flake, vm.Flake, tc.name)
		assert.Equal(t, tc.active_state, vm.ActiveState, tc.name)
	}
	assert.True(t, f.Host.UnitTemplate)
	assert.Empty(t, f.Host.Units)
	assert.False(t, f.Host.KVM)
	assert.Equal(t, Bridge{Name: "br0", Present: true, IsBridge: true, OperState: "up", Up: true}, f.Host.Bridge)
	assert.True(t, f.Host.StateDirExists)
}

func TestGatherNamesMissingHostPreparation(t *testing.T) {
	h := statedir.Host{Root: t.TempDir()}
	f, err := Gather(context.Background(), h, fakeUnits{}, Options{Bridge: "br9"})
	require.NoError(t, err)
	assert.False(t, f.Host.UnitTemplate)
	assert.Equal(t, helperUnits, f.Host.Units)
	assert.False(t, f.Host.Bridge.Present)
	assert.False(t, f.Host.StateDirExists)
	assert.Empty(t, f.VMs)
}

func TestGatherByNameReportsAbsentVMsAndRejectsBadNames(t *testing.T) {
	h := fixture(t)
	f, err := Gather(context.Background(), h, fakeUnits{}, Options{Names: []string{"running", "ghost"}})
	require.NoError(t, err)
	assert.True(t, f.VMs["running"].Exists)
	assert.False(t, f.VMs["ghost"].Exists)
	assert.Equal(t, []string{"declared", "empty", "outdated", "running", "stopped"}, f.Host.VMsPresent,
		"every VM directory, asked for or not, so that the roles find the ones the inventory does not name")

	_, err = Gather(context.Background(), h, fakeUnits{}, Options{Names: []string{"../etc"}})
	assert.ErrorContains(t, err, "name:")
}
