package systemd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	godbus "github.com/godbus/dbus/v5"
)

// Verb is a systemd job type this package can queue.
type Verb string

// The job types a lifecycle module needs.
const (
	Start   Verb = "start"
	Stop    Verb = "stop"
	Restart Verb = "restart"
)

// ErrNoSuchUnit is returned (wrapped) when systemd knows no unit by that name and has no
// unit file for it either.
var ErrNoSuchUnit = errors.New("no such unit")

// JobError is a job that systemd finished with a result other than "done": "canceled",
// "timeout" (the unit's own job timeout), "failed", "dependency" (a required unit failed)
// or "skipped".
type JobError struct {
	Unit   string
	Verb   Verb
	Result string
}

func (e *JobError) Error() string {
	why := map[string]string{
		"canceled":   "the job was canceled (another job replaced it, or someone ran systemctl cancel)",
		"timeout":    "the unit's job timeout passed",
		"failed":     "the unit failed",
		"dependency": "a unit it requires failed",
		"skipped":    "the job did not apply to the unit's state",
	}[e.Result]
	if why == "" {
		why = "unexpected job result"
	}
	return fmt.Sprintf("systemd %s %s: job result %q: %s", e.Verb, e.Unit, e.Result, why)
}

// Do queues one job (mode "replace", as systemctl does) and waits for its outcome, which
// systemd delivers in its JobRemoved signal. It returns nil when the result is "done", a
// *JobError for any other result, and an error wrapping ctx.Err() when ctx ends first (the
// job then stays queued in systemd and finishes on its own). A "done" start job does not
// mean the unit is active: a failed Condition also ends in "done"; read Status afterwards.
func (c *Conn) Do(ctx context.Context, verb Verb, unit string) error {
	// Buffered: go-systemd sends the result while holding its listener lock, so an
	// unread unbuffered channel would block the whole connection after we gave up.
	ch := make(chan string, 1)
	sd, err := c.sd()
	if err != nil {
		return err
	}
	switch verb {
	case Start:
		_, err = sd.StartUnitContext(ctx, unit, "replace", ch)
	case Stop:
		_, err = sd.StopUnitContext(ctx, unit, "replace", ch)
	case Restart:
		_, err = sd.RestartUnitContext(ctx, unit, "replace", ch)
	default:
		return fmt.Errorf("systemd: unknown job type %q for %s", verb, unit)
	}
	if err != nil {
		return fmt.Errorf("systemd %s %s: %w", verb, unit, translate(err))
	}
	select {
	case res := <-ch:
		if res != "done" {
			return &JobError{Unit: unit, Verb: verb, Result: res}
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("systemd %s %s: no job outcome before the deadline; the job stays queued in systemd: %w", verb, unit, ctx.Err())
	}
}

// translate turns systemd's D-Bus error names into this package's sentinel errors.
func translate(err error) error {
	var de godbus.Error
	if errors.As(err, &de) && strings.HasSuffix(de.Name, ".NoSuchUnit") {
		return fmt.Errorf("%w: %v", ErrNoSuchUnit, err)
	}
	return err
}

// Status is what systemd says about one unit beyond its active state: enough to explain
// why a start did not leave it active.
type Status struct {
	UnitState
	Result          string   `json:"result"`           // "success", "exit-code", "signal", ...
	ConditionResult bool     `json:"condition_result"` // false: a Condition*= failed at the last start
	FailedCondition string   `json:"failed_condition,omitempty"`
	NRestarts       uint32   `json:"n_restarts"`
	MainPID         uint32   `json:"main_pid"`
	FragmentPath    string   `json:"fragment_path,omitempty"`
	Wants           []string `json:"-"`
}

// Status reads a unit's properties in one call. A unit systemd cannot load is reported
// with its LoadState ("not-found"), not as an error.
func (c *Conn) Status(ctx context.Context, unit string) (Status, error) {
	sd, err := c.sd()
	if err != nil {
		return Status{}, err
	}
	props, err := sd.GetAllPropertiesContext(ctx, unit)
	if err != nil {
		return Status{}, fmt.Errorf("read properties of %s: %w", unit, translate(err))
	}
	s := Status{UnitState: UnitState{Name: unit}}
	s.LoadState, _ = props["LoadState"].(string)
	s.ActiveState, _ = props["ActiveState"].(string)
	s.SubState, _ = props["SubState"].(string)
	s.Result, _ = props["Result"].(string)
	s.ConditionResult, _ = props["ConditionResult"].(bool)
	s.NRestarts, _ = props["NRestarts"].(uint32)
	s.MainPID, _ = props["MainPID"].(uint32)
	s.FragmentPath, _ = props["FragmentPath"].(string)
	s.Wants, _ = props["Wants"].([]string)
	s.FailedCondition = failedCondition(props["Conditions"])
	return s, nil
}

// failedCondition renders the first failed condition of a Conditions property,
// a(sbbsi): type, trigger, negate, parameter, state (<0 failed).
func failedCondition(v any) string {
	list, ok := v.([][]any)
	if !ok {
		return ""
	}
	for _, c := range list {
		if len(c) != 5 {
			continue
		}
		typ, _ := c[0].(string)
		neg, _ := c[2].(bool)
		param, _ := c[3].(string)
		state, _ := c[4].(int32)
		if state < 0 {
			if neg {
				param = "!" + param
			}
			return typ + "=" + param
		}
	}
	return ""
}

// Wants returns the units that unit wants, as loaded (Wants= lines and .wants/ links in
// every unit directory, after the last daemon reload).
func (c *Conn) Wants(ctx context.Context, unit string) ([]string, error) {
	sd, err := c.sd()
	if err != nil {
		return nil, err
	}
	p, err := sd.GetUnitPropertyContext(ctx, unit, "Wants")
	if err != nil {
		return nil, fmt.Errorf("read Wants of %s: %w", unit, translate(err))
	}
	var out []string
	if err := p.Value.Store(&out); err != nil {
		return nil, fmt.Errorf("read Wants of %s: %w", unit, err)
	}
	return out, nil
}

// Reload makes systemd re-read every unit file and .wants/ link (systemctl daemon-reload).
// Running units are not restarted.
func (c *Conn) Reload(ctx context.Context) error {
	sd, err := c.sd()
	if err != nil {
		return err
	}
	if err := sd.ReloadContext(ctx); err != nil {
		return fmt.Errorf("systemd daemon-reload: %w", err)
	}
	return nil
}
