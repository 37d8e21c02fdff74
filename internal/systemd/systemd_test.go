package systemd

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A unit file counts where systemd would load it: in any directory of its unit path, as a file
// or a link (a masked unit is a link to /dev/null, a NixOS unit a link into the store, possibly
// dangling on a half-built host); a name in no directory is absent.
func TestUnitFileInLooksInEveryDirectoryOfTheUnitPath(t *testing.T) {
	etc, run := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(run, "microvm@.service"), []byte("[Service]\n"), 0o644))
	require.NoError(t, os.Symlink("/dev/null", filepath.Join(etc, "microvms.target")))
	require.NoError(t, os.Symlink("/nix/store/gone-microvm-set-booted@.service", filepath.Join(etc, "microvm-set-booted@.service")))
	dirs := []string{etc, filepath.Join(etc, "missing"), run}
	for name, want := range map[string]bool{
		"microvm@.service":                true,
		"microvms.target":                 true,
		"microvm-set-booted@.service":     true,
		"microvm-tap-interfaces@.service": false,
	} {
		assert.Equal(t, want, unitFileIn(dirs, name), name)
	}
	assert.False(t, unitFileIn(nil, "microvm@.service"), "no unit path, no unit file")
}
