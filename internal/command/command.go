// Package command runs host commands through one small interface, so that domain packages
// can be tested with recorded fakes and run for real against the host.
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Cmd is one command to run. Stdin carries secrets: never put a secret into Args.
type Cmd struct {
	Name  string
	Args  []string
	Stdin []byte
	Env   []string // extra KEY=value pairs on top of the process environment
	Dir   string
}

// String renders the command line for messages (never includes Stdin).
func (c Cmd) String() string {
	return strings.TrimSpace(c.Name + " " + strings.Join(c.Args, " "))
}

// Output is what a finished command printed.
type Output struct {
	Stdout, Stderr []byte
}

// Runner runs commands. Run returns an *Error when the command ran and exited non-zero.
type Runner interface {
	Run(ctx context.Context, c Cmd) (Output, error)
}

// Exec runs commands on this host with os/exec.
type Exec struct{}

// Run runs c and waits for it; the context kills it.
func (Exec) Run(ctx context.Context, c Cmd) (Output, error) {
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	if len(c.Env) > 0 {
		cmd.Env = append(cmd.Environ(), c.Env...)
	}
	cmd.Dir = c.Dir
	err := cmd.Run()
	out := Output{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if err == nil {
		return out, nil
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return out, &Error{Cmd: c.String(), ExitCode: exitErr.ExitCode(), Stdout: string(out.Stdout), Stderr: string(out.Stderr)}
	}
	return out, fmt.Errorf("run %s: %w", c.String(), err)
}

// Error is a command that ran and failed. It keeps the exit code and the output tails.
type Error struct {
	Cmd      string
	ExitCode int
	Stdout   string
	Stderr   string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s exited with status %d", e.Cmd, e.ExitCode)
	if tail := Tail(e.Stderr, 20); tail != "" {
		msg += ": " + tail
	}
	return msg
}

// CommandResult lets ansible.Main report rc, stdout and stderr like ansible.builtin.command.
func (e *Error) CommandResult() (int, string, string) { return e.ExitCode, e.Stdout, e.Stderr }

// Tail returns the last n non-empty lines of s, joined by newlines.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var kept []string
	for i := len(lines) - 1; i >= 0 && len(kept) < n; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			kept = append([]string{lines[i]}, kept...)
		}
	}
	return strings.Join(kept, "\n")
}
