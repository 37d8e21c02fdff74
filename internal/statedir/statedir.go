// Package statedir reads and changes a hypervisor's microvm.nix state directory
// (/var/lib/microvms/<vm>/ with current, booted, flake, toplevel) and the matching GC roots,
// with the atomic writes and per-VM locks every lifecycle module uses.
package statedir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Default locations on a NixOS host with microvm.nix's host module.
const (
	DefaultStateDir = "/var/lib/microvms"
	DefaultGCRoots  = "/nix/var/nix/gcroots/microvm"
	DefaultLockDir  = "/run/lock/bo-microvm"
)

// Host names the directories of one hypervisor. Its zero value uses the defaults; tests set
// Root to a temp dir, which prefixes every path.
type Host struct {
	Root     string // prefix for every path ("" on a real host)
	StateDir string // DefaultStateDir when empty
	GCRoots  string // DefaultGCRoots when empty
	LockDir  string // DefaultLockDir when empty
}

// VM is what the state directory says about one VM. Store paths are the link targets.
// The links are microvm.nix's: current and booted (nixos-modules/host/default.nix), and old,
// the runner current pointed at before its last change, as microvm.nix's installOnHost keeps
// it (nixos-modules/microvm/ssh-deploy.nix: mv current old; both at 71beea00).
type VM struct {
	Name        string `json:"name"`
	Dir         string `json:"dir"`
	Exists      bool   `json:"exists"`
	Current     string `json:"current"`  // runner store path, "" when not installed
	Booted      string `json:"booted"`   // runner the running VM started from, "" when none
	Old         string `json:"old"`      // previous runner, kept for a rollback (microvm.nix's installOnHost: old), "" when none
	Flake       string `json:"flake"`    // content of the flake file, trimmed
	Toplevel    string `json:"toplevel"` // guest system of a declarative VM
	Declarative bool   `json:"declarative"`
}

// Outdated reports whether the VM runs (booted) an older runner than current.
func (v VM) Outdated() bool { return v.Booted != "" && v.Current != "" && v.Booted != v.Current }

// Path prefixes p with the host's Root.
func (h Host) Path(p string) string {
	if h.Root == "" {
		return p
	}
	return filepath.Join(h.Root, p)
}

// StateDirPath is the state directory as seen from this process.
func (h Host) StateDirPath() string { return h.Path(or(h.StateDir, DefaultStateDir)) }

// GCRootsPath is the microvm GC root directory as seen from this process.
func (h Host) GCRootsPath() string { return h.Path(or(h.GCRoots, DefaultGCRoots)) }

// LockDirPath is the per-VM lock directory as seen from this process.
func (h Host) LockDirPath() string { return h.Path(or(h.LockDir, DefaultLockDir)) }

// VMDir is the directory of VM name.
func (h Host) VMDir(name string) string { return filepath.Join(h.StateDirPath(), name) }

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// MaxNameLen keeps the tap id "vm-<name>" within Linux's 15-character interface names.
const MaxNameLen = 12

var nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// ValidateName checks that name can be a VM directory, a systemd instance name and part of
// a tap id. The error says which rule failed.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("a VM name must not be empty")
	case strings.Contains(name, "/"):
		return fmt.Errorf("VM name %q must not contain '/'", name)
	case strings.Contains(name, ".."):
		return fmt.Errorf("VM name %q must not contain '..'", name)
	case len(name) > MaxNameLen:
		return fmt.Errorf("VM name %q is %d characters; at most %d are allowed so that its tap id vm-%s fits Linux's 15-character interface names", name, len(name), MaxNameLen, name)
	case !nameRe.MatchString(name):
		return fmt.Errorf("VM name %q may only hold letters, digits, '-', '_' and '.', and must start with a letter or digit (a systemd instance name)", name)
	}
	return nil
}

// Read returns what the state directory holds for name. A missing directory is not an error.
func (h Host) Read(name string) (VM, error) {
	dir := h.VMDir(name)
	vm := VM{Name: name, Dir: filepath.Join(or(h.StateDir, DefaultStateDir), name)}
	st, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return vm, nil
	}
	if err != nil {
		return vm, fmt.Errorf("read state of %s: %w", name, err)
	}
	if !st.IsDir() {
		return vm, fmt.Errorf("%s exists but is not a directory", dir)
	}
	vm.Exists = true
	if vm.Current, err = readLink(filepath.Join(dir, "current")); err != nil {
		return vm, err
	}
	if vm.Booted, err = readLink(filepath.Join(dir, "booted")); err != nil {
		return vm, err
	}
	if vm.Booted == "booted" {
		// microvm-set-booted@ started without `current` (nixos-modules/host/default.nix at
		// 71beea00: ln -s $(readlink current) booted, unquoted) leaves booted -> booted, a
		// looping link that names no runner.
		vm.Booted = ""
	}
	if vm.Old, err = readLink(filepath.Join(dir, "old")); err != nil {
		return vm, err
	}
	if vm.Toplevel, err = readLink(filepath.Join(dir, "toplevel")); err != nil {
		return vm, err
	}
	_, terr := os.Lstat(filepath.Join(dir, "toplevel"))
	vm.Declarative = terr == nil
	b, err := os.ReadFile(filepath.Join(dir, "flake"))
	switch {
	case err == nil:
		vm.Flake = strings.TrimSpace(string(b))
	case !errors.Is(err, fs.ErrNotExist):
		return vm, fmt.Errorf("read flake file of %s: %w", name, err)
	}
	return vm, nil
}

func readLink(p string) (string, error) {
	t, err := os.Readlink(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read link %s: %w", p, err)
	}
	return t, nil
}

// List returns every VM directory in the state directory, sorted by name. A missing state
// directory yields no VMs.
func (h Host) List() ([]VM, error) {
	names, err := h.Names()
	if err != nil {
		return nil, err
	}
	vms := make([]VM, 0, len(names))
	for _, n := range names {
		vm, err := h.Read(n)
		if err != nil {
			return nil, err
		}
		vms = append(vms, vm)
	}
	return vms, nil
}

// GCRoot is the GC root link for kind "" (current), "booted" or "old".
func (h Host) GCRoot(name, kind string) string {
	if kind == "" {
		return filepath.Join(h.GCRootsPath(), name)
	}
	return filepath.Join(h.GCRootsPath(), kind+"-"+name)
}

// Names lists the VM directories of the state directory, sorted; none when it does not exist.
func (h Host) Names() ([]string, error) {
	entries, err := os.ReadDir(h.StateDirPath())
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", h.StateDirPath(), err)
	}
	names := []string{}
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}
