// Package systemd talks to the host's systemd over D-Bus (go-systemd): unit states, unit
// files, and jobs whose outcome is read from systemd's JobRemoved signal, not by polling.
package systemd

import (
	"context"
	"fmt"
	"path"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
)

// Conn is one connection to the system manager.
type Conn struct {
	c *sddbus.Conn
}

// Connect opens a connection to the system bus. It fails when systemd is not PID 1 or the
// bus is unreachable, with a message that says so.
func Connect(ctx context.Context) (*Conn, error) {
	c, err := sddbus.NewSystemConnectionContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to systemd over D-Bus (is systemd running and the system bus up?): %w", err)
	}
	return &Conn{c: c}, nil
}

// Close closes the connection.
func (c *Conn) Close() { c.c.Close() }

// UnitState is a unit's load and activation state as systemd reports it.
type UnitState struct {
	Name        string `json:"name"`
	LoadState   string `json:"load_state"`
	ActiveState string `json:"active_state"`
	SubState    string `json:"sub_state"`
}

// Active reports whether the unit is active (running, for a service).
func (s UnitState) Active() bool { return s.ActiveState == "active" }

// Running reports whether the unit runs: active, or reloading (still running).
func (s UnitState) Running() bool { return s.ActiveState == "active" || s.ActiveState == "reloading" }

// States returns the state of each named unit in one call; a unit systemd does not know is
// reported with LoadState "not-found" and ActiveState "inactive".
func (c *Conn) States(ctx context.Context, units []string) (map[string]UnitState, error) {
	out := make(map[string]UnitState, len(units))
	if len(units) == 0 {
		return out, nil
	}
	list, err := c.c.ListUnitsByNamesContext(ctx, units)
	if err != nil {
		return nil, fmt.Errorf("read unit states: %w", err)
	}
	for _, u := range list {
		out[u.Name] = UnitState{Name: u.Name, LoadState: u.LoadState, ActiveState: u.ActiveState, SubState: u.SubState}
	}
	for _, u := range units {
		if _, ok := out[u]; !ok {
			out[u] = UnitState{Name: u, LoadState: "not-found", ActiveState: "inactive", SubState: "dead"}
		}
	}
	return out, nil
}

// UnitFileExists reports whether systemd has a unit file by that name (e.g. a template
// such as "microvm@.service").
func (c *Conn) UnitFileExists(ctx context.Context, name string) (bool, error) {
	files, err := c.c.ListUnitFilesByPatternsContext(ctx, nil, []string{name})
	if err != nil {
		return false, fmt.Errorf("list unit files %s: %w", name, err)
	}
	for _, f := range files {
		if path.Base(f.Path) == name {
			return true, nil
		}
	}
	return false, nil
}

// MicroVMUnit is the unit of VM name on a microvm.nix host.
func MicroVMUnit(name string) string { return "microvm@" + name + ".service" }
