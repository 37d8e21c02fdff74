package install

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/nix"
	"github.com/business-operations/bo.microvm/internal/sshkey"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/step"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

const flake = "path:/srv/site"

// fakeUnits answers unit states from a map of VM name to ActiveState ("" = unknown unit).
type fakeUnits map[string]string

func (f fakeUnits) States(_ context.Context, units []string) (map[string]systemd.UnitState, error) {
	out := map[string]systemd.UnitState{}
	for _, u := range units {
		name := strings.TrimSuffix(strings.TrimPrefix(u, "microvm@"), ".service")
		st := f[name]
		if st == "" {
			out[u] = systemd.UnitState{Name: u, LoadState: "not-found", ActiveState: "inactive", SubState: "dead"}
			continue
		}
		out[u] = systemd.UnitState{Name: u, LoadState: "loaded", ActiveState: st}
	}
	return out, nil
}

// env is one hypervisor under a temp root, with a contract fake of nix 2.8 as this machine's
// nix behaved (tests/lab/site flake, one VM broken; see realnix_test.go, which runs the same
// calls against the real nix): `nix eval --json --apply` of nixosConfigurations answers each
// VM's {drv, out} or null; `nix build` of derivations makes the out-links runner, runner-1, ...
// (in the order of nix 2.8's goal set, sorted by derivation, not in argument order) and an
// automatic GC root for each; with --keep-going a failing derivation fails the call after the
// others are built, and then no out-link is made at all (src/nix/build.cc at tag 2.8.0 makes
// the links after Installable::build returned).
type env struct {
	t        *testing.T
	root     string
	host     statedir.Host
	fake     *command.Fake
	units    fakeUnits
	in       *Installer
	outputs  map[string]string // VM -> runner store path, "FAIL" to make its build fail, "THROW" its evaluation
	builds   atomic.Int32
	evals    atomic.Int32
	metadata atomic.Int32
}

var installableName = regexp.MustCompile(`#nixosConfigurations\.("?)([^".]+(?:\.[^".]+)*)("?)\.config\.microvm\.declaredRunner`)

func vmOf(installable string) string {
	m := installableName.FindStringSubmatch(installable)
	if m == nil {
		return ""
	}
	return m[2]
}

// drvOf is the fake's derivation of a VM's runner, and vmOfDrv its inverse.
func drvOf(vm string) string { return "/nix/store/ddd-microvm-qemu-" + vm + ".drv" }
func vmOfDrv(drv string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(drv, "^out"), "/nix/store/ddd-microvm-qemu-"), ".drv")
}

var applyNames = regexp.MustCompile(`"([^"]+)"`)

const buildLog = "microvm-qemu-b> building\nmicrovm-qemu-b> error: something is wrong in b's config\nerror: builder for '/nix/store/xxx-microvm-qemu-b.drv' failed with exit code 1\n"

func newEnv(t *testing.T) *env {
	root := t.TempDir()
	e := &env{t: t, root: root, host: statedir.Host{Root: root}, fake: &command.Fake{}, units: fakeUnits{}, outputs: map[string]string{}}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "tmp"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, DefaultAutoRoots), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "run/lock"), 0o755))
	e.in = &Installer{Host: e.host, Nix: nix.Nix{Runner: e.fake, Bin: "nix"}, Units: e.units,
		Owner: Owner{UID: os.Getuid(), GID: os.Getgid()}, TmpDir: filepath.Join(root, "tmp")}
	e.fake.Expect(command.Expect{Match: "nix --version", Stdout: "nix (Nix) 2.8.0\n"})
	e.fake.Expect(command.Expect{Match: "nix --extra-experimental-features nix-command flakes build -L", Prefix: true,
		Do: func(c command.Cmd) (command.Output, error) {
			e.builds.Add(1)
			var link string
			var drvs []string
			keepGoing := false
			for i := 0; i < len(c.Args); i++ {
				switch a := c.Args[i]; {
				case a == "--out-link":
					link = c.Args[i+1]
					i++
				case a == "--keep-going":
					keepGoing = true
				case strings.HasPrefix(a, "/nix/store/"):
					drvs = append(drvs, a)
				}
			}
			sort.Strings(drvs) // nix 2.8's goal set order
			var outs []string
			for _, d := range drvs {
				out, ok := e.outputs[vmOfDrv(d)]
				if !ok || out == "FAIL" || out == "THROW" {
					return command.Output{Stderr: []byte(buildLog)}, &command.Error{Cmd: c.String(), ExitCode: 1, Stderr: buildLog}
				}
				outs = append(outs, out)
				if !keepGoing && len(drvs) > 1 {
					break // irrelevant for the fake: it fails before linking anyway
				}
			}
			for i, out := range outs {
				l := link
				if i > 0 {
					l = fmt.Sprintf("%s-%d", link, i)
				}
				if err := os.Symlink(out, l); err != nil {
					return command.Output{}, err
				}
				sum := sha256.Sum256([]byte(l))
				if err := os.Symlink(l, filepath.Join(root, DefaultAutoRoots, fmt.Sprintf("%x", sum[:8]))); err != nil {
					return command.Output{}, err
				}
			}
			return command.Output{}, nil
		}})
	evalOne := func(vm string) (string, bool) {
		out, ok := e.outputs[vm]
		if !ok || out == "THROW" {
			return "", false
		}
		if out == "FAIL" { // a broken build still evaluates: check mode predicts a new runner
			out = "/nix/store/fff-microvm-qemu-" + vm
		}
		// nix writes the derivation into the store as it evaluates it.
		drv := e.host.Path(drvOf(vm))
		require.NoError(t, os.MkdirAll(filepath.Dir(drv), 0o755))
		require.NoError(t, os.WriteFile(drv, []byte("Derive(...)"), 0o444))
		return fmt.Sprintf(`{"drv":%q,"out":%q}`, drvOf(vm), out), true
	}
	// flake metadata as nix 2.8 printed it (internal/nix/testdata/flake-metadata-2.8.json), with
	// the source's store path standing for the flake's content: the VMs' outputs.
	e.fake.Expect(command.Expect{Match: "nix --extra-experimental-features nix-command flakes flake metadata --json ", Prefix: true,
		Do: func(c command.Cmd) (command.Output, error) {
			e.metadata.Add(1)
			keys := make([]string, 0, len(e.outputs))
			for k, v := range e.outputs {
				keys = append(keys, k+"="+v)
			}
			sort.Strings(keys)
			sum := sha256.Sum256([]byte(strings.Join(keys, ",")))
			return command.Output{Stdout: []byte(fmt.Sprintf(`{"locked":{"lastModified":1796167254,"narHash":"sha256-x","path":"/srv/site","type":"path"},`+
				`"locks":{"nodes":{"root":{}},"root":"root","version":7},"path":"/nix/store/%x-source"}`, sum[:10]))}, nil
		}})
	e.fake.Expect(command.Expect{Match: "nix --extra-experimental-features nix-command flakes eval --json --apply cs: ", Prefix: true,
		Do: func(c command.Cmd) (command.Output, error) {
			e.evals.Add(1)
			require.True(t, strings.HasSuffix(c.Args[len(c.Args)-1], "#nixosConfigurations"), c.String())
			var parts []string
			for _, m := range applyNames.FindAllStringSubmatch(c.Args[5], -1) {
				j, ok := evalOne(m[1])
				if !ok {
					j = "null"
				}
				parts = append(parts, fmt.Sprintf("%q:%s", m[1], j))
			}
			return command.Output{Stdout: []byte("{" + strings.Join(parts, ",") + "}")}, nil
		}})
	e.fake.Expect(command.Expect{Match: "nix --extra-experimental-features nix-command flakes eval --json --apply d: ", Prefix: true,
		Do: func(c command.Cmd) (command.Output, error) {
			e.evals.Add(1)
			vm := vmOf(c.Args[len(c.Args)-1])
			j, ok := evalOne(vm)
			if !ok {
				log := "error: flake 'path:/srv/site' does not provide attribute 'nixosConfigurations." + vm + "'\n"
				return command.Output{}, &command.Error{Cmd: c.String(), ExitCode: 1, Stderr: log}
			}
			return command.Output{Stdout: []byte(j)}, nil
		}})
	return e
}

// installed lays out a VM as an earlier install left it.
func (e *env) installed(name, current, booted string) {
	dir := e.host.VMDir(name)
	require.NoError(e.t, os.MkdirAll(dir, 0o775))
	require.NoError(e.t, os.Chmod(dir, 0o775))
	require.NoError(e.t, os.Symlink(current, filepath.Join(dir, "current")))
	if booted != "" {
		require.NoError(e.t, os.Symlink(booted, filepath.Join(dir, "booted")))
	}
	require.NoError(e.t, os.WriteFile(filepath.Join(dir, "flake"), []byte(flake), 0o644))
	require.NoError(e.t, os.MkdirAll(e.host.GCRootsPath(), 0o755))
	require.NoError(e.t, os.Symlink("/var/lib/microvms/"+name+"/current", e.host.GCRoot(name, "")))
	require.NoError(e.t, os.Symlink("/var/lib/microvms/"+name+"/booted", e.host.GCRoot(name, "booted")))
}

func (e *env) run(req Request) *Report {
	e.t.Helper()
	rep, err := e.in.Run(context.Background(), req)
	require.NoError(e.t, err)
	return rep
}

func (e *env) link(p string) string {
	t, err := os.Readlink(e.host.Path(p))
	if err != nil {
		return ""
	}
	return t
}

// snapshot records every path under the root with its type, mode, owner, link target and
// content, so that a check-mode run can be shown to change nothing. The per-VM lock files
// under /run/lock are left out: a refused real run takes the lock, which is no host state.
func (e *env) snapshot() map[string]string {
	snap := map[string]string{}
	require.NoError(e.t, filepath.WalkDir(e.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == e.host.Path("/run/lock") || p == e.host.Path("/nix/store") {
			return filepath.SkipDir // locks are no host state; evaluating writes derivations, as nix does
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := info.Mode().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			t, _ := os.Readlink(p)
			desc += " -> " + t
		case info.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			desc += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		snap[p] = desc
		return nil
	}))
	return snap
}

func TestAFreshInstallBuildsSwapsAndRoots(t *testing.T) {
	e := newEnv(t)
	e.outputs["vm1"] = "/nix/store/aaa-microvm-qemu-vm1"
	rep := e.run(Request{Names: []string{"vm1"}, Flake: flake})

	vm := rep.VMs["vm1"]
	require.False(t, vm.Failed, vm.Msg)
	assert.True(t, vm.Changed)
	assert.True(t, rep.Changed)
	assert.Equal(t, "2.8.0", rep.NixVersion)
	assert.Equal(t, "/nix/store/aaa-microvm-qemu-vm1", vm.Current)
	assert.Empty(t, vm.Previous)
	assert.False(t, vm.Running)
	assert.False(t, vm.RestartRequired, "a stopped VM needs a start, not a restart")
	assert.Equal(t, "/var/lib/microvms/vm1", vm.Dir)
	assert.Equal(t, "path:/srv/site#nixosConfigurations.vm1.config.microvm.declaredRunner", vm.Installable)

	assert.Equal(t, "/nix/store/aaa-microvm-qemu-vm1", e.link("/var/lib/microvms/vm1/current"))
	b, err := os.ReadFile(e.host.Path("/var/lib/microvms/vm1/flake"))
	require.NoError(t, err)
	assert.Equal(t, flake, string(b), "the flake file holds the flakeref without a newline, as microvm -c writes it")
	st, err := os.Stat(e.host.VMDir("vm1"))
	require.NoError(t, err)
	assert.Equal(t, DirMode, st.Mode().Perm())
	assert.Equal(t, "/var/lib/microvms/vm1/current", e.link("/nix/var/nix/gcroots/microvm/vm1"))
	assert.Equal(t, "/var/lib/microvms/vm1/booted", e.link("/nix/var/nix/gcroots/microvm/booted-vm1"))

	autos, _ := os.ReadDir(e.host.Path(DefaultAutoRoots))
	assert.Empty(t, autos, "the automatic GC root of the temporary out-link is removed")
	tmps, _ := os.ReadDir(e.in.TmpDir)
	assert.Empty(t, tmps, "the temporary out-link is removed")
	assert.Equal(t, []string{"vm1"}, rep.ChangedVMs)
}

func TestAReinstallOfTheSameRunnerChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.outputs["vm1"] = "/nix/store/aaa-microvm-qemu-vm1"
	e.run(Request{Names: []string{"vm1"}, Flake: flake})
	before := e.snapshot()
	rep := e.run(Request{Names: []string{"vm1"}, Flake: flake})
	assert.False(t, rep.Changed)
	assert.False(t, rep.VMs["vm1"].Changed)
	assert.Empty(t, rep.VMs["vm1"].Changes)
	assert.Empty(t, rep.Diffs)
	assert.Equal(t, "/nix/store/aaa-microvm-qemu-vm1", rep.VMs["vm1"].Previous)
	assert.Equal(t, before, e.snapshot())
}

func TestAConfigChangeSwapsCurrentAndTellsWhetherARestartIsNeeded(t *testing.T) {
	for _, tc := range []struct {
		name        string
		activeState string
		restart     bool
	}{
		{"a running VM keeps running its booted runner and needs a restart", "active", true},
		{"a stopped VM needs no restart: its next start boots the new runner", "", false},
		{"a VM systemd is about to relaunch needs no restart", "activating", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			old := "/nix/store/old-microvm-qemu-vm1"
			booted := ""
			if tc.activeState == "active" {
				booted = old
			}
			e.installed("vm1", old, booted)
			e.units["vm1"] = tc.activeState
			e.outputs["vm1"] = "/nix/store/new-microvm-qemu-vm1"

			rep := e.run(Request{Names: []string{"vm1"}, Flake: flake})
			vm := rep.VMs["vm1"]
			require.False(t, vm.Failed, vm.Msg)
			assert.True(t, vm.Changed)
			assert.Equal(t, old, vm.Previous)
			assert.Equal(t, "/nix/store/new-microvm-qemu-vm1", vm.Current)
			assert.Equal(t, booted, vm.Booted)
			assert.Equal(t, tc.restart, vm.RestartRequired)
			assert.Equal(t, tc.restart, len(rep.RestartRequired) == 1)
			assert.Equal(t, "/nix/store/new-microvm-qemu-vm1", e.link("/var/lib/microvms/vm1/current"))
			assert.Equal(t, booted, e.link("/var/lib/microvms/vm1/booted"), "install never touches booted")
			assert.Contains(t, vm.Changes, "current: "+old+" -> /nix/store/new-microvm-qemu-vm1")
		})
	}
}

func TestABuildFailureKeepsTheOldRunnerAndTheOthersStillInstall(t *testing.T) {
	e := newEnv(t)
	e.installed("b", "/nix/store/old-microvm-qemu-b", "/nix/store/old-microvm-qemu-b")
	e.units["b"] = "active"
	e.outputs["a"] = "/nix/store/aaa-microvm-qemu-a"
	e.outputs["b"] = "FAIL"
	e.outputs["c"] = "/nix/store/ccc-microvm-qemu-c"

	rep := e.run(Request{Names: []string{"a", "b", "c"}, Flake: flake})
	assert.Equal(t, []string{"b"}, rep.FailedVMs)
	assert.Equal(t, []string{"a", "c"}, rep.ChangedVMs)
	b := rep.VMs["b"]
	assert.True(t, b.Failed)
	assert.False(t, b.Changed)
	assert.Contains(t, b.Msg, "current is left as it was")
	assert.Contains(t, b.Msg, "error: builder for '/nix/store/xxx-microvm-qemu-b.drv' failed")
	assert.Contains(t, b.LogTail, "something is wrong in b's config")
	assert.Equal(t, "/nix/store/old-microvm-qemu-b", b.Current)
	assert.False(t, b.RestartRequired, "b still runs the runner current points at")
	assert.Equal(t, "/nix/store/old-microvm-qemu-b", e.link("/var/lib/microvms/b/current"))
	assert.Equal(t, "/nix/store/aaa-microvm-qemu-a", e.link("/var/lib/microvms/a/current"))
	assert.Equal(t, "/nix/store/ccc-microvm-qemu-c", e.link("/var/lib/microvms/c/current"))
	require.Error(t, rep.Err())
	assert.Contains(t, rep.Err().Error(), "1 of 3 VMs failed")
	tmps, _ := os.ReadDir(e.in.TmpDir)
	assert.Empty(t, tmps, "a failed build leaves no out-link behind")
}

func TestADeclarativeVMIsRefusedAndNothingIsBuilt(t *testing.T) {
	for _, state := range []string{"present", "absent"} {
		t.Run("state "+state, func(t *testing.T) {
			e := newEnv(t)
			e.installed("d", "/nix/store/ddd-microvm-qemu-d", "")
			require.NoError(t, os.Symlink("/nix/store/sys-nixos-system-d", filepath.Join(e.host.VMDir("d"), "toplevel")))
			e.outputs["d"] = "/nix/store/new-microvm-qemu-d"
			before := e.snapshot()
			req := Request{Names: []string{"d"}, State: state}
			if state == "present" {
				req.Flake = flake
			}
			rep := e.run(req)
			assert.True(t, rep.VMs["d"].Failed)
			assert.Contains(t, rep.VMs["d"].Msg, "declared in the hypervisor's NixOS configuration")
			assert.Contains(t, rep.VMs["d"].Msg, "toplevel exists")
			assert.Zero(t, e.builds.Load())
			assert.Equal(t, before, e.snapshot())
		})
	}
}

func TestAbsentRefusesARunningVM(t *testing.T) {
	for _, st := range []string{"active", "activating", "deactivating", "reloading"} {
		t.Run("unit "+st, func(t *testing.T) {
			e := newEnv(t)
			e.installed("vm1", "/nix/store/aaa-microvm-qemu-vm1", "/nix/store/aaa-microvm-qemu-vm1")
			e.units["vm1"] = st
			before := e.snapshot()
			rep := e.run(Request{Names: []string{"vm1"}, State: "absent"})
			assert.True(t, rep.VMs["vm1"].Failed)
			assert.Contains(t, rep.VMs["vm1"].Msg, "stop it first")
			assert.Contains(t, rep.VMs["vm1"].Msg, "microvm@vm1.service")
			assert.Equal(t, before, e.snapshot())
		})
	}
}

func withVolumes(t *testing.T, e *env, name string) {
	dir := e.host.VMDir(name)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "var.img"), []byte("ext4 data"), 0o660))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ceph.img"), []byte("osd"), 0o660))
	// A hypervisor's control socket (the path is too long for bind(2) in a temp dir).
	require.NoError(t, unix.Mknod(filepath.Join(dir, "vm1.sock"), unix.S_IFSOCK|0o600, 0))
}

func TestAbsentKeepsVolumeImagesUnlessPurged(t *testing.T) {
	e := newEnv(t)
	e.installed("vm1", "/nix/store/aaa-microvm-qemu-vm1", "")
	withVolumes(t, e, "vm1")
	require.NoError(t, os.Symlink("/var/lib/microvms/vm1/old", e.host.GCRoot("vm1", "old")))

	rep := e.run(Request{Names: []string{"vm1"}, State: "absent"})
	vm := rep.VMs["vm1"]
	require.False(t, vm.Failed, vm.Msg)
	assert.True(t, vm.Changed)
	assert.Equal(t, []string{"ceph.img", "var.img"}, vm.Kept)
	assert.Contains(t, vm.Msg, "purge: true deletes them")
	assert.ElementsMatch(t, []string{"current", "flake", "vm1.sock",
		"/nix/var/nix/gcroots/microvm/vm1", "/nix/var/nix/gcroots/microvm/booted-vm1", "/nix/var/nix/gcroots/microvm/old-vm1"}, vm.Removed)
	left, err := os.ReadDir(e.host.VMDir("vm1"))
	require.NoError(t, err)
	var names []string
	for _, l := range left {
		names = append(names, l.Name())
	}
	assert.Equal(t, []string{"ceph.img", "var.img"}, names)
	roots, _ := os.ReadDir(e.host.GCRootsPath())
	assert.Empty(t, roots)
	data, _ := os.ReadFile(filepath.Join(e.host.VMDir("vm1"), "var.img"))
	assert.Equal(t, "ext4 data", string(data))

	again := e.run(Request{Names: []string{"vm1"}, State: "absent"})
	assert.False(t, again.Changed, "a second removal without purge has nothing left to do")

	purged := e.run(Request{Names: []string{"vm1"}, State: "absent", Purge: true})
	assert.True(t, purged.Changed)
	assert.ElementsMatch(t, []string{"ceph.img", "var.img"}, purged.VMs["vm1"].Removed)
	_, err = os.Lstat(e.host.VMDir("vm1"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestAbsentRemovesTheDirectoryWhenNoDataIsInIt(t *testing.T) {
	for _, purge := range []bool{false, true} {
		t.Run(fmt.Sprintf("purge %v", purge), func(t *testing.T) {
			e := newEnv(t)
			e.installed("vm1", "/nix/store/aaa-microvm-qemu-vm1", "")
			rep := e.run(Request{Names: []string{"vm1"}, State: "absent", Purge: purge})
			require.False(t, rep.VMs["vm1"].Failed, rep.VMs["vm1"].Msg)
			assert.True(t, rep.Changed)
			_, err := os.Lstat(e.host.VMDir("vm1"))
			assert.ErrorIs(t, err, fs.ErrNotExist)
			assert.Empty(t, rep.VMs["vm1"].Kept)
			assert.False(t, e.run(Request{Names: []string{"vm1"}, State: "absent", Purge: purge}).Changed)
		})
	}
}

// Check mode must predict the real run's changed and current, report the same diff, and
// leave every file under the root as it was.
func TestCheckModePredictsTheRealRunAndChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(e *env)
		req   Request
	}{
		{"a fresh install", func(e *env) { e.outputs["vm1"] = "/nix/store/aaa-microvm-qemu-vm1" },
			Request{Names: []string{"vm1"}, Flake: flake}},
		{"a reinstall of the same runner", func(e *env) {
			e.installed("vm1", "/nix/store/aaa-microvm-qemu-vm1", "")
			e.outputs["vm1"] = "/nix/store/aaa-microvm-qemu-vm1"
		}, Request{Names: []string{"vm1"}, Flake: flake}},
		{"a config change of a running VM", func(e *env) {
			e.installed("vm1", "/nix/store/aaa-microvm-qemu-vm1", "/nix/store/aaa-microvm-qemu-vm1")
			e.units["vm1"] = "active"
			e.outputs["vm1"] = "/nix/store/bbb-microvm-qemu-vm1"
		}, Request{Names: []string{"vm1"}, Flake: flake}},
		{"a changed flakeref only", func(e *env) {
			e.installed("vm1", "/nix/store/aaa-microvm-qemu-vm1", "")
			e.outputs["vm1"] = "/nix/store/aaa-microvm-qemu-vm1"
		}, Request{Names: []string{"vm1"}, Flake: "path:/srv/other"}},
		{"a removal keeping volumes", func(e *env) {
			e.installed("vm1", "/nix/store/aaa-microvm-qemu-vm1", "")
			withVolumes(e.t, e, "vm1")
		}, Request{Names: []string{"vm1"}, State: "absent"}},
		{"a purge", func(e *env) {
			e.installed("vm1", "/nix/store/aaa-microvm-qemu-vm1", "")
			withVolumes(e.t, e, "vm1")
		}, Request{Names: []string{"vm1"}, State: "absent", Purge: true}},
		{"a removal of a VM that is not there", func(e *env) {}, Request{Names: []string{"vm1"}, State: "absent"}},
		{"a fresh install with a host key", func(e *env) { e.outputs["vm1"] = "/nix/store/aaa-microvm-qemu-vm1" },
			Request{Names: []string{"vm1"}, Flake: flake, HostKey: DefaultHostKey}},
		{"a host key for an installed VM that has none", func(e *env) {
			e.installed("vm1", "/nix/store/aaa-microvm-qemu-vm1", "")
			e.outputs["vm1"] = "/nix/store/aaa-microvm-qemu-vm1"
		}, Request{Names: []string{"vm1"}, Flake: flake, HostKey: DefaultHostKey}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.setup(e)
			before := e.snapshot()
			check := tc.req
			check.Check = true
			predicted := e.run(check)
			assert.Equal(t, before, e.snapshot(), "check mode changed the host")
			assert.Zero(t, e.builds.Load(), "check mode never builds")

			real := e.run(tc.req)
			p, r := predicted.VMs["vm1"], real.VMs["vm1"]
			require.False(t, r.Failed, r.Msg)
			assert.Equal(t, r.Changed, p.Changed)
			assert.Equal(t, r.Current, p.Current)
			assert.Equal(t, r.Changes, p.Changes)
			assert.Equal(t, r.RestartRequired, p.RestartRequired)
			if tc.req.HostKey == "" {
				assert.Equal(t, real.Diffs, predicted.Diffs)
				return
			}
			// The new key's fingerprint is known only once it is made: check mode says so.
			require.Len(t, predicted.Diffs, 1)
			assert.Contains(t, predicted.Diffs[0].After, "ssh host key "+DefaultHostKey+": (new ed25519 key)")
			assert.Contains(t, real.Diffs[0].After, "ssh host key "+DefaultHostKey+": ssh-ed25519 "+r.HostKey.Fingerprint)
			assert.Empty(t, p.HostKey.PublicKey)
			assert.NotEmpty(t, r.HostKey.PublicKey)
		})
	}
}

func TestCheckModeReportsAnEvaluationFailureAsTheRealRunWouldFail(t *testing.T) {
	e := newEnv(t)
	rep := e.run(Request{Names: []string{"ghost"}, Flake: flake, Check: true})
	vm := rep.VMs["ghost"]
	assert.True(t, vm.Failed)
	assert.Contains(t, vm.Msg, "check mode evaluates, it does not build")
	assert.Contains(t, vm.LogTail, "does not provide attribute 'nixosConfigurations.ghost'")
}

func TestTheDiffShowsTheCurrentLinkChange(t *testing.T) {
	e := newEnv(t)
	e.installed("vm1", "/nix/store/aaa-microvm-qemu-vm1", "")
	e.outputs["vm1"] = "/nix/store/bbb-microvm-qemu-vm1"
	rep := e.run(Request{Names: []string{"vm1"}, Flake: flake})
	require.Len(t, rep.Diffs, 1)
	d := rep.Diffs[0]
	assert.Equal(t, "/var/lib/microvms/vm1", d.Header)
	assert.Equal(t, `current -> /nix/store/aaa-microvm-qemu-vm1
flake = "path:/srv/site"
gcroot /nix/var/nix/gcroots/microvm/booted-vm1 -> /var/lib/microvms/vm1/booted
gcroot /nix/var/nix/gcroots/microvm/vm1 -> /var/lib/microvms/vm1/current
`, d.Before)
	assert.Equal(t, `current -> /nix/store/bbb-microvm-qemu-vm1
flake = "path:/srv/site"
old -> /nix/store/aaa-microvm-qemu-vm1
gcroot /nix/var/nix/gcroots/microvm/booted-vm1 -> /var/lib/microvms/vm1/booted
gcroot /nix/var/nix/gcroots/microvm/old-vm1 -> /var/lib/microvms/vm1/old
gcroot /nix/var/nix/gcroots/microvm/vm1 -> /var/lib/microvms/vm1/current
`, d.After, "the runner before is kept as old, with its GC root")
}

func TestAFreshInstallDiffGrowsFromNothing(t *testing.T) {
	e := newEnv(t)
	e.outputs["vm1"] = "/nix/store/aaa-microvm-qemu-vm1"
	rep := e.run(Request{Names: []string{"vm1"}, Flake: flake})
	require.Len(t, rep.Diffs, 1)
	assert.Empty(t, rep.Diffs[0].Before)
	assert.Contains(t, rep.Diffs[0].After, "current -> /nix/store/aaa-microvm-qemu-vm1\n")
}

func TestAWrongDirectoryModeIsRepairedAndReported(t *testing.T) {
	e := newEnv(t)
	e.installed("vm1", "/nix/store/aaa-microvm-qemu-vm1", "")
	require.NoError(t, os.Chmod(e.host.VMDir("vm1"), 0o755))
	e.outputs["vm1"] = "/nix/store/aaa-microvm-qemu-vm1"
	rep := e.run(Request{Names: []string{"vm1"}, Flake: flake})
	assert.True(t, rep.Changed)
	require.Len(t, rep.VMs["vm1"].Changes, 1)
	assert.Contains(t, rep.VMs["vm1"].Changes[0], "0775 (was")
	st, _ := os.Stat(e.host.VMDir("vm1"))
	assert.Equal(t, DirMode, st.Mode().Perm())
	assert.False(t, e.run(Request{Names: []string{"vm1"}, Flake: flake}).Changed)
}

func TestARunnerStorePathIsInstalledWithoutBuilding(t *testing.T) {
	const runner = "/nix/store/rrr-microvm-qemu-vm1"
	for _, tc := range []struct {
		name    string
		files   bool
		run     bool
		valid   bool
		wantErr string
	}{
		{"a copied runner is installed", true, true, true, ""},
		{"a runner that is not on the host is refused", false, false, true, "is not on the hypervisor"},
		{"a store path without microvm-run is refused", true, false, true, "not a microvm.nix runner"},
		{"a path nix does not know is refused", true, true, false, "not know"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.files {
				require.NoError(t, os.MkdirAll(e.host.Path(runner+"/bin"), 0o755))
			}
			if tc.run {
				require.NoError(t, os.WriteFile(e.host.Path(runner+"/bin/microvm-run"), []byte("#!/bin/sh\n"), 0o755))
			}
			if tc.valid {
				e.fake.Expect(command.Expect{Match: "nix --extra-experimental-features nix-command flakes path-info " + runner})
			} else {
				e.fake.Expect(command.Expect{Match: "nix --extra-experimental-features nix-command flakes path-info " + runner, Exit: 1, Stderr: "error: path is not valid"})
			}
			rep := e.run(Request{Names: []string{"vm1"}, Runners: map[string]string{"vm1": runner}})
			vm := rep.VMs["vm1"]
			assert.Zero(t, e.builds.Load())
			if tc.wantErr != "" {
				assert.True(t, vm.Failed)
				assert.Contains(t, vm.Msg, tc.wantErr)
				assert.Contains(t, vm.Msg, "runner: ")
				_, err := os.Lstat(e.host.VMDir("vm1"))
				assert.ErrorIs(t, err, fs.ErrNotExist)
				return
			}
			require.False(t, vm.Failed, vm.Msg)
			assert.True(t, vm.Changed)
			assert.Equal(t, runner, e.link("/var/lib/microvms/vm1/current"))
			_, err := os.Lstat(filepath.Join(e.host.VMDir("vm1"), "flake"))
			assert.ErrorIs(t, err, fs.ErrNotExist, "a runner install does not invent a flake file")
		})
	}
}

func TestBadRequestsNameTheOption(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  Request
		want string
	}{
		{"a name with a slash", Request{Names: []string{"a/b"}, Flake: flake}, "name: VM name \"a/b\" must not contain '/'"},
		{"a name longer than a tap id allows", Request{Names: []string{"abcdefghijklm"}, Flake: flake}, "name: VM name \"abcdefghijklm\" is 13 characters"},
		{"a name listed twice", Request{Names: []string{"a", "a"}, Flake: flake}, "name: VM \"a\" is listed twice"},
		{"neither flake nor runner", Request{Names: []string{"a"}}, "flake, runner: state=present needs one"},
		{"both flake and runner", Request{Names: []string{"a"}, Flake: flake, Runners: map[string]string{"a": "/nix/store/x"}}, "not both"},
		{"a relative flake path", Request{Names: []string{"a"}, Flake: "path:site"}, "flake: \"path:site\" is a relative local path"},
		{"a flake with a fragment", Request{Names: []string{"a"}, Flake: "path:/s#x"}, "flake: "},
		{"a runner outside the store", Request{Names: []string{"a"}, Runners: map[string]string{"a": "/tmp/x"}}, "runner: \"/tmp/x\" for a is not a store path"},
		{"a runner for a VM not in name", Request{Names: []string{"a"}, Runners: map[string]string{"a": "/nix/store/x", "b": "/nix/store/y"}}, "runner: \"b\" is not one of the VMs"},
		{"a VM without a runner", Request{Names: []string{"a", "b"}, Runners: map[string]string{"a": "/nix/store/x"}}, "runner: no runner store path for VM b"},
		{"purge with present", Request{Names: []string{"a"}, Flake: flake, Purge: true}, "purge: only applies to state=absent"},
		{"a flake with absent", Request{Names: []string{"a"}, State: "absent", Flake: flake}, "not used with state=absent"},
		{"an unknown state", Request{Names: []string{"a"}, State: "started"}, "state: must be present or absent"},
		{"an absolute host key path", Request{Names: []string{"a"}, Flake: flake, HostKey: "/etc/ssh/k"}, "ssh_host_key: \"/etc/ssh/k\" must be a clean path relative"},
		{"a host key path out of the VM directory", Request{Names: []string{"a"}, Flake: flake, HostKey: "../b/etc/k"}, "ssh_host_key: \"../b/etc/k\" must be a clean path relative"},
		{"a host key in a managed link", Request{Names: []string{"a"}, Flake: flake, HostKey: "current/k"}, "inside current"},
		{"a host key with absent", Request{Names: []string{"a"}, State: "absent", HostKey: DefaultHostKey}, "ssh_host_key: only applies to state=present"},
		{"a host key with rollback", Request{Names: []string{"a"}, Rollback: true, HostKey: DefaultHostKey}, "ssh_host_key, rollback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			_, err := e.in.Run(context.Background(), tc.req)
			assert.ErrorContains(t, err, tc.want)
			assert.Empty(t, e.fake.Calls(), "nothing runs before the request is valid")
		})
	}
}

func TestAnEmptyListOfVMsIsANoOp(t *testing.T) {
	e := newEnv(t)
	rep := e.run(Request{Names: []string{}, Flake: flake})
	assert.False(t, rep.Changed)
	assert.Empty(t, rep.VMs)
	assert.Empty(t, e.fake.Calls(), "no nix call for no VM")
}

func TestALockedVMWaitsAndThenFailsWithoutChanges(t *testing.T) {
	e := newEnv(t)
	e.outputs["vm1"] = "/nix/store/aaa-microvm-qemu-vm1"
	unlock, err := e.host.Lock(context.Background(), "vm1")
	require.NoError(t, err)
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	rep, err := e.in.Run(ctx, Request{Names: []string{"vm1"}, Flake: flake})
	require.NoError(t, err)
	assert.True(t, rep.VMs["vm1"].Failed)
	assert.Contains(t, rep.VMs["vm1"].Msg, "locked by another run")
	assert.False(t, rep.VMs["vm1"].Changed)
	_, err = os.Lstat(e.host.VMDir("vm1"))
	assert.True(t, os.IsNotExist(err), "the runner is built before the locks are taken, but nothing of the VM is made")
	tmps, _ := os.ReadDir(e.in.TmpDir)
	assert.Empty(t, tmps, "the out-links are removed")
}

// eightVMs are the VMs of the batch tests: eight VMs on one hypervisor.
var eightVMs = []string{"a", "b", "c", "d", "e", "f", "g", "h"}

func TestEightVMsAreEvaluatedOnceAndBuiltOnce(t *testing.T) {
	e := newEnv(t)
	for _, n := range eightVMs {
		e.outputs[n] = "/nix/store/" + n + n + n + "-microvm-qemu-" + n
	}
	check := e.run(Request{Names: eightVMs, Flake: flake, Check: true})
	assert.Equal(t, eightVMs, check.ChangedVMs)
	assert.Equal(t, []string{
		"nix --version",
		"nix --extra-experimental-features nix-command flakes flake metadata --json path:/srv/site --no-write-lock-file",
		"nix --extra-experimental-features nix-command flakes eval --json --apply " + nix.RunnersExpr(eightVMs) + " --no-write-lock-file path:/srv/site#nixosConfigurations",
	}, e.fake.Calls(), "check mode: one nix evaluation for eight VMs")
	for _, n := range eightVMs {
		assert.Equal(t, e.outputs[n], check.VMs[n].Current)
	}

	rep := e.run(Request{Names: eightVMs, Flake: flake})
	require.NoError(t, rep.Err())
	assert.Equal(t, eightVMs, rep.ChangedVMs)
	calls := e.fake.Calls()[3:]
	require.Len(t, calls, 4, "a real run: nix --version, the flake's fingerprint, one evaluation (check mode saved none), one build: %q", calls)
	assert.Equal(t, "nix --version", calls[0])
	assert.Contains(t, calls[1], " flake metadata --json ")
	assert.Contains(t, calls[2], " eval --json --apply cs: ")
	want := "nix --extra-experimental-features nix-command flakes build -L --keep-going --out-link "
	assert.True(t, strings.HasPrefix(calls[3], want), calls[3])
	for _, n := range eightVMs {
		assert.Contains(t, calls[3], " "+drvOf(n), "the build names the derivations, so nix evaluates nothing again")
		assert.Equal(t, e.outputs[n], e.link("/var/lib/microvms/"+n+"/current"), "links are matched by target, not by position")
	}
	autos, _ := os.ReadDir(e.host.Path(DefaultAutoRoots))
	assert.Empty(t, autos, "every automatic GC root of the out-links is removed")
	tmps, _ := os.ReadDir(e.in.TmpDir)
	assert.Empty(t, tmps)

	// A re-run of an unchanged flake: the evaluation cache answers, nothing is built.
	n := len(e.fake.Calls())
	again := e.run(Request{Names: eightVMs, Flake: flake})
	require.NoError(t, again.Err())
	assert.False(t, again.Changed)
	assert.Equal(t, []string{"nix --version", "nix --extra-experimental-features nix-command flakes flake metadata --json path:/srv/site --no-write-lock-file"},
		e.fake.Calls()[n:], "a re-run of an unchanged flake evaluates nothing")
	predicted := e.run(Request{Names: eightVMs, Flake: flake, Check: true})
	assert.False(t, predicted.Changed)
	assert.Len(t, e.fake.Calls()[n:], 4, "so does check mode")
	n = len(e.fake.Calls())
	some := e.run(Request{Names: eightVMs[2:4], Flake: flake})
	require.NoError(t, some.Err())
	assert.Len(t, e.fake.Calls()[n:], 2, "so does a run of some of the VMs (a --limit): the entry holds every VM of the flake")

	// A changed flake misses the cache.
	e.outputs["c"] = "/nix/store/c2-microvm-qemu-c"
	n = len(e.fake.Calls())
	changed := e.run(Request{Names: eightVMs, Flake: flake})
	assert.Equal(t, []string{"c"}, changed.ChangedVMs)
	assert.Contains(t, strings.Join(e.fake.Calls()[n:], "\n"), " eval --json --apply cs: ")
	assert.Contains(t, e.fake.Calls()[len(e.fake.Calls())-1], " build -L --out-link ", "only c is built")
	assert.NotContains(t, e.fake.Calls()[len(e.fake.Calls())-1], drvOf("a"))
}

func TestACollectedDerivationMissesTheEvaluationCache(t *testing.T) {
	e := newEnv(t)
	e.outputs["a"] = "/nix/store/aaa-microvm-qemu-a"
	require.NoError(t, e.run(Request{Names: []string{"a"}, Flake: flake}).Err())
	require.NoError(t, os.Remove(e.host.Path(drvOf("a"))), "nix-collect-garbage took the derivation")
	before := e.evals.Load()
	require.NoError(t, e.run(Request{Names: []string{"a"}, Flake: flake}).Err())
	assert.Equal(t, before+1, e.evals.Load(), "evaluated again")
}

func TestOneBrokenVMAmongEightLeavesTheOtherSevenInstalled(t *testing.T) {
	e := newEnv(t)
	for _, n := range eightVMs {
		e.outputs[n] = "/nix/store/" + n + n + n + "-microvm-qemu-" + n
	}
	rep := e.run(Request{Names: eightVMs, Flake: flake})
	require.NoError(t, rep.Err())
	for _, n := range eightVMs {
		e.outputs[n] = "/nix/store/" + n + "22-microvm-qemu-" + n
	}
	e.outputs["d"] = "FAIL"
	e.units["d"] = "active"
	before := e.fake.Calls()

	rep = e.run(Request{Names: eightVMs, Flake: flake})
	assert.Equal(t, []string{"d"}, rep.FailedVMs)
	assert.Equal(t, []string{"a", "b", "c", "e", "f", "g", "h"}, rep.ChangedVMs)
	d := rep.VMs["d"]
	assert.Contains(t, d.Msg, "build the runner of d (current is left as it was)")
	assert.Contains(t, d.LogTail, "something is wrong in b's config", "the failing VM's own build log")
	assert.Equal(t, "/nix/store/ddd-microvm-qemu-d", d.Current)
	assert.Equal(t, "/nix/store/ddd-microvm-qemu-d", e.link("/var/lib/microvms/d/current"), "the failing VM's current is untouched")
	for _, n := range rep.ChangedVMs {
		assert.Equal(t, e.outputs[n], e.link("/var/lib/microvms/"+n+"/current"))
	}
	calls := e.fake.Calls()[len(before):]
	evals := 0
	for _, c := range calls {
		if strings.Contains(c, " eval ") {
			evals++
		}
	}
	assert.Equal(t, 1, evals, "one evaluation, also when a build fails: %q", calls)
	assert.Len(t, calls, 1+1+1+1+8, "version, fingerprint, eval, the batch build, then each VM alone (built ones only get their out-link)")
	autos, _ := os.ReadDir(e.host.Path(DefaultAutoRoots))
	assert.Empty(t, autos)
	tmps, _ := os.ReadDir(e.in.TmpDir)
	assert.Empty(t, tmps)
}

func TestAVMThatDoesNotEvaluateIsReportedWithItsOwnMessage(t *testing.T) {
	e := newEnv(t)
	e.outputs["a"] = "/nix/store/aaa-microvm-qemu-a"
	e.outputs["c"] = "/nix/store/ccc-microvm-qemu-c"
	e.outputs["t"] = "THROW"
	rep := e.run(Request{Names: []string{"a", "ghost", "t", "c"}, Flake: flake})
	assert.Equal(t, []string{"ghost", "t"}, rep.FailedVMs)
	assert.Equal(t, []string{"a", "c"}, rep.ChangedVMs)
	assert.Contains(t, rep.VMs["ghost"].LogTail, "does not provide attribute 'nixosConfigurations.ghost'")
	assert.Equal(t, int32(1), e.builds.Load(), "the VMs that evaluated are built in one call")
}

func TestAQuotedAttributeNameReachesNix(t *testing.T) {
	e := newEnv(t)
	e.outputs["db.1"] = "/nix/store/aaa-microvm-qemu-db.1"
	rep := e.run(Request{Names: []string{"db.1"}, Flake: flake})
	require.False(t, rep.VMs["db.1"].Failed, rep.VMs["db.1"].Msg)
	assert.Equal(t, `path:/srv/site#nixosConfigurations."db.1".config.microvm.declaredRunner`, rep.VMs["db.1"].Installable)
}

func TestAFlakeFileWrittenWithANewlineIsRewrittenOnceAsMicrovmCWritesIt(t *testing.T) {
	e := newEnv(t)
	e.installed("vm1", "/nix/store/aaa-microvm-qemu-vm1", "")
	require.NoError(t, os.WriteFile(filepath.Join(e.host.VMDir("vm1"), "flake"), []byte(flake+"\n"), 0o644))
	e.outputs["vm1"] = "/nix/store/aaa-microvm-qemu-vm1"
	rep := e.run(Request{Names: []string{"vm1"}, Flake: flake})
	assert.Equal(t, []string{"write /var/lib/microvms/vm1/flake: " + flake}, rep.VMs["vm1"].Changes)
	b, _ := os.ReadFile(filepath.Join(e.host.VMDir("vm1"), "flake"))
	assert.Equal(t, flake, string(b))
	assert.False(t, e.run(Request{Names: []string{"vm1"}, Flake: flake}).Changed)
}

func TestStepsReportTheEngineStatuses(t *testing.T) {
	e := newEnv(t)
	e.installed("vm1", "/nix/store/aaa-microvm-qemu-vm1", "")
	e.outputs["vm1"] = "/nix/store/bbb-microvm-qemu-vm1"
	statuses := func(rep *Report) map[string]step.Status {
		out := map[string]step.Status{}
		for _, s := range rep.VMs["vm1"].Steps {
			out[s.Title] = s.Status
		}
		return out
	}
	check := e.run(Request{Names: []string{"vm1"}, Flake: flake, Check: true})
	assert.Equal(t, map[string]step.Status{
		"create the state directory":              step.OK,
		"create the VM directory, owner and mode": step.OK,
		"keep the previous runner as old":         step.WouldChange,
		"point current at the runner":             step.WouldChange,
		"write the flake file":                    step.OK,
		"keep the GC root of current":             step.OK,
		"keep the GC root of booted":              step.OK,
		"keep the GC root of old":                 step.WouldChange,
	}, statuses(check))
	real := e.run(Request{Names: []string{"vm1"}, Flake: flake})
	assert.Equal(t, step.Changed, statuses(real)["point current at the runner"])
	assert.Equal(t, []string{"old -> /nix/store/aaa-microvm-qemu-vm1",
		"current: /nix/store/aaa-microvm-qemu-vm1 -> /nix/store/bbb-microvm-qemu-vm1",
		"gcroot /nix/var/nix/gcroots/microvm/old-vm1 -> /var/lib/microvms/vm1/old"}, real.VMs["vm1"].Changes)
	gone := e.run(Request{Names: []string{"vm1"}, State: "absent", Check: true})
	for _, s := range gone.VMs["vm1"].Steps {
		assert.Equal(t, step.WouldChange, s.Status, s.Title)
	}
	assert.NotEmpty(t, gone.VMs["vm1"].Steps)
}

func TestTheEvaluationCacheGathersTheVMsOfSeparateRuns(t *testing.T) {
	e := newEnv(t)
	e.outputs["a"] = "/nix/store/aaa-microvm-qemu-a"
	e.outputs["b"] = "/nix/store/bbb-microvm-qemu-b"
	require.NoError(t, e.run(Request{Names: []string{"a"}, Flake: flake}).Err())
	require.NoError(t, e.run(Request{Names: []string{"b"}, Flake: flake}).Err())
	before := e.evals.Load()
	require.NoError(t, e.run(Request{Names: []string{"a", "b"}, Flake: flake}).Err())
	assert.Equal(t, before, e.evals.Load(), "a and b were evaluated by the runs before: nothing is evaluated")
}

func TestTheHostKeyIsMadeOnceBeforeTheFirstBootAndNeverReplaced(t *testing.T) {
	e := newEnv(t)
	e.outputs["vm1"] = "/nix/store/aaa-microvm-qemu-vm1"
	req := Request{Names: []string{"vm1"}, Flake: flake, HostKey: DefaultHostKey}
	rep := e.run(req)
	vm := rep.VMs["vm1"]
	require.False(t, vm.Failed, vm.Msg)
	require.NotNil(t, vm.HostKey)
	assert.True(t, vm.HostKey.Created)
	assert.Equal(t, "/var/lib/microvms/vm1/etc/ssh/ssh_host_ed25519_key", vm.HostKey.Path)
	assert.Regexp(t, `^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}$`, vm.HostKey.PublicKey)
	assert.Regexp(t, `^SHA256:[A-Za-z0-9+/]{43}$`, vm.HostKey.Fingerprint)
	assert.Contains(t, vm.Changes, "create the SSH host key /var/lib/microvms/vm1/etc/ssh/ssh_host_ed25519_key (ed25519)")

	p := e.host.Path("/var/lib/microvms/vm1/etc/ssh/ssh_host_ed25519_key")
	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, HostKeyMode, st.Mode().Perm(), "the private key is readable by its owner only")
	priv, err := os.ReadFile(p)
	require.NoError(t, err)
	pubFile, err := os.ReadFile(p + ".pub")
	require.NoError(t, err)
	assert.Equal(t, vm.HostKey.PublicKey+" root@vm1\n", string(pubFile))

	// Nothing of the private key is in the result, its message, changes or diff.
	res := rep.Result()
	out := fmt.Sprintf("%+v %+v %v %v", res, *vm, vm.Changes, rep.Diffs)
	assert.NotContains(t, out, "PRIVATE KEY")
	body := strings.Join(strings.Split(strings.TrimSpace(string(priv)), "\n")[1:3], "")
	assert.NotContains(t, out, body[20:60], "no part of the private key's body")

	// Reinstalls, a config change and a new flakeref keep it, byte for byte.
	for _, out := range []string{"/nix/store/aaa-microvm-qemu-vm1", "/nix/store/bbb-microvm-qemu-vm1"} {
		e.outputs["vm1"] = out
		again := e.run(req).VMs["vm1"]
		require.False(t, again.Failed, again.Msg)
		assert.False(t, again.HostKey.Created)
		assert.Equal(t, vm.HostKey.PublicKey, again.HostKey.PublicKey)
		now, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.Equal(t, priv, now)
	}
	assert.False(t, e.run(req).Changed, "a second run with the key in place changes nothing")

	// A removal keeps the etc share (data), so a redeploy after it has the same identity.
	e.run(Request{Names: []string{"vm1"}, State: "absent"})
	again := e.run(req).VMs["vm1"]
	require.False(t, again.Failed, again.Msg)
	assert.Equal(t, vm.HostKey.PublicKey, again.HostKey.PublicKey, "a destroy without purge keeps the key")
}

func TestAKeyTheGuestMadeIsKeptAndReported(t *testing.T) {
	e := newEnv(t)
	e.installed("vm1", "/nix/store/aaa-microvm-qemu-vm1", "")
	e.outputs["vm1"] = "/nix/store/aaa-microvm-qemu-vm1"
	p := e.host.Path("/var/lib/microvms/vm1/etc/ssh/ssh_host_ed25519_key")
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	priv, pub, err := sshkey.GenerateEd25519(nil, "made by sshd")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, priv, 0o600))
	rep := e.run(Request{Names: []string{"vm1"}, Flake: flake, HostKey: DefaultHostKey})
	vm := rep.VMs["vm1"]
	require.False(t, vm.Failed, vm.Msg)
	assert.False(t, vm.Changed)
	assert.Equal(t, pub.Line(), vm.HostKey.PublicKey)
	assert.Equal(t, pub.Fingerprint(), vm.HostKey.Fingerprint)
	assert.False(t, vm.HostKey.Created)
}

func TestAHostKeyFileThatIsNoKeyIsAnErrorAndLeftAlone(t *testing.T) {
	e := newEnv(t)
	e.outputs["vm1"] = "/nix/store/aaa-microvm-qemu-vm1"
	p := e.host.Path("/var/lib/microvms/vm1/etc/ssh/ssh_host_ed25519_key")
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte("garbage\n"), 0o600))
	rep := e.run(Request{Names: []string{"vm1"}, Flake: flake, HostKey: DefaultHostKey})
	vm := rep.VMs["vm1"]
	assert.True(t, vm.Failed)
	assert.Contains(t, vm.Msg, "ssh_host_key: read /var/lib/microvms/vm1/etc/ssh/ssh_host_ed25519_key: not an OpenSSH private key file")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "garbage\n", string(b))
}
