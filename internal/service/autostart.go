package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

// Autostart: microvm.nix starts VMs at boot through microvms.target (WantedBy
// multi-user.target), which wants microvm@<vm>.service for every name in the host's
// microvm.autostart. The template has no [Install] section, so `systemctl enable` cannot
// work, and on NixOS /etc/systemd/system is a read-only link into the store, so
// `systemctl add-wants microvms.target` (which writes there) fails; `add-wants --runtime`
// writes to /run and is lost at the next boot.
//
// What survives a reboot without touching the host's NixOS configuration is a want link in
// /etc/systemd/system.control/microvms.target.wants/: systemd's "persistent control"
// directory, first in the unit search path on every systemd since v233 (see
// `systemd-analyze unit-paths`), honoured for .wants/ links like any unit directory,
// written by systemd itself for `systemctl set-property`, and not managed by NixOS's /etc
// activation (which only replaces the entries it created). So it survives reboots and
// nixos-rebuild switch. It does not survive a host whose /etc is an immutable overlay
// (system.etc.overlay.mutable = false): there the module fails when it cannot write the link.
//
// enabled: true makes that link (then one daemon-reload); enabled: false removes it and any
// imperative want (the runtime ones and a writable /etc/systemd/system/microvms.target.wants
// link), and refuses a VM whose want comes from the host configuration, which only a change
// of microvm.autostart (or microvm.vms.<vm>.autostart) and a nixos-rebuild can remove.

// Target is the unit that starts VMs at boot.
const Target = "microvms.target"

// PersistentWantsDir is where enabled: true puts its want link.
const PersistentWantsDir = "/etc/systemd/system.control/" + Target + ".wants"

// imperativeWantsDirs are the want-link places an enabled: false removes from, with
// whether a link there survives a reboot.
var imperativeWantsDirs = []struct {
	dir        string
	persistent bool
}{
	{PersistentWantsDir, true},
	{"/etc/systemd/system/" + Target + ".wants", true},
	{"/run/systemd/system.control/" + Target + ".wants", false},
	{"/run/systemd/system/" + Target + ".wants", false},
}

// Autostart is the report of one VM's autostart.
type Autostart struct {
	Before  bool   `json:"before"` // started at the next boot, before the run
	After   bool   `json:"after"`
	Changed bool   `json:"changed"`
	Via     string `json:"via"` // what makes it start at boot: a link path, "host configuration", or ""
	Runtime bool   `json:"runtime_only,omitempty"`
}

type vmAutostart struct {
	report  Autostart
	create  string   // link to create (host path)
	target  string   // its target
	remove  []string // links to remove (host paths)
	reload  bool     // our link exists but systemd has not loaded it
	err     error
	loaded  bool // microvm@<vm> is in the target's loaded Wants
	enabled bool // what was asked
}

type autostartPlan struct {
	vms map[string]*vmAutostart
}

// planAutostart reads the target's loaded wants and the want links, and decides per VM.
func (s *Service) planAutostart(ctx context.Context, names []string, enabled bool) (*autostartPlan, error) {
	tst, err := s.Systemd.Status(ctx, Target)
	if err != nil {
		return nil, fmt.Errorf("enabled: %w", err)
	}
	if tst.LoadState != "loaded" {
		return nil, fmt.Errorf("enabled: %s is %s on this host: autostart needs microvm.nix's host module", Target, tst.LoadState)
	}
	wants, err := s.Systemd.Wants(ctx, Target)
	if err != nil {
		return nil, fmt.Errorf("enabled: %w", err)
	}
	p := &autostartPlan{vms: map[string]*vmAutostart{}}
	for _, n := range names {
		unit := systemd.MicroVMUnit(n)
		a := &vmAutostart{loaded: slices.Contains(wants, unit), enabled: enabled}
		p.vms[n] = a
		var links []string
		persistentLink := ""
		for _, d := range imperativeWantsDirs {
			l := filepath.Join(d.dir, unit)
			if _, err := os.Lstat(s.Host.Path(l)); err == nil {
				links = append(links, l)
				if d.persistent && persistentLink == "" {
					persistentLink = l
				}
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("enabled: %w", err)
			}
		}
		declared := a.loaded && len(links) == 0
		switch {
		case persistentLink != "":
			a.report.Before, a.report.Via = true, persistentLink
		case declared:
			a.report.Before, a.report.Via = true, "host configuration (microvm.autostart)"
		case len(links) > 0:
			a.report.Via, a.report.Runtime = links[0], true
		}
		if enabled {
			a.report.After = true
			switch {
			case persistentLink == PersistentWantsDir+"/"+unit && !a.loaded:
				a.reload = true
				a.report.Changed = true
			case a.report.Before:
			default:
				st, err := s.Systemd.Status(ctx, unit)
				if err != nil {
					return nil, fmt.Errorf("enabled: %w", err)
				}
				a.target = st.FragmentPath
				if a.target == "" {
					a.target = "/etc/systemd/system/microvm@.service"
				}
				a.create = filepath.Join(PersistentWantsDir, unit)
				a.report.Changed = true
				a.report.Via = a.create
				a.report.Runtime = false
			}
			continue
		}
		a.report.After = false
		if declared {
			a.report.After = true
			a.err = fmt.Errorf("%s: enabled=false: its autostart comes from the host's NixOS configuration (microvm.autostart or microvm.vms.%s.autostart), not from a want link this module can remove; remove it there and run nixos-rebuild switch", n, n)
			continue
		}
		if len(links) > 0 {
			a.remove = links
			a.report.Changed = true
			a.report.Via = ""
			a.report.Runtime = false
		}
	}
	return p, nil
}

// applyAutostart makes and removes the planned links, reloads systemd once if anything
// changed, and verifies from the reloaded Wants.
func (s *Service) applyAutostart(ctx context.Context, p *autostartPlan) error {
	reload := false
	for n, a := range p.vms {
		if a.err != nil {
			continue
		}
		if a.create != "" {
			dir := s.Host.Path(PersistentWantsDir)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				a.err = fmt.Errorf("%s: enabled=true: %w (is /etc read-only on this host?)", n, err)
				continue
			}
			if err := statedir.SwapSymlink(s.Host.Path(a.create), a.target); err != nil {
				a.err = fmt.Errorf("%s: enabled=true: %w", n, err)
				continue
			}
			reload = true
		}
		for _, l := range a.remove {
			if err := os.Remove(s.Host.Path(l)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				a.err = fmt.Errorf("%s: enabled=false: remove %s: %w", n, l, err)
				break
			}
			reload = true
		}
		if a.reload {
			reload = true
		}
	}
	if !reload {
		return nil
	}
	if err := s.Systemd.Reload(ctx); err != nil {
		return err
	}
	wants, err := s.Systemd.Wants(ctx, Target)
	if err != nil {
		return err
	}
	for n, a := range p.vms {
		if a.err != nil || !a.report.Changed {
			continue
		}
		has := slices.Contains(wants, systemd.MicroVMUnit(n))
		switch {
		case a.enabled && !has:
			a.err = fmt.Errorf("%s: enabled=true: made %s but after a daemon-reload %s still does not want %s", n, a.report.Via, Target, systemd.MicroVMUnit(n))
		case !a.enabled && has:
			a.report.After = true
			a.err = fmt.Errorf("%s: enabled=false: removed the want links but %s still wants %s: its autostart comes from the host's NixOS configuration (microvm.autostart); remove it there", n, Target, systemd.MicroVMUnit(n))
		}
	}
	return nil
}
