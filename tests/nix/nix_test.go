//go:build nixtest

package nix

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// repoRoot is the repository root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "flake.nix"), "tests/nix must run from the repository")
	return root
}

// run runs a command and returns its stdout; a failure reports stderr.
func run(t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath(name)
	require.NoError(t, err, "%s is needed for these tests (Debian: apt-get install nix-bin)", name)
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s %s:\n%s", name, strings.Join(args, " "), stderr.String())
	return stdout.Bytes()
}

// evalJSON evaluates a Nix file strictly and decodes its JSON value into v.
func evalJSON(t *testing.T, file string, v any) {
	t.Helper()
	out := run(t, filepath.Dir(file), nil, "nix-instantiate", "--eval", "--strict", "--json", file)
	require.NoError(t, json.Unmarshal(out, v))
}

func TestEveryNixFileParses(t *testing.T) {
	root := repoRoot(t)
	var files []string
	require.NoError(t, filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "build" || d.Name() == "vendor") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".nix") {
			files = append(files, path)
		}
		return nil
	}))
	require.NotEmpty(t, files)
	for _, file := range files {
		rel, _ := filepath.Rel(root, file)
		t.Run(rel+" parses", func(t *testing.T) {
			run(t, root, nil, "nix-instantiate", "--parse", file)
		})
	}
}

func TestNixOSModuleContract(t *testing.T) {
	var cases []struct {
		Name string          `json:"name"`
		Got  json.RawMessage `json:"got"`
		Want json.RawMessage `json:"want"`
	}
	evalJSON(t, filepath.Join(repoRoot(t), "tests", "nix", "contract.nix"), &cases)
	require.NotEmpty(t, cases)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			var got, want any
			require.NoError(t, json.Unmarshal(c.Got, &got))
			require.NoError(t, json.Unmarshal(c.Want, &want))
			assert.Equal(t, want, got)
		})
	}
}

func TestFlakeExportsTheModulesFilesAndOutputs(t *testing.T) {
	root := repoRoot(t)
	flake, err := os.ReadFile(filepath.Join(root, "flake.nix"))
	require.NoError(t, err)
	tests := []struct {
		name string
		want string
	}{
		{"the guest module is exported as nixosModules.microvm-guest", "microvm-guest = ./nixos/modules/microvm/guest.nix;"},
		{"the bridge module is exported as nixosModules.microvm-bridge", "microvm-bridge = ./nixos/modules/microvm/bridge.nix;"},
		{"the virtualization module is exported as nixosModules.virtualization", "virtualization = ./nixos/modules/virtualization.nix;"},
		{"the dev shell is devShells.<system>.ansible", "ansible = pkgs.callPackage ./nixos/pkgs/ansible-shell.nix"},
		{"the collection is packages.<system>.collection", "collection = collectionFor pkgs;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Contains(t, string(flake), tt.want)
		})
	}
	t.Run("the flake does not pin microvm.nix", func(t *testing.T) {
		assert.NotContains(t, string(flake), "microvm.url")
		assert.NotContains(t, string(flake), "microvm-nix/microvm.nix")
	})
	t.Run("the dev shell puts the collection and its playbooks in the environment", func(t *testing.T) {
		shell, err := os.ReadFile(filepath.Join(root, "nixos", "pkgs", "ansible-shell.nix"))
		require.NoError(t, err)
		assert.Contains(t, string(shell), `ANSIBLE_COLLECTIONS_PATH = "${collection}";`)
		assert.Contains(t, string(shell), `BO_PLAYBOOKS = "${collection}/ansible_collections/bo/microvm/playbooks";`)
		for _, pkg := range []string{"ansible", "ansible-lint", "nix", "go"} {
			assert.Regexp(t, `(?m)^\s+`+pkg+`$`, string(shell), "package %s in the shell", pkg)
		}
	})
}

// The flake's buildGoModule fails with a hash mismatch when go.mod, go.sum or the
// imports change; catch that here, where the fix is one command.
func TestCollectionVendorHashMatchesGoModVendor(t *testing.T) {
	root := repoRoot(t)
	want, err := os.ReadFile(filepath.Join(root, "nixos", "pkgs", "collection.vendorhash"))
	require.NoError(t, err)
	vendor := filepath.Join(t.TempDir(), "vendor")
	run(t, root, []string{"GOPROXY=off", "GOFLAGS="}, "go", "mod", "vendor", "-o", vendor)
	got := run(t, root, nil, "nix", "--extra-experimental-features", "nix-command", "hash", "path", vendor)
	assert.Equal(t, strings.TrimSpace(string(want)), strings.TrimSpace(string(got)),
		"nixos/pkgs/collection.vendorhash is stale: run `make nix-vendor-hash` and commit it")
}
