// Package volume creates, grows and deletes microVM disk images on a hypervisor: sparse
// image files with a filesystem (ext4, xfs, btrfs) or raw (e.g. a Rook-Ceph OSD disk). It
// never shrinks an image and never formats one that holds data, whatever it is asked; it
// grows ext4 offline, and leaves what only the guest can do (a running VM's filesystem,
// xfs, btrfs) to the guest, saying so. It is the domain of the microvm_volume module:
// gather (stat, blkid, dumpe2fs, unit states) -> validate -> plan -> act (skipped in check
// mode) -> verify.
package volume

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

// Units tells whether VMs run; *systemd.Conn implements it.
type Units interface {
	States(ctx context.Context, units []string) (map[string]systemd.UnitState, error)
}

// VM is one VM and its volumes.
type VM struct {
	Name    string
	Volumes []Volume
}

// Request is one microvm_volume invocation.
type Request struct {
	VMs         []VM
	Absent      bool // state=absent
	Purge       bool
	Check       bool
	LockTimeout time.Duration // 60s when 0
	// FromName: the VMs came from the name option (all with the same volumes), not from
	// vms; error messages then name name[i] and volumes[j].
	FromName bool
}

// Manager acts on one hypervisor's images.
type Manager struct {
	Host   statedir.Host
	Runner command.Runner // blkid, dumpe2fs, mkfs.*, e2fsck, resize2fs
	Units  Units
	// IDs resolves owner and group names; nil uses the host's user database.
	IDs func(owner, group string) (uid, gid int, err error)
}

// Actions reported per volume.
const (
	ActionNone      = "none"
	ActionCreated   = "created"
	ActionGrown     = "grown"
	ActionFormatted = "formatted" // an existing, provably empty image got its filesystem
	ActionResized   = "resized"   // finished an interrupted ext4 grow
	ActionAttrs     = "attributes"
	ActionDeleted   = "deleted"
)

// Filesystem resize outcomes.
const (
	ResizeOffline = "offline" // done here (ext4, VM stopped)
	ResizeGuest   = "guest"   // the guest must grow it
)

// Result is the report of one volume.
type Result struct {
	Path       string   `json:"path"`
	Image      string   `json:"image"`
	Action     string   `json:"action"`
	Changes    []string `json:"changes"`
	Exists     bool     `json:"exists"`                      // after the run (predicted in check mode)
	SizeBefore int64    `json:"size_mib_before"`             // 0 when it did not exist
	Size       int64    `json:"size_mib"`                    // after the run
	FSType     string   `json:"fs_type"`                     // as found (or as created)
	Label      string   `json:"label,omitempty"`             // as found (or as created)
	FSResize   string   `json:"filesystem_resize,omitempty"` // offline | guest
	Guest      string   `json:"guest_action,omitempty"`      // what to do in the guest, when anything
	Owner      string   `json:"owner,omitempty"`
	Group      string   `json:"group,omitempty"`
	Mode       string   `json:"mode,omitempty"`
	Error      string   `json:"error,omitempty"` // why this volume was refused or failed

	ownerBefore string // "owner:group mode" as found

	plan plan
	vol  Volume
	img  image
}

// VMResult is the report of one VM.
type VMResult struct {
	Running bool      `json:"running"`
	Volumes []*Result `json:"volumes"`
	Error   string    `json:"error,omitempty"`
}

// Report is the outcome of a request.
type Report struct {
	VMs     map[string]*VMResult `json:"vms"`
	Changed bool                 `json:"-"`
}

type plan struct {
	create, format, grow, resize, chown, chmod, remove bool
	uid, gid                                           int
}

func (p plan) any() bool {
	return p.create || p.format || p.grow || p.resize || p.chown || p.chmod || p.remove
}

// Validate checks a request before the host is read. Errors name the option.
func Validate(r Request) error {
	if len(r.VMs) == 0 {
		return errors.New("name: give a VM (name and volumes) or vms")
	}
	seen := map[string]bool{}
	for i, vm := range r.VMs {
		where := fmt.Sprintf("vms[%d].name", i)
		switch {
		case r.FromName && len(r.VMs) == 1:
			where = "name"
		case r.FromName:
			where = fmt.Sprintf("name[%d]", i)
		}
		if err := statedir.ValidateName(vm.Name); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if seen[vm.Name] {
			return fmt.Errorf("%s: VM %s is listed twice", where, vm.Name)
		}
		seen[vm.Name] = true
		paths := map[string]bool{}
		for j, v := range vm.Volumes {
			vw := fmt.Sprintf("vms[%d].volumes[%d]", i, j)
			if r.FromName {
				vw = fmt.Sprintf("volumes[%d]", j)
			}
			if err := v.validate(vw, !r.Absent); err != nil {
				return err
			}
			if paths[filepath.Clean(v.Path)] {
				return fmt.Errorf("%s.path: %s is listed twice for VM %s", vw, v.Path, vm.Name)
			}
			paths[filepath.Clean(v.Path)] = true
		}
	}
	return nil
}

// probeParallel bounds how many VMs' images are probed at once.
const probeParallel = 4

// Apply gathers every volume's image, plans all of them, refuses the whole request before
// acting if any plan is refused (a shrink, a type change, data without a filesystem, a
// running VM's volume changed in a way the guest would notice, a delete without purge),
// and then, unless r.Check, acts and verifies each image.
func (m *Manager) Apply(ctx context.Context, r Request) (*Report, error) {
	if err := Validate(r); err != nil {
		return nil, err
	}
	if !r.Check {
		names := make([]string, len(r.VMs))
		for i, vm := range r.VMs {
			names[i] = vm.Name
		}
		sort.Strings(names)
		timeout := r.LockTimeout
		if timeout <= 0 {
			timeout = time.Minute
		}
		for _, n := range names {
			lctx, cancel := context.WithTimeout(ctx, timeout)
			unlock, err := m.Host.Lock(lctx, n)
			cancel()
			if err != nil {
				return nil, err
			}
			defer unlock()
		}
	}
	running, err := m.running(ctx, r.VMs)
	if err != nil {
		return nil, err
	}
	// Gathering only reads (stat, blkid, dumpe2fs per image): the VMs are probed in parallel,
	// at most probeParallel at once, and their results are then taken in the request's order.
	type gathered struct {
		res *Result
		err error
	}
	found := make([][]gathered, len(r.VMs))
	sem := make(chan struct{}, probeParallel)
	var wg sync.WaitGroup
	for i, vm := range r.VMs {
		found[i] = make([]gathered, len(vm.Volumes))
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			for j, v := range vm.Volumes {
				res, err := m.gatherAndPlan(ctx, vm.Name, v, running[vm.Name], r)
				found[i][j] = gathered{res, err}
			}
		}()
	}
	wg.Wait()
	rep := &Report{VMs: map[string]*VMResult{}}
	var refusals []string
	for i, vm := range r.VMs {
		vr := &VMResult{Running: running[vm.Name], Volumes: []*Result{}}
		rep.VMs[vm.Name] = vr
		for j, v := range vm.Volumes {
			res, err := found[i][j].res, found[i][j].err
			if err != nil {
				refusals = append(refusals, err.Error())
				vr.Error = strings.TrimPrefix(strings.Join([]string{vr.Error, err.Error()}, "; "), "; ")
				host, _ := m.imagePath(vm.Name, v)
				vr.Volumes = append(vr.Volumes, &Result{Path: v.Path, Image: host, Action: ActionNone, Changes: []string{}, Error: err.Error()})
				continue
			}
			vr.Volumes = append(vr.Volumes, res)
		}
	}
	if len(refusals) > 0 {
		return rep, fmt.Errorf("nothing was changed: %s", strings.Join(refusals, "; "))
	}
	for _, vr := range rep.VMs {
		for _, res := range vr.Volumes {
			if res.plan.any() {
				rep.Changed = true
			}
		}
	}
	if r.Check {
		return rep, nil
	}
	var failures []string
	for _, vm := range r.VMs {
		vr := rep.VMs[vm.Name]
		for _, res := range vr.Volumes {
			if !res.plan.any() {
				continue
			}
			if err := m.act(ctx, res); err != nil {
				msg := fmt.Sprintf("%s volume %s: %v", vm.Name, res.Path, err)
				failures = append(failures, msg)
				vr.Error = strings.TrimPrefix(strings.Join([]string{vr.Error, msg}, "; "), "; ")
				continue
			}
			if err := m.verify(ctx, res); err != nil {
				msg := fmt.Sprintf("%s volume %s: %v", vm.Name, res.Path, err)
				failures = append(failures, msg)
				vr.Error = strings.TrimPrefix(strings.Join([]string{vr.Error, msg}, "; "), "; ")
			}
		}
	}
	if len(failures) > 0 {
		return rep, errors.New(strings.Join(failures, "; "))
	}
	return rep, nil
}

// running asks systemd which VMs' units are up; anything but inactive or failed counts
// (a unit that is activating or deactivating may have the image open).
func (m *Manager) running(ctx context.Context, vms []VM) (map[string]bool, error) {
	if m.Units == nil {
		return nil, errors.New("volume: no systemd connection to tell running VMs")
	}
	units := make([]string, len(vms))
	for i, vm := range vms {
		units[i] = systemd.MicroVMUnit(vm.Name)
	}
	states, err := m.Units.States(ctx, units)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, vm := range vms {
		st, ok := states[systemd.MicroVMUnit(vm.Name)]
		out[vm.Name] = ok && st.ActiveState != "inactive" && st.ActiveState != "failed" && st.ActiveState != ""
	}
	return out, nil
}

// imagePath is where a volume's image is, as the hypervisor sees it (the report) and as
// this process sees it (with the test root).
func (m *Manager) imagePath(vm string, v Volume) (host, local string) {
	if filepath.IsAbs(v.Path) {
		host = filepath.Clean(v.Path)
	} else {
		host = filepath.Join(or(m.Host.StateDir, statedir.DefaultStateDir), vm, v.Path)
	}
	return host, m.Host.Path(host)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (m *Manager) gatherAndPlan(ctx context.Context, vm string, v Volume, running bool, r Request) (*Result, error) {
	hostPath, local := m.imagePath(vm, v)
	res := &Result{Path: v.Path, Image: hostPath, Action: ActionNone, Changes: []string{}, vol: v}
	name := fmt.Sprintf("%s volume %s", vm, v.Path)
	// In check mode the VM directory may be one that microvm_install (in the same check-mode
	// run) only predicted: no image exists there yet, so each would be created. A real run
	// needs the directory.
	var img image
	vmDirMissing := false
	if !filepath.IsAbs(v.Path) {
		if _, err := os.Stat(m.Host.VMDir(vm)); err != nil {
			if !r.Check {
				return nil, fmt.Errorf("%s: the VM directory %s does not exist: install the VM first (bo.microvm.microvm_install)", name, filepath.Dir(hostPath))
			}
			vmDirMissing = true
		}
	}
	if !vmDirMissing {
		if st, err := os.Stat(filepath.Dir(local)); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("%s: the directory %s does not exist", name, filepath.Dir(hostPath))
		}
		probed, err := m.probe(ctx, local)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		img = probed
	}
	res.img = img
	res.Exists = img.Exists
	if img.Exists && !img.Regular {
		return nil, fmt.Errorf("%s: %s is not a regular file; microvm_volume manages image files only", name, hostPath)
	}
	res.SizeBefore, res.Size = img.Size/MiB, img.Size/MiB
	res.FSType, res.Label = img.FSType, img.Label
	if img.Exists {
		res.Owner, res.Group, res.Mode = m.names(img.UID, img.GID), m.groupName(img.GID), fmt.Sprintf("%04o", img.Mode)
		res.ownerBefore = res.Owner + ":" + res.Group + " " + res.Mode
	}

	if r.Absent {
		if !img.Exists {
			return res, nil
		}
		switch {
		case running:
			return nil, fmt.Errorf("%s: VM %s is running and uses %s: stop it (bo.microvm.microvm_service state=stopped) before deleting the image", name, vm, hostPath)
		case !r.Purge:
			return nil, fmt.Errorf("%s: state=absent deletes the image %s (%d MiB, %s) and its data only with purge: true", name, hostPath, res.SizeBefore, fsName(img.FSType))
		}
		res.plan.remove = true
		res.Action = ActionDeleted
		res.Exists = false
		res.Changes = append(res.Changes, "delete "+hostPath)
		return res, nil
	}

	uid, gid, err := m.ids(v.Owner, v.Group)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	res.plan.uid, res.plan.gid = uid, gid
	want := v.SizeMiB * MiB
	if !img.Exists {
		res.plan.create = true
		res.Action = ActionCreated
		res.Exists = true
		res.Size, res.FSType, res.Label = v.SizeMiB, v.FSType, v.Label
		if v.FSType == None {
			res.FSType, res.Label = "", ""
		}
		res.Owner, res.Group, res.Mode = v.Owner, v.Group, fmt.Sprintf("%04o", v.Mode)
		res.Changes = append(res.Changes, fmt.Sprintf("create a sparse %d MiB image with %s", v.SizeMiB, fsName(res.FSType)+labelText(res.Label)))
		if running {
			res.Guest = "the running VM sees the new image after its next restart"
		}
		return res, nil
	}

	// An existing image: never shrink, never reformat.
	if img.Size > want {
		return nil, fmt.Errorf("%s: %s is %s but size asks for %d MiB: microvm_volume never shrinks an image (its data would be cut off); set size to at least %s", name, hostPath, mibText(img.Size), v.SizeMiB, mibText(img.Size))
	}
	switch {
	case v.FSType == None:
		// A raw disk: its content is the guest's business (e.g. a Ceph OSD); never touched.
	case img.FSType == v.FSType:
	case img.FSType != "":
		return nil, fmt.Errorf("%s: %s holds %s but fs_type asks for %s: microvm_volume never reformats an image; delete it first (state=absent, purge=true) if its data can go", name, hostPath, fsName(img.FSType), v.FSType)
	case img.HasData:
		return nil, fmt.Errorf("%s: %s has no filesystem signature but holds data (non-zero bytes); fs_type %s would overwrite it, so microvm_volume refuses: use fs_type none for a raw disk", name, hostPath, v.FSType)
	case running:
		return nil, fmt.Errorf("%s: %s is empty and VM %s is running: formatting it under the guest is refused; stop the VM first", name, hostPath, vm)
	default:
		res.plan.format = true
		res.Action = ActionFormatted
		res.FSType, res.Label = v.FSType, v.Label
		res.Changes = append(res.Changes, "make "+fsName(v.FSType)+labelText(v.Label)+" on the empty image")
	}
	if img.Size < want {
		res.plan.grow = true
		if !res.plan.format {
			res.Action = ActionGrown
		}
		res.Size = v.SizeMiB
		res.Changes = append(res.Changes, fmt.Sprintf("grow the image from %s to %d MiB", mibText(img.Size), v.SizeMiB))
		switch {
		case v.FSType == None:
			res.Guest = "the guest sees the larger disk after a restart"
		case res.plan.format:
			// mkfs after the grow uses the whole image.
		case v.FSType == Ext4 && !running:
			res.plan.resize = true
			res.FSResize = ResizeOffline
			res.Changes = append(res.Changes, "grow the ext4 filesystem offline (e2fsck -fy, resize2fs)")
		case v.FSType == Ext4:
			res.FSResize = ResizeGuest
			res.Guest = "restart the VM (or block_resize it over QMP), then run resize2fs on the filesystem labelled " + labelOr(img.Label) + " in the guest"
		case v.FSType == XFS:
			res.FSResize = ResizeGuest
			res.Guest = "xfs cannot grow offline: after the VM's next start run xfs_growfs on its mount point in the guest"
		case v.FSType == Btrfs:
			res.FSResize = ResizeGuest
			res.Guest = "btrfs cannot grow offline: after the VM's next start run btrfs filesystem resize max on its mount point in the guest"
		}
	} else if v.FSType == Ext4 && img.FSType == Ext4 && !running && img.FSBytes > 0 && img.Size-img.FSBytes >= resizeSlack {
		// The image was grown but resize2fs did not run (an interrupted earlier run).
		res.plan.resize = true
		res.Action = ActionResized
		res.FSResize = ResizeOffline
		res.Changes = append(res.Changes, fmt.Sprintf("grow the ext4 filesystem (%s) to the image (%s) offline: an earlier grow did not finish", mibText(img.FSBytes), mibText(img.Size)))
	}
	if !res.plan.create {
		if img.UID != uid || img.GID != gid {
			res.plan.chown = true
			res.Changes = append(res.Changes, fmt.Sprintf("chown %s:%s", v.Owner, v.Group))
			res.Owner, res.Group = v.Owner, v.Group
		}
		if img.Mode != v.Mode {
			res.plan.chmod = true
			res.Changes = append(res.Changes, fmt.Sprintf("chmod %04o", v.Mode))
			res.Mode = fmt.Sprintf("%04o", v.Mode)
		}
		if res.Action == ActionNone && (res.plan.chown || res.plan.chmod) {
			res.Action = ActionAttrs
		}
	}
	return res, nil
}

// resizeSlack: an ext4 filesystem this much smaller than its image was not grown. resize2fs
// leaves a tail smaller than a usable block group unused, which stays well below this.
const resizeSlack = 16 * MiB

func fsName(t string) string {
	if t == "" || t == None {
		return "no filesystem"
	}
	if t == Ext4 || t == XFS || t == Btrfs || !strings.Contains(t, " ") {
		if strings.ContainsRune("aeiouAEIOU", rune(t[0])) {
			return "an " + t + " filesystem"
		}
		return "a " + t + " filesystem"
	}
	return t
}

func labelText(l string) string {
	if l == "" {
		return ""
	}
	return " labelled " + l
}

func labelOr(l string) string {
	if l == "" {
		return "(no label)"
	}
	return l
}

func mibText(b int64) string {
	if b%MiB == 0 {
		return fmt.Sprintf("%d MiB", b/MiB)
	}
	return fmt.Sprintf("%.2f MiB", float64(b)/MiB)
}

func (m *Manager) ids(owner, group string) (int, int, error) {
	if m.IDs != nil {
		return m.IDs(owner, group)
	}
	return LookupIDs(owner, group)
}

// LookupIDs resolves a user and a group (names or numeric ids) in the host's user database.
func LookupIDs(owner, group string) (int, int, error) {
	uid, err := statedir.UserID(owner)
	if err != nil {
		return 0, 0, fmt.Errorf("owner: no user %q on this host (microvm.nix's host module creates microvm): %v", owner, err)
	}
	gid, err := statedir.GroupID(group)
	if err != nil {
		return 0, 0, fmt.Errorf("group: no group %q on this host: %v", group, err)
	}
	return uid, gid, nil
}

func (m *Manager) names(uid, _ int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func (m *Manager) groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}

// Diff renders each volume before and after, one line per image. Refused volumes are left
// out (nothing changes).
func (rep *Report) Diff() (before, after string) {
	names := slices.Sorted(maps.Keys(rep.VMs))
	var b, a strings.Builder
	for _, n := range names {
		for _, res := range rep.VMs[n].Volumes {
			if res.Error != "" && !res.plan.any() {
				continue
			}
			fmt.Fprintf(&b, "%s: %s\n", res.Image, describeBefore(res))
			fmt.Fprintf(&a, "%s: %s\n", res.Image, describeAfter(res))
		}
	}
	return b.String(), a.String()
}

func describeBefore(res *Result) string {
	if !res.img.Exists {
		return "absent"
	}
	return fmt.Sprintf("%s, %s%s, %s", mibText(res.img.Size), fsName(res.img.FSType), labelText(res.img.Label), res.ownerBefore)
}

func describeAfter(res *Result) string {
	if !res.Exists {
		return "absent"
	}
	return fmt.Sprintf("%d MiB, %s%s, %s:%s %s", res.Size, fsName(res.FSType), labelText(res.Label), res.Owner, res.Group, res.Mode)
}
