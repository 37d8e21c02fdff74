package statedir

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadReportsEachLinkAndFile(t *testing.T) {
	h := Host{Root: t.TempDir()}
	dir := h.VMDir("vm1")
	require.NoError(t, os.MkdirAll(dir, 0o775))
	require.NoError(t, os.Symlink("/nix/store/aaa-runner", filepath.Join(dir, "current")))
	require.NoError(t, os.Symlink("/nix/store/bbb-runner", filepath.Join(dir, "booted")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "flake"), []byte("path:/srv/site\n"), 0o644))

	vm, err := h.Read("vm1")
	require.NoError(t, err)
	assert.True(t, vm.Exists)
	assert.Equal(t, "/nix/store/aaa-runner", vm.Current)
	assert.Equal(t, "/nix/store/bbb-runner", vm.Booted)
	assert.Equal(t, "path:/srv/site", vm.Flake)
	assert.False(t, vm.Declarative)
	assert.True(t, vm.Outdated())
	assert.Equal(t, "/var/lib/microvms/vm1", vm.Dir, "Dir is the path on the host, without the test root")
}

func TestReadOfAMissingVMIsNotAnError(t *testing.T) {
	vm, err := Host{Root: t.TempDir()}.Read("nope")
	require.NoError(t, err)
	assert.False(t, vm.Exists)
}

func TestADanglingToplevelStillMarksTheVMDeclarative(t *testing.T) {
	h := Host{Root: t.TempDir()}
	require.NoError(t, os.MkdirAll(h.VMDir("d"), 0o775))
	require.NoError(t, os.Symlink("/nix/store/gone-system", filepath.Join(h.VMDir("d"), "toplevel")))
	vm, err := h.Read("d")
	require.NoError(t, err)
	assert.True(t, vm.Declarative)
}

func TestListSortsVMsAndSkipsFiles(t *testing.T) {
	h := Host{Root: t.TempDir()}
	for _, n := range []string{"b", "a"} {
		require.NoError(t, os.MkdirAll(h.VMDir(n), 0o775))
	}
	require.NoError(t, os.WriteFile(filepath.Join(h.StateDirPath(), "stray"), nil, 0o644))
	vms, err := h.List()
	require.NoError(t, err)
	require.Len(t, vms, 2)
	assert.Equal(t, "a", vms[0].Name)
}

func TestValidateNameNamesTheRule(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"", "must not be empty"},
		{"a/b", "'/'"},
		{"a..b", "'..'"},
		{"abcdefghijklm", "at most 12"},
		{"-x", "must start with a letter or digit"},
		{"a b", "may only hold"},
	} {
		assert.ErrorContains(t, ValidateName(tc.name), tc.want, tc.name)
	}
	assert.NoError(t, ValidateName("k0s-cp1"))
}

func TestSwapSymlinkReplacesTheTarget(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "current")
	require.NoError(t, SwapSymlink(link, "/nix/store/a"))
	require.NoError(t, SwapSymlink(link, "/nix/store/b"))
	got, err := os.Readlink(link)
	require.NoError(t, err)
	assert.Equal(t, "/nix/store/b", got)
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 1, "no temp link is left behind")
}

func TestWriteFileIsAtomicAndSetsTheMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "flake")
	require.NoError(t, WriteFile(p, []byte("x"), 0o600))
	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func TestLockSerialisesRunsOnOneVM(t *testing.T) {
	h := Host{Root: t.TempDir()}
	unlock, err := h.Lock(context.Background(), "vm1")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = h.Lock(ctx, "vm1")
	assert.ErrorContains(t, err, "locked by another run")
	unlock()
	unlock2, err := h.Lock(context.Background(), "vm1")
	require.NoError(t, err)
	unlock2()
}

func TestTheLoopingBootedLinkOfSetBootedWithoutCurrentNamesNoRunner(t *testing.T) {
	h := Host{Root: t.TempDir()}
	require.NoError(t, os.MkdirAll(h.VMDir("g"), 0o775))
	// What `ln -s $(readlink current) booted` leaves when there is no current.
	require.NoError(t, os.Symlink("booted", filepath.Join(h.VMDir("g"), "booted")))
	vm, err := h.Read("g")
	require.NoError(t, err)
	assert.True(t, vm.Exists)
	assert.Equal(t, "", vm.Booted)
	assert.Equal(t, "", vm.Current)
}
