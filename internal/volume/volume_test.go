package volume

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

// units is a fake of the narrow systemd interface: VM name -> ActiveState.
type units map[string]string

func (u units) States(_ context.Context, names []string) (map[string]systemd.UnitState, error) {
	out := map[string]systemd.UnitState{}
	for _, n := range names {
		vm := strings.TrimSuffix(strings.TrimPrefix(n, "microvm@"), ".service")
		st := u[vm]
		if st == "" {
			st = "inactive"
		}
		out[n] = systemd.UnitState{Name: n, LoadState: "loaded", ActiveState: st}
	}
	return out, nil
}

// recorder runs real commands and records their names, so tests can assert which tools ran.
type recorder struct {
	mu    sync.Mutex
	calls []string
	next  command.Runner
}

func (r *recorder) Run(ctx context.Context, c command.Cmd) (command.Output, error) {
	r.mu.Lock()
	r.calls = append(r.calls, c.Name)
	r.mu.Unlock()
	return r.next.Run(ctx, c)
}

func (r *recorder) ran(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.calls {
		if c == name {
			return true
		}
	}
	return false
}

type env struct {
	h   statedir.Host
	u   units
	rec *recorder
	m   *Manager
	uid int
	gid int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	for _, tool := range []string{"blkid", "mkfs.ext4", "mkfs.xfs", "mkfs.btrfs", "e2fsck", "resize2fs", "dumpe2fs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed by these tests (e2fsprogs, xfsprogs, btrfs-progs, util-linux): %v", tool, err)
		}
	}
	h := statedir.Host{Root: t.TempDir()}
	require.NoError(t, os.MkdirAll(h.VMDir("a"), 0o775))
	require.NoError(t, os.MkdirAll(h.VMDir("b"), 0o775))
	e := &env{h: h, u: units{}, rec: &recorder{next: command.Exec{}}, uid: os.Getuid(), gid: os.Getgid()}
	e.m = &Manager{Host: h, Runner: e.rec, Units: e.u, IDs: func(owner, group string) (int, int, error) {
		if owner == "nobody" {
			return 65534, 65534, nil
		}
		return e.uid, e.gid, nil
	}}
	return e
}

func vol(path string, size int64, fs, label string) Volume {
	return Volume{Path: path, SizeMiB: size, FSType: fs, Label: label, Owner: "microvm", Group: "kvm", Mode: 0o660}
}

func present(check bool, vms ...VM) Request { return Request{VMs: vms, Check: check} }

func blkid(t *testing.T, path string) map[string]string {
	t.Helper()
	out, err := exec.Command("blkid", "-p", "-o", "export", path).Output()
	require.NoError(t, err, "blkid %s", path)
	return parseExport(string(out))
}

// fourSteps runs r as ansible-test's groups of four do: check mode, real run, check mode
// again, real run again. It returns the first real run's report.
func fourSteps(t *testing.T, e *env, r Request) *Report {
	t.Helper()
	snap := snapshot(t, e.h.Root)
	r.Check = true
	predicted, err := e.m.Apply(context.Background(), r)
	require.NoError(t, err)
	assert.Equal(t, snap, snapshot(t, e.h.Root), "check mode changed nothing on disk")
	r.Check = false
	real, err := e.m.Apply(context.Background(), r)
	require.NoError(t, err)
	assert.Equal(t, predicted.Changed, real.Changed, "check mode predicted changed")
	for n, vr := range real.VMs {
		for i, res := range vr.Volumes {
			p := predicted.VMs[n].Volumes[i]
			assert.Equal(t, p.Action, res.Action, "%s %s action", n, res.Path)
			assert.Equal(t, p.Changes, res.Changes, "%s %s changes", n, res.Path)
			assert.Equal(t, p.Size, res.Size, "%s %s size", n, res.Path)
		}
	}
	pb, pa := predicted.Diff()
	rb, ra := real.Diff()
	assert.Equal(t, pb, rb, "diff before")
	assert.Equal(t, pa, ra, "diff after")
	r.Check = true
	again, err := e.m.Apply(context.Background(), r)
	require.NoError(t, err)
	assert.False(t, again.Changed, "check mode after the run predicts no change")
	snap = snapshot(t, e.h.Root)
	r.Check = false
	again, err = e.m.Apply(context.Background(), r)
	require.NoError(t, err)
	assert.False(t, again.Changed, "the second run changes nothing")
	assert.Equal(t, snap, snapshot(t, e.h.Root), "the second run touched nothing")
	return real
}

// snapshot lists every file under root with size, mode, owner and mtime.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." || rel == "run" || strings.HasPrefix(rel, "run/") {
			return nil // the test root itself and the lock files of real runs
		}
		st := info.Sys().(*syscall.Stat_t)
		out[p] = strings.Join([]string{info.Mode().String(), itoa(info.Size()), itoa(int64(st.Uid)), itoa(int64(st.Gid)), info.ModTime().String()}, " ")
		return nil
	}))
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestCreatesSparseImagesWithTheirFilesystem(t *testing.T) {
	cases := []struct {
		name  string
		v     Volume
		fs    string
		label string
	}{
		{"an ext4 image with a label", vol("var.img", 64, Ext4, "var"), "ext4", "var"},
		{"an xfs image (xfs needs 300 MiB)", vol("data.img", 300, XFS, "data"), "xfs", "data"},
		{"a btrfs image", vol("b.img", 128, Btrfs, "bt"), "btrfs", "bt"},
		{"a raw image for a Ceph OSD", vol("ceph.img", 1024, None, ""), "", ""},
		{"an image at an absolute path", Volume{Path: "/srv/images/a-extra.img", SizeMiB: 32, FSType: Ext4, Owner: "microvm", Group: "kvm", Mode: 0o640}, "ext4", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if filepath.IsAbs(tc.v.Path) {
				require.NoError(t, os.MkdirAll(e.h.Path(filepath.Dir(tc.v.Path)), 0o755))
			}
			rep := fourSteps(t, e, present(false, VM{Name: "a", Volumes: []Volume{tc.v}}))
			res := rep.VMs["a"].Volumes[0]
			assert.Equal(t, ActionCreated, res.Action)
			img := e.h.Path(res.Image)
			st, err := os.Stat(img)
			require.NoError(t, err)
			assert.Equal(t, tc.v.SizeMiB*MiB, st.Size())
			assert.Equal(t, tc.v.Mode, st.Mode().Perm())
			assert.Less(t, st.Sys().(*syscall.Stat_t).Blocks*512, st.Size()/2, "the image is sparse")
			if tc.fs != "" {
				kv := blkid(t, img)
				assert.Equal(t, tc.fs, kv["TYPE"])
				assert.Equal(t, tc.label, kv["LABEL"])
			} else {
				data, err := hasData(img)
				require.NoError(t, err)
				assert.False(t, data, "a raw image is all zeros")
			}
			left, _ := filepath.Glob(filepath.Join(filepath.Dir(img), "*"+tmpMarker+"*"))
			assert.Empty(t, left, "no temporary image is left")
		})
	}
}

func TestGrowingAStoppedVMsExt4ImageGrowsItsFilesystemAndKeepsItsData(t *testing.T) {
	e := newEnv(t)
	r := present(false, VM{Name: "a", Volumes: []Volume{vol("var.img", 64, Ext4, "var")}})
	_, err := e.m.Apply(context.Background(), r)
	require.NoError(t, err)
	img := e.h.Path("/var/lib/microvms/a/var.img")
	src := filepath.Join(t.TempDir(), "src")
	require.NoError(t, os.WriteFile(src, []byte("keep me"), 0o644))
	require.NoError(t, exec.Command("debugfs", "-w", "-R", "write "+src+" keep", img).Run())

	r.VMs[0].Volumes[0].SizeMiB = 256
	rep := fourSteps(t, e, r)
	res := rep.VMs["a"].Volumes[0]
	assert.Equal(t, ActionGrown, res.Action)
	assert.Equal(t, ResizeOffline, res.FSResize)
	assert.Equal(t, int64(64), res.SizeBefore)
	assert.Equal(t, int64(256), res.Size)
	fsBytes, err := e.m.ext4Bytes(context.Background(), img)
	require.NoError(t, err)
	assert.Greater(t, fsBytes, int64(250*MiB), "resize2fs grew the filesystem")
	out, err := exec.Command("debugfs", "-R", "cat keep", img).Output()
	require.NoError(t, err)
	assert.Equal(t, "keep me", string(out))
	assert.NoError(t, exec.Command("e2fsck", "-fn", img).Run(), "the filesystem is clean")
}

func TestGrowingWhatOnlyTheGuestCanResize(t *testing.T) {
	cases := []struct {
		name    string
		v       Volume
		running bool
		guest   string
	}{
		{"xfs grows the image and leaves the filesystem to the guest", vol("x.img", 300, XFS, "x"), false, "xfs_growfs"},
		{"btrfs grows the image and leaves the filesystem to the guest", vol("b.img", 128, Btrfs, "b"), false, "btrfs filesystem resize max"},
		{"a running VM's ext4 is not touched from the host", vol("var.img", 64, Ext4, "var"), true, "resize2fs on the filesystem labelled var in the guest"},
		{"a raw disk just grows", vol("ceph.img", 64, None, ""), false, "larger disk after a restart"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r := present(false, VM{Name: "a", Volumes: []Volume{tc.v}})
			_, err := e.m.Apply(context.Background(), r)
			require.NoError(t, err)
			if tc.running {
				e.u["a"] = "active"
			}
			e.rec.calls = nil
			r.VMs[0].Volumes[0].SizeMiB += 64
			rep := fourSteps(t, e, r)
			res := rep.VMs["a"].Volumes[0]
			assert.Equal(t, ActionGrown, res.Action)
			assert.Contains(t, res.Guest, tc.guest)
			assert.False(t, e.rec.ran("resize2fs"), "no offline resize")
			assert.False(t, e.rec.ran("e2fsck"), "no fsck of an image a guest may use")
			st, err := os.Stat(e.h.Path(res.Image))
			require.NoError(t, err)
			assert.Equal(t, (tc.v.SizeMiB+64)*MiB, st.Size())
			if tc.v.FSType != None {
				assert.Equal(t, tc.v.FSType, blkid(t, e.h.Path(res.Image))["TYPE"], "the filesystem is still there")
			}
		})
	}
}

func TestRefusalsNameTheVolumeAndChangeNothing(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(t *testing.T, e *env, img string)
		ask     Volume
		running bool
		want    string
	}{
		{"a smaller size is never a shrink", func(t *testing.T, e *env, img string) { mk(t, e, vol("v.img", 128, Ext4, "v")) },
			vol("v.img", 64, Ext4, "v"), false, "a volume v.img: /var/lib/microvms/a/v.img is 128 MiB but size asks for 64 MiB: microvm_volume never shrinks"},
		{"another filesystem type is never a reformat", func(t *testing.T, e *env, img string) { mk(t, e, vol("v.img", 64, Ext4, "v")) },
			vol("v.img", 300, XFS, "v"), false, "holds an ext4 filesystem but fs_type asks for xfs: microvm_volume never reformats"},
		{"a raw disk with data (a Ceph OSD) is never formatted", func(t *testing.T, e *env, img string) {
			mk(t, e, vol("v.img", 64, None, ""))
			f, err := os.OpenFile(img, os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteAt([]byte("bluestore block device"), 40*MiB)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}, vol("v.img", 64, Ext4, "v"), false, "has no filesystem signature but holds data"},
		{"a btrfs filesystem is never formatted over with ext4", func(t *testing.T, e *env, img string) { mk(t, e, vol("v.img", 128, Btrfs, "")) },
			vol("v.img", 128, Ext4, ""), false, "holds a btrfs filesystem but fs_type asks for ext4"},
		{"an empty image of a running VM is not formatted under the guest", func(t *testing.T, e *env, img string) { mk(t, e, vol("v.img", 64, None, "")) },
			vol("v.img", 64, Ext4, ""), true, "is empty and VM a is running"},
		{"a directory at the path is not an image", func(t *testing.T, e *env, img string) { require.NoError(t, os.Mkdir(img, 0o755)) },
			vol("v.img", 64, Ext4, ""), false, "is not a regular file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			img := e.h.Path("/var/lib/microvms/a/v.img")
			tc.setup(t, e, img)
			if tc.running {
				e.u["a"] = "active"
			}
			snap := snapshot(t, e.h.Root)
			for _, check := range []bool{true, false} {
				rep, err := e.m.Apply(context.Background(), present(check, VM{Name: "a", Volumes: []Volume{tc.ask}}))
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.want)
				assert.Contains(t, err.Error(), "nothing was changed")
				assert.Contains(t, rep.VMs["a"].Error, tc.want)
				require.Len(t, rep.VMs["a"].Volumes, 1, "a refused volume is still reported")
				assert.Contains(t, rep.VMs["a"].Volumes[0].Error, tc.want)
				b, a := rep.Diff()
				assert.Empty(t, b+a, "a refused volume shows no diff")
				assert.False(t, rep.Changed)
			}
			assert.Equal(t, snap, snapshot(t, e.h.Root))
		})
	}
}

func mk(t *testing.T, e *env, v Volume) {
	t.Helper()
	_, err := e.m.Apply(context.Background(), present(false, VM{Name: "a", Volumes: []Volume{v}}))
	require.NoError(t, err)
}

func TestAnEmptyExistingImageGetsItsFilesystem(t *testing.T) {
	e := newEnv(t)
	mk(t, e, vol("v.img", 64, None, ""))
	rep := fourSteps(t, e, present(false, VM{Name: "a", Volumes: []Volume{vol("v.img", 96, Ext4, "v")}}))
	res := rep.VMs["a"].Volumes[0]
	assert.Equal(t, ActionFormatted, res.Action)
	kv := blkid(t, e.h.Path(res.Image))
	assert.Equal(t, "ext4", kv["TYPE"])
	assert.Equal(t, "v", kv["LABEL"])
	fsBytes, err := e.m.ext4Bytes(context.Background(), e.h.Path(res.Image))
	require.NoError(t, err)
	assert.Equal(t, int64(96*MiB), fsBytes, "mkfs ran after the grow and used the whole image")
}

func TestAskingForNoneLeavesAnyContentAlone(t *testing.T) {
	e := newEnv(t)
	mk(t, e, vol("v.img", 64, Ext4, "v"))
	rep := fourSteps(t, e, present(false, VM{Name: "a", Volumes: []Volume{vol("v.img", 64, None, "")}}))
	assert.Equal(t, ActionNone, rep.VMs["a"].Volumes[0].Action)
	assert.Equal(t, "ext4", rep.VMs["a"].Volumes[0].FSType, "reports what the image holds")
}

func TestOwnerAndModeAreFixedEvenOnARunningVM(t *testing.T) {
	e := newEnv(t)
	mk(t, e, vol("v.img", 64, Ext4, "v"))
	e.u["a"] = "active"
	v := vol("v.img", 64, Ext4, "v")
	v.Owner, v.Group, v.Mode = "nobody", "nogroup", 0o640
	rep := fourSteps(t, e, present(false, VM{Name: "a", Volumes: []Volume{v}}))
	res := rep.VMs["a"].Volumes[0]
	assert.Equal(t, ActionAttrs, res.Action)
	st, err := os.Stat(e.h.Path(res.Image))
	require.NoError(t, err)
	assert.Equal(t, uint32(65534), st.Sys().(*syscall.Stat_t).Uid)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm())
}

func TestANewVolumeOfARunningVMIsCreatedForItsNextStart(t *testing.T) {
	e := newEnv(t)
	e.u["a"] = "active"
	rep := fourSteps(t, e, present(false, VM{Name: "a", Volumes: []Volume{vol("new.img", 64, Ext4, "new")}}))
	res := rep.VMs["a"].Volumes[0]
	assert.Equal(t, ActionCreated, res.Action)
	assert.Contains(t, res.Guest, "next restart")
	assert.True(t, rep.VMs["a"].Running)
}

func TestAbsent(t *testing.T) {
	t.Run("without purge it refuses and says purge is needed", func(t *testing.T) {
		e := newEnv(t)
		mk(t, e, vol("v.img", 64, Ext4, "v"))
		_, err := e.m.Apply(context.Background(), Request{VMs: []VM{{Name: "a", Volumes: []Volume{{Path: "v.img"}}}}, Absent: true})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "a volume v.img: state=absent deletes the image /var/lib/microvms/a/v.img (64 MiB, an ext4 filesystem) and its data only with purge: true")
		assert.FileExists(t, e.h.Path("/var/lib/microvms/a/v.img"))
	})
	t.Run("with purge it deletes, and the second run changes nothing", func(t *testing.T) {
		e := newEnv(t)
		mk(t, e, vol("v.img", 64, Ext4, "v"))
		rep := fourSteps(t, e, Request{VMs: []VM{{Name: "a", Volumes: []Volume{{Path: "v.img"}}}}, Absent: true, Purge: true})
		assert.Equal(t, ActionDeleted, rep.VMs["a"].Volumes[0].Action)
		assert.NoFileExists(t, e.h.Path("/var/lib/microvms/a/v.img"))
	})
	t.Run("a running VM's image is not deleted even with purge", func(t *testing.T) {
		e := newEnv(t)
		mk(t, e, vol("v.img", 64, Ext4, "v"))
		e.u["a"] = "active"
		_, err := e.m.Apply(context.Background(), Request{VMs: []VM{{Name: "a", Volumes: []Volume{{Path: "v.img"}}}}, Absent: true, Purge: true})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "VM a is running")
		assert.FileExists(t, e.h.Path("/var/lib/microvms/a/v.img"))
	})
}

func TestInterruptedRunsLeaveNoHalfImageAndAreFinishedNextTime(t *testing.T) {
	t.Run("a failed mkfs leaves neither an image nor a temporary file", func(t *testing.T) {
		e := newEnv(t)
		fake := &command.Fake{}
		fake.Expect(command.Expect{Match: "blkid", Prefix: true, Exit: 2})
		fake.Expect(command.Expect{Match: "mkfs.ext4", Prefix: true, Exit: 1, Stderr: "mkfs.ext4: No space left on device"})
		e.m.Runner = fake
		_, err := e.m.Apply(context.Background(), present(false, VM{Name: "a", Volumes: []Volume{vol("v.img", 64, Ext4, "v")}}))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "a volume v.img: make the ext4 filesystem: mkfs.ext4 -q -L v")
		assert.Contains(t, err.Error(), "No space left on device")
		entries, _ := os.ReadDir(e.h.VMDir("a"))
		assert.Empty(t, entries)
	})
	t.Run("a temporary image left by a killed run is removed", func(t *testing.T) {
		e := newEnv(t)
		stale := filepath.Join(e.h.VMDir("a"), ".v.img"+tmpMarker+"123")
		require.NoError(t, os.WriteFile(stale, []byte("half"), 0o600))
		mk(t, e, vol("v.img", 64, Ext4, "v"))
		assert.NoFileExists(t, stale)
		assert.FileExists(t, e.h.Path("/var/lib/microvms/a/v.img"))
	})
	t.Run("an image grown without its ext4 filesystem is resized by the next run", func(t *testing.T) {
		e := newEnv(t)
		mk(t, e, vol("v.img", 64, Ext4, "v"))
		require.NoError(t, os.Truncate(e.h.Path("/var/lib/microvms/a/v.img"), 256*MiB))
		rep := fourSteps(t, e, present(false, VM{Name: "a", Volumes: []Volume{vol("v.img", 256, Ext4, "v")}}))
		assert.Equal(t, ActionResized, rep.VMs["a"].Volumes[0].Action)
		fsBytes, err := e.m.ext4Bytes(context.Background(), e.h.Path("/var/lib/microvms/a/v.img"))
		require.NoError(t, err)
		assert.Greater(t, fsBytes, int64(250*MiB))
	})
	t.Run("a failing e2fsck stops the grow before the image changes", func(t *testing.T) {
		e := newEnv(t)
		mk(t, e, vol("v.img", 64, Ext4, "v"))
		fake := &command.Fake{}
		fake.Expect(command.Expect{Match: "blkid", Prefix: true, Stdout: "TYPE=ext4\nLABEL=v\n"})
		fake.Expect(command.Expect{Match: "dumpe2fs", Prefix: true, Stdout: "Block count: 65536\nBlock size: 1024\n"})
		fake.Expect(command.Expect{Match: "e2fsck -fy", Prefix: true, Exit: 4, Stderr: "v.img: ***** FILE SYSTEM WAS MODIFIED *****\nUNEXPECTED INCONSISTENCY"})
		e.m.Runner = fake
		_, err := e.m.Apply(context.Background(), present(false, VM{Name: "a", Volumes: []Volume{vol("v.img", 128, Ext4, "v")}}))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "check the ext4 filesystem before growing it")
		st, err := os.Stat(e.h.Path("/var/lib/microvms/a/v.img"))
		require.NoError(t, err)
		assert.Equal(t, int64(64*MiB), st.Size())
	})
}

func TestSeveralVMsInOneRequest(t *testing.T) {
	e := newEnv(t)
	rep := fourSteps(t, e, present(false,
		VM{Name: "a", Volumes: []Volume{vol("var.img", 64, Ext4, "var"), vol("ceph.img", 512, None, "")}},
		VM{Name: "b", Volumes: []Volume{vol("var.img", 64, Ext4, "var")}},
	))
	assert.Len(t, rep.VMs["a"].Volumes, 2)
	assert.Len(t, rep.VMs["b"].Volumes, 1)
	assert.Equal(t, "a ceph.img: created; a var.img: created; b var.img: created", sortedMsg(rep.Msg(false)))
}

func sortedMsg(s string) string {
	parts := strings.Split(s, "; ")
	for i := range parts {
		for j := i + 1; j < len(parts); j++ {
			if parts[j] < parts[i] {
				parts[i], parts[j] = parts[j], parts[i]
			}
		}
	}
	return strings.Join(parts, "; ")
}

func TestAVolumeOfAVMThatIsNotInstalledIsExplained(t *testing.T) {
	e := newEnv(t)
	_, err := e.m.Apply(context.Background(), present(false, VM{Name: "ghost", Volumes: []Volume{vol("var.img", 64, Ext4, "")}}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ghost volume var.img: the VM directory /var/lib/microvms/ghost does not exist: install the VM first")
}

func TestCheckModeForAVMThatTheSameRunWouldInstallPredictsItsVolumes(t *testing.T) {
	e := newEnv(t)
	req := present(true, VM{Name: "fresh", Volumes: []Volume{vol("var.img", 64, Ext4, "var"), vol("ceph.img", 128, None, "")}})
	res, err := e.m.Apply(context.Background(), req)
	require.NoError(t, err)
	assert.True(t, res.Changed, "check mode predicts the images of a VM that is not installed yet")
	for _, r := range res.VMs["fresh"].Volumes {
		assert.Equal(t, ActionCreated, r.Action, r.Path)
	}
	assert.NoDirExists(t, e.m.Host.VMDir("fresh"), "check mode creates nothing")
}
