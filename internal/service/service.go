// Package service starts, stops and restarts microvm.nix VMs through systemd (one job per
// VM, outcomes read from systemd's job results), manages their autostart want, and waits
// until a started guest answers on a TCP port. It is the domain of the microvm_service module:
// gather (state dir, unit states) -> validate -> plan -> act (skipped in check mode) -> verify.
package service

import (
	"context"
	"time"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

// Systemd is what this package needs from the host's service manager. *systemd.Conn
// implements it; tests use a fake.
type Systemd interface {
	States(ctx context.Context, units []string) (map[string]systemd.UnitState, error)
	Do(ctx context.Context, verb systemd.Verb, unit string) error
	Status(ctx context.Context, unit string) (systemd.Status, error)
	Wants(ctx context.Context, unit string) ([]string, error)
	Reload(ctx context.Context) error
}

// State is the unit state a request asks for.
type State string

// The states microvm_service knows. Unset leaves the unit as it is (only restart_if_outdated
// and enabled then apply).
const (
	Unset     State = ""
	Started   State = "started"
	Stopped   State = "stopped"
	Restarted State = "restarted"
)

// Actions reported per VM.
const (
	ActionNone      = "none"
	ActionStarted   = "started"
	ActionStopped   = "stopped"
	ActionRestarted = "restarted"
)

// Defaults.
const (
	DefaultJobTimeout  = 300 * time.Second
	DefaultParallel    = 8
	DefaultWaitPort    = 22
	DefaultWaitTimeout = 300 * time.Second
	JournalLines       = 20
)

// WaitFor asks to wait, after the jobs, until each active VM's guest accepts TCP connections.
type WaitFor struct {
	Hosts   map[string]string // VM name -> address
	Port    int
	Timeout time.Duration
}

// Request is one microvm_service invocation.
type Request struct {
	Names             []string
	State             State
	RestartIfOutdated bool
	Enabled           *bool // nil: leave autostart as it is
	JobTimeout        time.Duration
	WaitFor           *WaitFor
	Check             bool
}

// Service acts on one hypervisor. Its zero value is not usable: Systemd and Runner are
// required.
type Service struct {
	Host     statedir.Host
	Systemd  Systemd
	Runner   command.Runner                               // journalctl on failure
	Dial     func(ctx context.Context, addr string) error // nil: a TCP connect
	Parallel int                                          // DefaultParallel when 0
	// PollInterval is the pause between wait_for attempts (1s when 0).
	PollInterval time.Duration
	// JournalDelay is the pause before a failed VM's journal is read (Run sets 1s).
	JournalDelay time.Duration
	// PowerOff asks a running guest to shut down before a stop or restart job (nil: Ctrl-Alt-Del
	// over the VM's QMP socket, see poweroff.go); ShutdownPoll is the pause between reads of
	// the unit while waiting for the hypervisor to exit (250ms when 0).
	PowerOff     PowerOffFunc
	ShutdownPoll time.Duration
	// StartSettle is how long a started VM without wait_for is watched after its job: a
	// hypervisor that exits in that time fails the VM (0: not watched; Run sets 2s).
	StartSettle time.Duration
}

// VM is the report for one VM.
type VM struct {
	Unit    string     `json:"unit"`
	Before  string     `json:"before"` // ActiveState before the run
	After   string     `json:"after"`  // ActiveState after the run (predicted in check mode)
	Action  string     `json:"action"` // started | stopped | restarted | none
	Reason  string     `json:"reason,omitempty"`
	Current string     `json:"current"`
	Booted  string     `json:"booted"`
	Enabled *Autostart `json:"enabled,omitempty"`
	Wait    *Waited    `json:"wait_for,omitempty"`
	// Shutdown says how a running VM went down for a stop or restart (nil when it was not
	// running, and in check mode).
	Shutdown *Shutdown `json:"shutdown,omitempty"`
	Note     string    `json:"note,omitempty"` // e.g. a stop that left the unit failed
	Error    string    `json:"error,omitempty"`
	Journal  []string  `json:"journal,omitempty"`
}

// Waited is the outcome of waiting for one guest.
type Waited struct {
	Address string  `json:"address"`
	Seconds float64 `json:"seconds"`
	Skipped bool    `json:"skipped,omitempty"` // check mode
}

// Report is the outcome of a request.
type Report struct {
	VMs     map[string]*VM `json:"vms"`
	Changed bool           `json:"-"`
	Summary Summary        `json:"summary"`
}

// Summary lists VMs by what happened to them.
type Summary struct {
	Started   []string `json:"started"`
	Stopped   []string `json:"stopped"`
	Restarted []string `json:"restarted"`
	Unchanged []string `json:"unchanged"`
	Enabled   []string `json:"enabled"`  // autostart added
	Disabled  []string `json:"disabled"` // autostart removed
	Failed    []string `json:"failed"`
}

// Apply validates r and carries it out: it gathers every VM's state, plans all of them and
// refuses the whole request before acting if any VM cannot be planned (e.g. not installed);
// then, unless r.Check, runs the jobs in parallel, verifies each unit's state and waits for
// the guests. A failed VM does not stop the others; the error then names every failed VM
// and the report still holds what was done.
func (s *Service) Apply(ctx context.Context, r Request) (*Report, error) {
	if err := Validate(&r); err != nil {
		return nil, err
	}
	return s.apply(ctx, r)
}

// apply is Apply for a request Validate accepted.
func (s *Service) apply(ctx context.Context, r Request) (*Report, error) {
	if !r.Check {
		unlock, err := s.lockAll(ctx, r.Names, r.JobTimeout)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	p, err := s.gatherAndPlan(ctx, r)
	if err != nil || r.Check {
		return p.report, err
	}
	return p.report, s.actAll(ctx, p, r)
}
