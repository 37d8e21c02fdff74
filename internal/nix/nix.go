// Package nix runs the nix command for the lifecycle modules: its version, flake
// evaluation and builds into an out-link, with flags that nix 2.8 (Debian's) already knows.
package nix

import (
	"context"
	"encoding/json"
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

// Runner is what one VM's config.microvm.declaredRunner evaluates to: the derivation and
// the store path a build of it produces.
type Runner struct {
	DrvPath string `json:"drv"`
	OutPath string `json:"out"`
}

// RunnersExpr is the --apply function of EvalRunners: for each name, the runner's drvPath
// and outPath (as drv and out: nix prints an attribute set with an outPath as that string),
// or null when the VM has no such configuration (`or` catches a missing attribute anywhere in
// the path) or its evaluation throws (builtins.tryEval catches throw and assert, which is how
// the NixOS module system fails; any other evaluation error fails the whole call, and the
// caller evaluates the VMs one by one for their own messages). Names are
// state directory names (letters, digits, - _ .: statedir.ValidateName), which need no
// escaping inside a nix string.
func RunnersExpr(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = `"` + n + `"`
	}
	return `cs: builtins.listToAttrs (map (n: { name = n; value =
  let r = builtins.tryEval (let d = cs.${n}.config.microvm.declaredRunner or null; in
    if d == null then null else builtins.seq d.drvPath { drv = d.drvPath; out = d.outPath; });
  in if r.success then r.value else null; }) [ ` + strings.Join(quoted, " ") + ` ])`
}

// EvalRunners evaluates the runners of every VM in names in ONE evaluation of flake
// (`nix eval --json <flake>#nixosConfigurations --apply ...`), so the flake and what it
// imports (nixpkgs, on a real site) are evaluated once per call, not once per VM. The map
// holds the VMs that evaluated; a VM missing from it did not (EvalRunner tells why). It writes
// the derivations into the store, as any evaluation of their drvPath does, and builds
// nothing. --apply and --json are in nix 2.8 (src/nix/eval.cc at tag 2.8.0).
func (n Nix) EvalRunners(ctx context.Context, flake string, names []string) (map[string]Runner, error) {
	installable := flake + "#nixosConfigurations"
	args := append(n.common("eval", "--json", "--apply", RunnersExpr(names)), installable)
	out, err := n.run(ctx, "eval", installable, args)
	if err != nil {
		return nil, err
	}
	var res map[string]*Runner
	if err := json.Unmarshal(out.Stdout, &res); err != nil {
		return nil, &Error{Op: "eval", Target: installable, ExitCode: -1, Err: fmt.Errorf("read nix's JSON output: %w", err)}
	}
	runners := make(map[string]Runner, len(res))
	for name, r := range res {
		if r != nil && strings.HasPrefix(r.DrvPath, "/nix/store/") && strings.HasPrefix(r.OutPath, "/nix/store/") {
			runners[name] = *r
		}
	}
	return runners, nil
}

// EvalRunner evaluates one VM's runner (what EvalRunners does for many); its error carries
// nix's own message for that VM.
func (n Nix) EvalRunner(ctx context.Context, installable string) (Runner, error) {
	args := append(n.common("eval", "--json", "--apply", "d: { drv = d.drvPath; out = d.outPath; }"), installable)
	out, err := n.run(ctx, "eval", installable, args)
	if err != nil {
		return Runner{}, err
	}
	var r Runner
	if err := json.Unmarshal(out.Stdout, &r); err != nil || r.OutPath == "" || r.DrvPath == "" {
		return Runner{}, &Error{Op: "eval", Target: installable, ExitCode: -1, Err: fmt.Errorf("%s is not a derivation (nix printed %q)", installable, command.Tail(string(out.Stdout), 1))}
	}
	return r, nil
}

// DrvInstallable names the "out" output of a derivation as `nix build` of version v reads
// it, without evaluating anything: nix 2.13 added the drv^out syntax (src/libstore/
// outputs-spec.cc, tag 2.13.0), and up to 2.14 a plain .drv path means all its outputs,
// while from 2.15 it means the .drv file itself (src/libcmd/installables.cc at 2.14.0,
// "This handling predates the `^` syntax"; src/libcmd/installable-derived-path.cc at 2.15.0).
func DrvInstallable(drv string, v Version) string {
	if v.AtLeast(Version{Major: 2, Minor: 13}) {
		return drv + "^out"
	}
	return drv
}

// BuildDrvs builds the derivations in one nix call (no evaluation: the installables are
// store derivations, see DrvInstallable), with out-links under outLink (nix names them
// outLink, outLink-1, ... in an order of its own: src/nix/build.cc, and with 2.8 the
// order of its goal set, src/libstore/build/entry-points.cc; so callers match the links by
// target, never by position). keepGoing lets nix build every derivation it can when one
// fails (--keep-going); nix then fails and makes no out-link at all (the links are made
// after the whole build succeeded, build.cc). -L puts the build logs on stderr, whose tail
// a failure carries in *Error.
func (n Nix) BuildDrvs(ctx context.Context, drvs []string, outLink string, keepGoing bool, v Version) error {
	extra := []string{"-L"}
	if keepGoing {
		extra = append(extra, "--keep-going")
	}
	extra = append(extra, "--out-link", outLink)
	args := n.common("build", extra...)
	target := drvs[0]
	for _, d := range drvs {
		args = append(args, DrvInstallable(d, v))
	}
	if len(drvs) > 1 {
		target = fmt.Sprintf("(%d derivations)", len(drvs))
	}
	_, err := n.run(ctx, "build", target, args)
	return err
}
