// Package info gathers read-only facts about a microvm.nix hypervisor: every VM directory
// with its runners and unit state, and the host facts that preflight checks need.
package info

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

// Units is what info needs from systemd.
type Units interface {
	States(ctx context.Context, units []string) (map[string]systemd.UnitState, error)
	UnitFilesExist(ctx context.Context, names []string) (map[string]bool, error)
}

// VM is the fact set of one VM.
type VM struct {
	statedir.VM
	Outdated    bool   `json:"outdated"`
	Running     bool   `json:"running"`
	Unit        string `json:"unit"`
	LoadState   string `json:"load_state"`
	ActiveState string `json:"active_state"`
	SubState    string `json:"sub_state"`
	Switch
}

// Bridge is what the host's bridge looks like.
type Bridge struct {
	Name      string `json:"name"`
	Present   bool   `json:"present"`
	IsBridge  bool   `json:"is_bridge"`
	OperState string `json:"operstate"`
	Up        bool   `json:"up"`
}

// HostFacts are the facts preflight checks need.
type HostFacts struct {
	StateDir       string   `json:"state_dir"`
	StateDirExists bool     `json:"state_dir_exists"`
	VMsPresent     []string `json:"vms_present"`
	UnitTemplate   bool     `json:"unit_template"`
	Units          []string `json:"units_missing"`
	KVM            bool     `json:"kvm"`
	Bridge         Bridge   `json:"bridge"`
}

// Facts is the whole answer.
type Facts struct {
	VMs  map[string]VM `json:"vms"`
	Host HostFacts     `json:"host"`
}

// Options select what to gather.
type Options struct {
	Names  []string // only these VMs (all when empty); a name without a directory is reported as not existing
	Bridge string   // bridge name, br0 by default
}

// helperUnits are the templates of microvm.nix's host module that a prepared host has.
var helperUnits = []string{"microvm@.service", "microvm-tap-interfaces@.service", "microvm-set-booted@.service", "microvms.target"}

// Gather reads the state directory and systemd; it changes nothing.
func Gather(ctx context.Context, h statedir.Host, units Units, opt Options) (*Facts, error) {
	var vms []statedir.VM
	if len(opt.Names) == 0 {
		all, err := h.List()
		if err != nil {
			return nil, err
		}
		vms = all
	} else {
		for _, n := range opt.Names {
			if err := statedir.ValidateName(n); err != nil {
				return nil, fmt.Errorf("name: %w", err)
			}
			vm, err := h.Read(n)
			if err != nil {
				return nil, err
			}
			vms = append(vms, vm)
		}
	}
	unitNames := make([]string, len(vms))
	for i, vm := range vms {
		unitNames[i] = systemd.MicroVMUnit(vm.Name)
	}
	states, err := units.States(ctx, unitNames)
	if err != nil {
		return nil, err
	}
	f := &Facts{VMs: make(map[string]VM, len(vms))}
	for i, vm := range vms {
		st := states[unitNames[i]]
		f.VMs[vm.Name] = VM{VM: vm, Outdated: vm.Outdated(), Running: st.Active(), Unit: unitNames[i],
			LoadState: st.LoadState, ActiveState: st.ActiveState, SubState: st.SubState,
			Switch: CompareRunners(h, vm.Booted, vm.Current)}
	}

	f.Host.StateDir = filepath.Join(h.StateDir, "")
	if f.Host.StateDir == "" || f.Host.StateDir == "." {
		f.Host.StateDir = statedir.DefaultStateDir
	}
	_, err = os.Stat(h.StateDirPath())
	f.Host.StateDirExists = err == nil
	// Every VM directory of the host, asked for or not: the roles report those the inventory
	// does not name (microvm.nix leaves a removed VM running: microvm-nix/microvm.nix#508).
	if f.Host.VMsPresent, err = h.Names(); err != nil {
		return nil, err
	}
	f.Host.Units = []string{}
	files, err := units.UnitFilesExist(ctx, helperUnits)
	if err != nil {
		return nil, err
	}
	for _, u := range helperUnits {
		ok := files[u]
		if u == "microvm@.service" {
			f.Host.UnitTemplate = ok
		}
		if !ok {
			f.Host.Units = append(f.Host.Units, u)
		}
	}
	_, err = os.Stat(h.Path("/dev/kvm"))
	f.Host.KVM = err == nil
	f.Host.Bridge, err = readBridge(h, or(opt.Bridge, "br0"))
	if err != nil {
		return nil, err
	}
	return f, nil
}

func readBridge(h statedir.Host, name string) (Bridge, error) {
	b := Bridge{Name: name}
	dir := h.Path(filepath.Join("/sys/class/net", name))
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return b, nil
	} else if err != nil {
		return b, fmt.Errorf("read bridge %s: %w", name, err)
	}
	b.Present = true
	_, err := os.Stat(filepath.Join(dir, "bridge"))
	b.IsBridge = err == nil
	state, err := os.ReadFile(filepath.Join(dir, "operstate"))
	if err != nil {
		return b, fmt.Errorf("read bridge %s: %w", name, err)
	}
	b.OperState = strings.TrimSpace(string(state))
	flags, err := os.ReadFile(filepath.Join(dir, "flags"))
	if err == nil {
		var v uint64
		fmt.Sscanf(strings.TrimSpace(string(flags)), "0x%x", &v)
		b.Up = v&1 == 1 // IFF_UP: administratively up (a bridge without ports reports operstate down)
	}
	return b, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
