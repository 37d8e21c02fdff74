// Package step runs guarded procedures: an ordered list of steps, each with a title, a check
// that reads the real state of the host or cluster, and an action. It is the one engine behind
// every module that does a procedure (microvm_install, k0s_bootstrap, flux_kickoff), so every
// module reports its steps with the same words:
//
//	changed       the check found work; the action ran and changed something
//	ok            the check found nothing to do; the action did not run
//	waited        a wait step ran to its end (waiting changes nothing)
//	would change  check mode: the check found work; the action was not run
//	would wait    check mode: a wait step that a real run would wait on
//	failed        the check or the action failed; the procedure stopped there
//
// Check mode goes through one choke point, Run: in check mode it calls every Check (they only
// read) and the action of a Read step, and never the action of a Change or Wait step. The shape
// follows k0sctl's phase manager (k0sproject/k0sctl f4005b6b, phase/manager.go): a title, a
// "should I run" read from real state, one dry-run choke point, cleanup of what ran when a
// later step fails (here in reverse order, with errors reported).
package step

import (
	"context"
	"errors"
	"fmt"
)

// Status is how a step ended.
type Status string

// The step statuses every module reports (see the package comment; ReturnDoc says the same
// for the modules' RETURN docs).
const (
	Changed     Status = "changed"
	OK          Status = "ok"
	Waited      Status = "waited"
	WouldChange Status = "would change"
	WouldWait   Status = "would wait"
	Failed      Status = "failed"
)

// ReturnDoc describes the step statuses, for the RETURN docs of every module that reports steps.
const ReturnDoc = "Each step as C({title, status, reason}); status is one of C(changed) (the action ran), " +
	"C(ok) (nothing to do), C(waited) (a wait ran to its end), C(would change) and C(would wait) " +
	"(check mode: what a real run would do), C(failed) (the procedure stopped at this step)."

// Kind says what a step's action does, which decides how it is counted and what check mode does.
type Kind int

const (
	// Change actions change the host: they count as changed and are not run in check mode.
	Change Kind = iota
	// Wait actions only wait for something to become true: they never count as a change and
	// are not run in check mode (which reports "would wait").
	Wait
	// Read actions only read (a preflight): they run in check mode too and never count as a change.
	Read
)

// Step is one guarded action.
type Step struct {
	// Title names the step as a person would describe it ("initialise the cluster").
	Title string
	// Kind says what Do does; the zero value is Change.
	Kind Kind
	// Check reads real state and says whether Do is needed and why. A nil Check means Do is
	// always needed. Check must not change anything: it runs in check mode.
	Check func(ctx context.Context) (needed bool, reason string, err error)
	// Do is the action. Nil is allowed for steps that only report (Check decides alone).
	Do func(ctx context.Context) error
	// Cleanup, when set, undoes Do; it is called (latest step first) for every step whose Do
	// ran when a later step fails.
	Cleanup func(ctx context.Context) error
}

// Result is how one step ended, as the modules report it.
type Result struct {
	Title  string `json:"title"`
	Status Status `json:"status"`
	Reason string `json:"reason"`
}

// Report is what Run did, or in check mode would do.
type Report struct {
	// Changed is true when a Change step ran (or would run, in check mode).
	Changed bool `json:"changed"`
	// Steps lists the steps in order up to and including the one that failed.
	Steps []Result `json:"steps"`
}

// Error is returned by Run when a step fails: it names the step and wraps the cause.
type Error struct {
	Step string
	Err  error
	// CleanupErr is set when undoing the steps that ran failed too.
	CleanupErr error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %v", e.Step, e.Err)
	if e.CleanupErr != nil {
		msg += fmt.Sprintf(" (and undoing the steps before it failed: %v)", e.CleanupErr)
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Run runs steps in order (in check mode: checks them) and appends their results to rep. It
// stops at the first failure, undoes the steps that ran (Cleanup, latest first) and returns an
// *Error naming the failed step. A cancelled context stops it between steps.
func Run(ctx context.Context, steps []Step, check bool, rep *Report) error {
	var ran []Step
	fail := func(s Step, r Result, err error) error {
		r.Status = Failed
		rep.Steps = append(rep.Steps, r)
		e := &Error{Step: s.Title, Err: err}
		var errs []error
		for i := len(ran) - 1; i >= 0; i-- {
			if ran[i].Cleanup == nil {
				continue
			}
			if cerr := ran[i].Cleanup(ctx); cerr != nil {
				errs = append(errs, fmt.Errorf("%s: %w", ran[i].Title, cerr))
			}
		}
		e.CleanupErr = errors.Join(errs...)
		return e
	}
	for _, s := range steps {
		r := Result{Title: s.Title}
		if err := ctx.Err(); err != nil {
			return fail(s, r, err)
		}
		needed := true
		if s.Check != nil {
			var err error
			needed, r.Reason, err = s.Check(ctx)
			if err != nil {
				return fail(s, r, err)
			}
		}
		switch {
		case !needed:
			r.Status = OK
		case check && s.Kind == Wait:
			r.Status = WouldWait
		case check && s.Kind == Change:
			r.Status = WouldChange
			rep.Changed = true
		default:
			if s.Do != nil {
				if err := s.Do(ctx); err != nil {
					return fail(s, r, err)
				}
			}
			ran = append(ran, s)
			switch s.Kind {
			case Wait:
				r.Status = Waited
			case Read:
				r.Status = OK
			default:
				r.Status = Changed
				rep.Changed = true
			}
		}
		rep.Steps = append(rep.Steps, r)
	}
	return nil
}
