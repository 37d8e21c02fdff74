package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/business-operations/bo.microvm/internal/command"
)

// tmpMarker names the temporary images a create works on; stale ones (an interrupted run)
// are removed by the next run, which holds the VM's lock.
const tmpMarker = ".bo-volume-tmp-"

func (m *Manager) act(ctx context.Context, res *Result) error {
	local := m.Host.Path(res.Image)
	p := res.plan
	switch {
	case p.remove:
		if err := os.Remove(local); err != nil {
			return err
		}
		return syncDir(filepath.Dir(local))
	case p.create:
		return m.create(ctx, local, res.vol, p.uid, p.gid)
	}
	if p.grow && p.resize {
		// Check the filesystem before touching anything: a damaged one is reported with
		// the image still at its old size.
		if err := m.fsck(ctx, local); err != nil {
			return err
		}
	}
	if p.grow {
		if err := os.Truncate(local, res.vol.SizeMiB*MiB); err != nil {
			return fmt.Errorf("grow the image: %w", err)
		}
	}
	if p.format {
		if err := m.mkfs(ctx, local, res.vol); err != nil {
			return err
		}
	}
	if p.resize {
		if !p.grow {
			if err := m.fsck(ctx, local); err != nil {
				return err
			}
		}
		if _, err := m.Runner.Run(ctx, command.Cmd{Name: "resize2fs", Args: []string{local}}); err != nil {
			return fmt.Errorf("grow the ext4 filesystem (the image is already grown; the next run retries): %w", err)
		}
	}
	if p.chown {
		if err := os.Chown(local, p.uid, p.gid); err != nil {
			return err
		}
	}
	if p.chmod {
		if err := os.Chmod(local, res.vol.Mode); err != nil {
			return err
		}
	}
	return nil
}

// fsck runs e2fsck -fy; exit 1 (errors corrected) is success, as resize2fs requires a
// freshly checked filesystem.
func (m *Manager) fsck(ctx context.Context, path string) error {
	_, err := m.Runner.Run(ctx, command.Cmd{Name: "e2fsck", Args: []string{"-fy", path}})
	var ce *command.Error
	if err != nil && !(errors.As(err, &ce) && ce.ExitCode == 1) {
		return fmt.Errorf("check the ext4 filesystem before growing it: %w", err)
	}
	return nil
}

func (m *Manager) mkfs(ctx context.Context, path string, v Volume) error {
	args := []string{"-q"}
	if v.Label != "" {
		args = append(args, "-L", v.Label)
	}
	args = append(args, path)
	if _, err := m.Runner.Run(ctx, command.Cmd{Name: "mkfs." + v.FSType, Args: args}); err != nil {
		return fmt.Errorf("make the %s filesystem: %w", v.FSType, err)
	}
	return nil
}

// create builds the image beside its final path (sparse file, NOCOW where the host
// filesystem has it, mkfs, owner, mode, fsync) and renames it into place without
// replacing anything, so an interrupted run never leaves a half-made image at the path.
func (m *Manager) create(ctx context.Context, path string, v Volume, uid, gid int) (err error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	if stale, _ := filepath.Glob(filepath.Join(dir, "."+base+tmpMarker+"*")); len(stale) > 0 {
		for _, s := range stale {
			_ = os.Remove(s)
		}
	}
	f, err := os.CreateTemp(dir, "."+base+tmpMarker+"*")
	if err != nil {
		return fmt.Errorf("create the image: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	setNoCOW(f)
	if err = f.Truncate(v.SizeMiB * MiB); err != nil {
		f.Close()
		return fmt.Errorf("create the image: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("create the image: %w", err)
	}
	if v.FSType != None {
		if err = m.mkfs(ctx, tmp, v); err != nil {
			return err
		}
	}
	if err = os.Chown(tmp, uid, gid); err != nil {
		return fmt.Errorf("create the image: %w", err)
	}
	if err = os.Chmod(tmp, v.Mode); err != nil {
		return fmt.Errorf("create the image: %w", err)
	}
	if err = fsync(tmp); err != nil {
		return fmt.Errorf("create the image: %w", err)
	}
	if err = renameNoReplace(tmp, path); err != nil {
		return fmt.Errorf("create the image: %w", err)
	}
	return syncDir(dir)
}

// setNoCOW sets the NOCOW attribute (chattr +C), as microvm.nix does for its images, where
// the host filesystem supports it (btrfs); elsewhere it does nothing.
func setNoCOW(f *os.File) {
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return
	}
	_ = unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsNoCOWFlag))
}

func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// No RENAME_NOREPLACE on this filesystem: a hard link fails the same way on an
		// existing target.
		if err = os.Link(from, to); err == nil {
			return os.Remove(from)
		}
	}
	if errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%s appeared while it was being created (did the VM start and create it?); nothing was replaced", to)
	}
	return err
}

func fsync(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// verify re-reads the image and checks the post-condition of the plan.
func (m *Manager) verify(ctx context.Context, res *Result) error {
	local := m.Host.Path(res.Image)
	img, err := m.probe(ctx, local)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	var bad []string
	if res.plan.remove {
		if img.Exists {
			bad = append(bad, "still exists")
		}
	} else {
		v := res.vol
		if !img.Exists {
			return errors.New("verify: the image does not exist after the run")
		}
		if img.Size != v.SizeMiB*MiB {
			bad = append(bad, fmt.Sprintf("is %s, not %d MiB", mibText(img.Size), v.SizeMiB))
		}
		if v.FSType != None && img.FSType != v.FSType {
			bad = append(bad, fmt.Sprintf("holds %s, not %s", fsName(img.FSType), v.FSType))
		}
		if res.plan.resize && img.Size-img.FSBytes >= resizeSlack {
			bad = append(bad, fmt.Sprintf("its ext4 filesystem is %s after resize2fs", mibText(img.FSBytes)))
		}
		if img.UID != res.plan.uid || img.GID != res.plan.gid || img.Mode != v.Mode {
			bad = append(bad, fmt.Sprintf("is owned %d:%d mode %04o, not %d:%d %04o", img.UID, img.GID, img.Mode, res.plan.uid, res.plan.gid, v.Mode))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("verify: the image %s", strings.Join(bad, ", "))
	}
	return nil
}

// fsNoCOWFlag is FS_NOCOW_FL from linux/fs.h (x/sys/unix does not export it).
const fsNoCOWFlag = 0x00800000
