package info

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/business-operations/bo.microvm/internal/statedir"
)

// Switch tells whether a running VM's new configuration can be activated in the guest
// (switch-to-configuration over SSH) instead of a restart.
type Switch struct {
	CurrentSystem string `json:"current_system"` // guest system of the current runner
	BootedSystem  string `json:"booted_system"`  // guest system of the booted runner
	// Switchable: the two runners differ only in the guest system they boot, so nothing the
	// hypervisor sets up (kernel, initrd, command line, volumes, interfaces, hypervisor
	// arguments) changed and the guest can switch in place.
	Switchable bool   `json:"switchable"`
	Reason     string `json:"switch_reason"`
	// CurrentRegistration is the closure registration of the current runner's guest system
	// (its regInfo= kernel parameter), empty when the runner has none. A switch loads it into
	// the guest's nix database before `nix-env --set`, as microvm.nix's deploy.sshSwitch
	// does; a guest whose store is the host's knows the new system's paths only so.
	CurrentRegistration string `json:"current_registration"`
}

// CompareRunners decides whether booted -> current is a guest-only change. It reads both
// runners' bin/ and share/microvm/ and compares them with the old system path replaced by
// the new one.
func CompareRunners(h statedir.Host, booted, current string) Switch {
	s := Switch{}
	if booted != "" {
		s.BootedSystem, _ = os.Readlink(h.Path(filepath.Join(booted, "share/microvm/system")))
	}
	if current != "" {
		s.CurrentSystem, _ = os.Readlink(h.Path(filepath.Join(current, "share/microvm/system")))
		s.CurrentRegistration = registration(h.Path(current))
	}
	switch {
	case booted == "" || current == "":
		s.Reason = "the VM is not running"
	case booted == current:
		s.Reason = "the VM runs its current runner"
	case s.BootedSystem == "" || s.CurrentSystem == "":
		s.Reason = "a runner has no share/microvm/system link, so its guest system is unknown"
	default:
		old, err1 := runnerFiles(h.Path(booted))
		cur, err2 := runnerFiles(h.Path(current))
		if err := errors.Join(err1, err2); err != nil {
			s.Reason = "cannot read the runners: " + err.Error()
			return s
		}
		if diff := firstDifference(old, cur, []byte(s.BootedSystem), []byte(s.CurrentSystem)); diff != "" {
			s.Reason = diff + " differs beyond the guest system: the change needs a restart"
			return s
		}
		s.Switchable = true
		s.Reason = "only the guest system changed"
	}
	return s
}

// runnerFiles maps each file of bin/ and share/microvm/ (links followed, the system link
// left out) to its content.
func runnerFiles(root string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, sub := range []string{"bin", "share/microvm"} {
		err := filepath.WalkDir(filepath.Join(root, sub), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() || rel == "share/microvm/system" {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = b
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// regInfo is the kernel parameter microvm.nix adds with registerClosure (the default for a
// guest with nix: nixos-modules/microvm/store-disk.nix at 71beea00, "regInfo=${regInfo}/
// registration", regInfo = closureInfo { rootPaths = [ toplevel ] }): the closure of the guest
// system, so a guest-only change changes it too. It is compared as part of the system. The
// guest loads it at boot (boot.postBootCommands there: `nix-store --load-db < <regInfo>`),
// and a switch loads the new one (CurrentRegistration). The same closureInfo is what
// deploy.sshSwitch loads (nixos-modules/microvm/ssh-deploy.nix at 71beea00).
var regInfo = regexp.MustCompile(`regInfo=/nix/store/[^\s'"]*`)

// registration is the path of regInfo= in the runner's bin/microvm-run, or "".
func registration(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "bin", "microvm-run"))
	if err != nil {
		return ""
	}
	m := regInfo.Find(b)
	if m == nil {
		return ""
	}
	return string(m[len("regInfo="):])
}

func firstDifference(old, cur map[string][]byte, oldSys, newSys []byte) string {
	names := map[string]bool{}
	for n := range old {
		names[n] = true
	}
	for n := range cur {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		o, ok1 := old[n]
		c, ok2 := cur[n]
		if !ok1 || !ok2 || !bytes.Equal(regInfo.ReplaceAll(bytes.ReplaceAll(o, oldSys, newSys), []byte("regInfo=")), regInfo.ReplaceAll(c, []byte("regInfo="))) {
			return n
		}
	}
	return ""
}
