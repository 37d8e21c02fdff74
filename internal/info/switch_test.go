package info

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/statedir"
)

// runner writes a fake runner store path whose microvm-run boots system with kernel.
func runner(t *testing.T, h statedir.Host, path, system, kernel string) {
	t.Helper()
	root := h.Path(path)
	require.NoError(t, os.MkdirAll(filepath.Join(root, "bin"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "share/microvm"), 0o755))
	run := "#!/bin/sh\nexec qemu -kernel " + kernel + " -append init=" + system + "/init\n"
	require.NoError(t, os.WriteFile(filepath.Join(root, "bin/microvm-run"), []byte(run), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "share/microvm/tap-interfaces"), []byte("vm-a\n"), 0o644))
	if system != "" {
		require.NoError(t, os.Symlink(system, filepath.Join(root, "share/microvm/system")))
	}
}

func TestCompareRunners(t *testing.T) {
	h := statedir.Host{Root: t.TempDir()}
	runner(t, h, "/nix/store/r1", "/nix/store/sys1", "/nix/store/k1/bzImage")
	runner(t, h, "/nix/store/r2", "/nix/store/sys2", "/nix/store/k1/bzImage")
	runner(t, h, "/nix/store/r3", "/nix/store/sys3", "/nix/store/k2/bzImage")
	runner(t, h, "/nix/store/r4", "", "/nix/store/k1/bzImage")
	// As real runners boot with registerClosure (the default): the closure of the system
	// on the command line changes with every guest system.
	runner(t, h, "/nix/store/r5", "/nix/store/sys1", "/nix/store/k1/bzImage regInfo=/nix/store/c1-closure-info/registration")
	runner(t, h, "/nix/store/r6", "/nix/store/sys2", "/nix/store/k1/bzImage regInfo=/nix/store/c2-closure-info/registration")

	for _, tc := range []struct {
		name            string
		booted, current string
		switchable      bool
		reason          string
	}{
		{"a guest-only change can be switched", "/nix/store/r1", "/nix/store/r2", true, "only the guest system"},
		{"a guest-only change with the closure registration on the command line can be switched", "/nix/store/r5", "/nix/store/r6", true, "only the guest system"},
		{"losing the closure registration needs a restart", "/nix/store/r5", "/nix/store/r2", false, "bin/microvm-run differs"},
		{"a new kernel needs a restart", "/nix/store/r1", "/nix/store/r3", false, "bin/microvm-run differs"},
		{"an unknown guest system needs a restart", "/nix/store/r1", "/nix/store/r4", false, "no share/microvm/system"},
		{"a stopped VM has nothing to switch", "", "/nix/store/r2", false, "not running"},
		{"an up-to-date VM has nothing to switch", "/nix/store/r1", "/nix/store/r1", false, "runs its current runner"},
	} {
		s := CompareRunners(h, tc.booted, tc.current)
		assert.Equal(t, tc.switchable, s.Switchable, tc.name)
		assert.Contains(t, s.Reason, tc.reason, tc.name)
	}
	s := CompareRunners(h, "/nix/store/r1", "/nix/store/r2")
	assert.Equal(t, "/nix/store/sys2", s.CurrentSystem)
	assert.Equal(t, "/nix/store/sys1", s.BootedSystem)
	assert.Empty(t, s.CurrentRegistration, "a runner without regInfo= has no registration to load")
	s = CompareRunners(h, "/nix/store/r5", "/nix/store/r6")
	assert.Equal(t, "/nix/store/c2-closure-info/registration", s.CurrentRegistration, "the current runner's regInfo= is what a switch loads")
}
