//go:build installnix

package install

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/nix"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/tests/hostnix"
	"github.com/business-operations/bo.microvm/tests/need"
)

// TestWithTheRealNix runs install against this machine's nix (2.8 on Debian) with the lab's
// site flake: it builds real runners, predicts them by evaluation, swaps current, roots
// them, cleans nix's automatic root of the out-link, and keeps the old runner when a build
// fails. State dir and microvm GC roots live in a temp dir; nix's store and auto roots are
// the machine's. Compiled with -tags installnix (make install-nix-test); fails without nix.
func TestWithTheRealNix(t *testing.T) {
	need.Command(t, "nix", "Debian: nix-bin, installed by .ci/deps")
	t.Setenv("NIX_CONFIG", hostnix.Config()) // no nixbld group, sandbox or public cache (tests/hostnix)
	tmp := t.TempDir()
	site := filepath.Join(tmp, "site")
	require.NoError(t, os.MkdirAll(site, 0o755))
	for _, f := range []string{"flake.nix", "flake.lock", "cost.nix"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "tests", "lab", "site", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(site, f), b, 0o644))
	}
	setVMs := func(gen string, broken bool) {
		vms := map[string]map[string]any{}
		for _, n := range realNames {
			vms[n] = map[string]any{"ip": "198.18.0.200", "mac": "02:00:00:00:09:01", "generation": gen}
		}
		vms["b.1"]["broken"] = broken
		b, err := json.Marshal(vms)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(site, "vms.json"), b, 0o644))
	}
	gen := strconv.FormatInt(time.Now().UnixNano(), 36) // this run's runners are new to the store
	setVMs(gen, false)

	counter := &countingRunner{inner: command.Exec{}}
	host := statedir.Host{StateDir: filepath.Join(tmp, "microvms"), GCRoots: filepath.Join(tmp, "gcroots"), LockDir: filepath.Join(tmp, "lock")}
	units := fakeUnits{"a": "active"}
	in := &Installer{Host: host, Units: units, Owner: Owner{UID: -1, GID: -1}, TmpDir: tmp, EvalCache: filepath.Join(tmp, "evalcache"),
		// Debian's nix 2.8 without a nix.conf defaults to build users of group nixbld and a
		// sandbox without /bin/sh (machine-facts.md): the lab's builders need neither.
		Nix: nix.Nix{Runner: counter, Options: []string{"--option", "substituters", "", "--option", "build-users-group", "", "--option", "sandbox", "false"}}}
	names := realNames
	flakeRef := "path:" + site
	ctx := context.Background()

	check, err := in.Run(ctx, Request{Names: names, Flake: flakeRef, Check: true})
	require.NoError(t, err)
	assert.Equal(t, names, check.ChangedVMs)
	assert.Equal(t, 3, counter.n, "check mode of eight VMs runs nix three times: --version, flake metadata and one evaluation: %q", counter.calls)
	_, err = os.Stat(host.StateDirPath())
	assert.True(t, os.IsNotExist(err), "check mode created nothing")

	counter.n = 0
	rep, err := in.Run(ctx, Request{Names: names, Flake: flakeRef})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.Equal(t, 4, counter.n, "a fresh install of eight VMs: --version, flake metadata, one evaluation, one build: %q", counter.calls)
	t.Logf("nix %s", rep.NixVersion)
	for _, n := range names {
		vm := rep.VMs[n]
		assert.Equal(t, check.VMs[n].Current, vm.Current, "check mode predicted %s's runner", n)
		assert.True(t, strings.HasSuffix(vm.Current, "-microvm-qemu-"+n), vm.Current)
		_, err := os.Stat(filepath.Join(vm.Current, "bin", "microvm-run"))
		assert.NoError(t, err, "the runner is built")
		flake, _ := os.ReadFile(filepath.Join(host.VMDir(n), "flake"))
		assert.Equal(t, flakeRef, string(flake))
		root, _ := os.Readlink(host.GCRoot(n, ""))
		assert.Equal(t, filepath.Join(host.StateDirPath(), n, "current"), root)
	}
	assert.Equal(t, []string{"a"}, rep.RestartRequired, "a runs (fake unit) with no booted link")
	autos, err := os.ReadDir(DefaultAutoRoots)
	require.NoError(t, err)
	for _, e := range autos {
		target, _ := os.Readlink(filepath.Join(DefaultAutoRoots, e.Name()))
		assert.False(t, strings.HasPrefix(target, tmp), "auto root %s -> %s was left behind", e.Name(), target)
	}

	counter.n = 0
	again, err := in.Run(ctx, Request{Names: names, Flake: flakeRef})
	require.NoError(t, err)
	assert.False(t, again.Changed, "a second run changes nothing")
	assert.Equal(t, 2, counter.n, "a re-run of the unchanged flake: --version and flake metadata, no evaluation: %q", counter.calls)

	old := rep.VMs["b.1"].Current
	setVMs(gen+"-2", true)
	broken, err := in.Run(ctx, Request{Names: names, Flake: flakeRef})
	require.NoError(t, err)
	assert.Equal(t, []string{"b.1"}, broken.FailedVMs)
	assert.Equal(t, []string{"a", "c", "d", "e", "f", "g", "h"}, broken.ChangedVMs, "one broken VM among eight: the other seven are installed")
	for _, n := range broken.ChangedVMs {
		cur, _ := os.Readlink(filepath.Join(host.VMDir(n), "current"))
		assert.Equal(t, broken.VMs[n].Current, cur)
		assert.NotEqual(t, rep.VMs[n].Current, cur, "%s has its new runner", n)
	}
	assert.Contains(t, broken.VMs["b.1"].LogTail, "marked broken")
	assert.Equal(t, old, broken.VMs["b.1"].Current)
	now, _ := os.Readlink(filepath.Join(host.VMDir("b.1"), "current"))
	assert.Equal(t, old, now, "a failed build leaves the old runner")
	t.Logf("failure as reported: %s\nlog tail:\n%s", broken.VMs["b.1"].Msg, broken.VMs["b.1"].LogTail)

	// The lab's evaluation cost model (tests/lab/site/cost.nix) evaluates in this nix and
	// changes no runner: with a small cost, check mode predicts the runners installed.
	require.NoError(t, os.WriteFile(filepath.Join(site, "cost.json"),
		[]byte(`{"shared_mb": 8, "shared_cpu_ms": 50, "per_vm_mb": 2, "per_vm_cpu_ms": 20}`), 0o644))
	costly, err := in.Run(ctx, Request{Names: names, Flake: flakeRef, Check: true})
	require.NoError(t, err)
	for _, n := range names {
		if n != "b.1" {
			assert.False(t, costly.VMs[n].Changed, "%s: the cost model changed its runner", n)
		}
	}
	require.NoError(t, os.Remove(filepath.Join(site, "cost.json")))

	gone, err := in.Run(ctx, Request{Names: names[1:], State: "absent"})
	require.NoError(t, err)
	require.NoError(t, gone.Err())
	for _, n := range names[1:] {
		_, err := os.Lstat(host.VMDir(n))
		assert.True(t, os.IsNotExist(err))
		_, err = os.Lstat(host.GCRoot(n, ""))
		assert.True(t, os.IsNotExist(err))
	}
}

// realNames are the VMs of the real-nix test: eight, one with a quoted attribute name.
var realNames = []string{"a", "b.1", "c", "d", "e", "f", "g", "h"}

// countingRunner counts the commands it runs (nix processes, here).
type countingRunner struct {
	inner command.Runner
	mu    sync.Mutex
	n     int
	calls []string
}

func (c *countingRunner) Run(ctx context.Context, cmd command.Cmd) (command.Output, error) {
	c.mu.Lock()
	c.n++
	c.calls = append(c.calls, strings.Join(cmd.Args, " ")[:min(80, len(strings.Join(cmd.Args, " ")))])
	c.mu.Unlock()
	return c.inner.Run(ctx, cmd)
}
