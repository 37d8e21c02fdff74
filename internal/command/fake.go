package command

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Fake is a recorded command fake for tests: each expected call names its argv prefix and
// answers with canned output or an exit code. A call nobody expected fails loudly, and
// Calls records every call (argv and stdin) so tests can assert what ran.
type Fake struct {
	mu       sync.Mutex
	expected []*Expect
	calls    []Cmd
}

// Expect is one expected call. Match is the full argv ("nix build ..."), or a prefix when
// Prefix is set. Times limits how often it may match (0 = any number of times).
type Expect struct {
	Match  string
	Prefix bool
	Stdout string
	Stderr string
	Exit   int
	Times  int
	// Do, when set, runs instead of the canned answer (e.g. to create the files a real
	// command would create).
	Do   func(c Cmd) (Output, error)
	used int
}

// Expect registers an expected call and returns it for further setup.
func (f *Fake) Expect(e Expect) *Expect {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expected = append(f.expected, &e)
	return &e
}

// Run answers c from the expectations, first match wins.
func (f *Fake) Run(_ context.Context, c Cmd) (Output, error) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	argv := c.String()
	var hit *Expect
	for _, e := range f.expected {
		if e.Times > 0 && e.used >= e.Times {
			continue
		}
		if argv == e.Match || (e.Prefix && strings.HasPrefix(argv, e.Match)) {
			hit = e
			break
		}
	}
	if hit != nil {
		hit.used++
	}
	f.mu.Unlock()
	if hit == nil {
		return Output{}, fmt.Errorf("command.Fake: unexpected command %q", argv)
	}
	if hit.Do != nil {
		return hit.Do(c)
	}
	out := Output{Stdout: []byte(hit.Stdout), Stderr: []byte(hit.Stderr)}
	if hit.Exit != 0 {
		return out, &Error{Cmd: argv, ExitCode: hit.Exit, Stdout: hit.Stdout, Stderr: hit.Stderr}
	}
	return out, nil
}

// Calls returns the argv of every call so far, in order.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.calls))
	for i, c := range f.calls {
		out[i] = c.String()
	}
	return out
}

// Cmds returns every call so far with its stdin and environment.
func (f *Fake) Cmds() []Cmd {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Cmd(nil), f.calls...)
}
