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

	"github.com/business-operations/bo.microvm/tests/hostnix"
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
	cmd.Env = append(append(os.Environ(), hostnix.Env()), env...) // this machine's nix: tests/hostnix
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
	// Tracked and new files, not ignored ones (lab roots, build output).
	out := run(t, root, nil, "git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "*.nix")
	files := strings.Fields(string(out))
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(file+" parses", func(t *testing.T) {
			run(t, root, nil, "nix-instantiate", "--parse", filepath.Join(root, file))
		})
	}
}

// runCases evaluates a Nix file that returns a list of { name; got; want; }
// and runs each case as a subtest.
func runCases(t *testing.T, file string) {
	t.Helper()
	var cases []struct {
		Name string          `json:"name"`
		Got  json.RawMessage `json:"got"`
		Want json.RawMessage `json:"want"`
	}
	evalJSON(t, file, &cases)
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

func TestNixOSModuleContract(t *testing.T) {
	runCases(t, filepath.Join(repoRoot(t), "tests", "nix", "contract.nix"))
}

func TestFlakeOutputsWithAFakeNixpkgs(t *testing.T) {
	runCases(t, filepath.Join(repoRoot(t), "tests", "nix", "flake-outputs.nix"))
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

func TestExampleSiteFlakeWiring(t *testing.T) {
	runCases(t, filepath.Join(repoRoot(t), "tests", "nix", "site-flake.nix"))
}
