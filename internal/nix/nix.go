// Package nix runs the nix command for the lifecycle modules: its version, flake
// evaluation and builds into an out-link, with flags that nix 2.8 (Debian's) already knows.
package nix

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"github.com/business-operations/bo.microvm/internal/command"
)

// Features are the experimental features every call enables (flakes need both until
// nix makes them stable); passing them as --extra-experimental-features leaves the host's
// nix.conf untouched.
const Features = "nix-command flakes"

// MinVersion is the oldest nix whose flake CLI this package relies on.
var MinVersion = Version{Major: 2, Minor: 4}

// TailLines is how many lines of nix's output a failure keeps.
const TailLines = 25

// Nix runs nix through a command.Runner. Its zero value is not usable: Runner is required.
type Nix struct {
	Runner command.Runner
	// Bin is the nix executable; Find() when empty.
	Bin string
	// Options are extra arguments put after the subcommand of build and eval, e.g.
	// ["--option", "substituters", ""] or ["--override-input", "x", "path:/y"].
	// They may carry tokens, so no message of this package ever prints them.
	Options []string
}

// Version is nix's version as `nix --version` prints it.
type Version struct {
	Major, Minor, Patch int
	Raw                 string // the whole first line, e.g. "nix (Nix) 2.8.0"
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast reports whether v is o or newer.
func (v Version) AtLeast(o Version) bool {
	if v.Major != o.Major {
		return v.Major > o.Major
	}
	if v.Minor != o.Minor {
		return v.Minor > o.Minor
	}
	return v.Patch >= o.Patch
}

var versionRe = regexp.MustCompile(`(\d+)\.(\d+)(?:\.(\d+))?`)

// ParseVersion reads the output of `nix --version` ("nix (Nix) 2.8.0", "nix (Nix) 2.24.10",
// "nix (Lix, like Nix) 2.91.1"). It fails when no version number is in it.
func ParseVersion(out string) (Version, error) {
	line := strings.TrimSpace(strings.SplitN(strings.TrimSpace(out), "\n", 2)[0])
	// The version is the last number-like word: "(Lix, like Nix) 2.91.1".
	fields := strings.Fields(line)
	for i := len(fields) - 1; i >= 0; i-- {
		m := versionRe.FindStringSubmatch(fields[i])
		if m == nil {
			continue
		}
		v := Version{Raw: line}
		v.Major, _ = strconv.Atoi(m[1])
		v.Minor, _ = strconv.Atoi(m[2])
		if m[3] != "" {
			v.Patch, _ = strconv.Atoi(m[3])
		}
		return v, nil
	}
	return Version{}, fmt.Errorf("cannot read a version from `nix --version` output %q", line)
}

// Find returns the nix executable: from PATH, else where NixOS and multi-user installs put
// it (a module's PATH over SSH can be minimal). It returns "nix" when none is found, so that
// the error names the command.
func Find() string {
	if p, err := exec.LookPath("nix"); err == nil {
		return p
	}
	for _, p := range []string{"/run/current-system/sw/bin/nix", "/nix/var/nix/profiles/default/bin/nix"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return "nix"
}

func (n Nix) bin() string {
	if n.Bin != "" {
		return n.Bin
	}
	return Find()
}

// Error is a nix call that failed. Its message names the operation and the installable and
// carries the tail of nix's output, never the extra options (they may hold tokens).
type Error struct {
	Op          string // "build", "eval", "path-info", "--version"
	Target      string // installable or store path
	ExitCode    int    // -1 when nix did not run
	Tail        string // last TailLines lines of nix's stderr (the build log with -L)
	Err         error  // the underlying error when nix did not run
	OutputsNone bool   // a build succeeded but left no out-link
}

func (e *Error) Error() string {
	var msg string
	switch {
	case e.ExitCode >= 0:
		msg = fmt.Sprintf("nix %s %s failed with exit code %d", e.Op, e.Target, e.ExitCode)
	case e.Err != nil:
		msg = fmt.Sprintf("nix %s %s: %v", e.Op, e.Target, e.Err)
	default:
		msg = fmt.Sprintf("nix %s %s failed", e.Op, e.Target)
	}
	if e.Tail != "" {
		msg += ": " + lastLine(e.Tail)
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "error:") {
			return l
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

func (n Nix) run(ctx context.Context, op, target string, args []string) (command.Output, error) {
	if n.Runner == nil {
		return command.Output{}, errors.New("nix: no command runner")
	}
	out, err := n.Runner.Run(ctx, command.Cmd{Name: n.bin(), Args: args})
	if err == nil {
		return out, nil
	}
	if ctx.Err() != nil { // killed by the deadline: say so rather than "exit code -1"
		return out, &Error{Op: op, Target: target, ExitCode: -1, Err: fmt.Errorf("stopped: %w", ctx.Err()), Tail: command.Tail(string(out.Stderr), TailLines)}
	}
	var ce *command.Error
	if errors.As(err, &ce) {
		return out, &Error{Op: op, Target: target, ExitCode: ce.ExitCode, Tail: command.Tail(ce.Stderr, TailLines)}
	}
	return out, &Error{Op: op, Target: target, ExitCode: -1, Err: err}
}

// Version runs `nix --version`. It fails when nix is missing or older than MinVersion.
func (n Nix) Version(ctx context.Context) (Version, error) {
	out, err := n.run(ctx, "--version", "", []string{"--version"})
	if err != nil {
		return Version{}, fmt.Errorf("find nix on the host (is it installed and on PATH?): %w", err)
	}
	v, err := ParseVersion(string(out.Stdout))
	if err != nil {
		return Version{}, err
	}
	if !v.AtLeast(MinVersion) {
		return v, fmt.Errorf("nix %s is too old: flakes need nix %s or newer", v, MinVersion)
	}
	return v, nil
}

// common are the flags of every flake call. --no-write-lock-file: evaluating the site flake
// never rewrites its flake.lock on the host (a lockless flake is locked in memory only).
func (n Nix) common(sub string, extra ...string) []string {
	args := []string{"--extra-experimental-features", Features, sub}
	args = append(args, extra...)
	args = append(args, "--no-write-lock-file")
	return append(args, n.Options...)
}

// Build builds installable with its out-link at outLink (which also registers nix's
// automatic GC root for it) and returns the store path the out-link points to; nix 2.8 has
// no --print-out-paths, so the link is read. -L puts the build log on stderr, whose tail a
// failure carries in *Error.
func (n Nix) Build(ctx context.Context, installable, outLink string) (string, error) {
	args := append(n.common("build", "-L", "--out-link", outLink), installable)
	if _, err := n.run(ctx, "build", installable, args); err != nil {
		return "", err
	}
	target, err := os.Readlink(outLink)
	if err != nil {
		return "", &Error{Op: "build", Target: installable, ExitCode: -1, OutputsNone: true,
			Err: fmt.Errorf("the build succeeded but left no out-link %s: %w", outLink, err)}
	}
	return target, nil
}

// Eval evaluates installable to a string (nix eval --raw). It builds nothing; evaluating a
// flake may still copy its source and derivations into the store, as any evaluation does.
func (n Nix) Eval(ctx context.Context, installable string) (string, error) {
	args := append(n.common("eval", "--raw"), installable)
	out, err := n.run(ctx, "eval", installable, args)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out.Stdout)), nil
}

// OutPath predicts the store path a build of installable would produce, without building:
// it evaluates installable's outPath.
func (n Nix) OutPath(ctx context.Context, installable string) (string, error) {
	return n.Eval(ctx, installable+".outPath")
}

// Valid reports whether path is a valid (registered, complete) store path, with
// `nix path-info`. A path nix does not know answers false, not an error.
func (n Nix) Valid(ctx context.Context, path string) (bool, error) {
	_, err := n.run(ctx, "path-info", path, []string{"--extra-experimental-features", Features, "path-info", path})
	var ne *Error
	if errors.As(err, &ne) && ne.ExitCode > 0 {
		return false, nil
	}
	return err == nil, err
}
