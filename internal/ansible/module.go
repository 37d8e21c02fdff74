// Package ansible implements Ansible's binary-module protocol for Go modules: it reads the
// JSON arguments file named by argv[1] and the task's _ansible_ keys (check, diff, no_log,
// verbosity, the controller's version), validates the arguments against the module's spec
// (internal/ansible/argspec, as the controller's release does it), runs the module, masks
// no_log values, and prints exactly one JSON result object on stdout. With --ansible-doc it
// prints the sidecar documentation (internal/ansible/moddoc) instead.
//
// A module needs only this package: it re-exports the spec vocabulary of argspec (Option,
// Spec, Params, the types) and the documentation types of moddoc (Return, Support).
//
// # Fidelity
//
// The protocol follows the controller that runs the module, as argspec does (see there for
// the validator's known differences). Its own:
//   - Every _ansible_ key is accepted, known or not (a Go binary must outlive the controller
//     it was built for); AnsibleModule reports unknown ones as unsupported parameters.
//   - Top-level bools and nulls of the result are never masked, as from 2.15.
//   - "Module did not set no_log for NAME" warnings come in sorted order of NAME;
//     AnsibleModule's follow its params dict (the task's keys, then aliased options).
package ansible

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/business-operations/bo.microvm/internal/ansible/argspec"
	"github.com/business-operations/bo.microvm/internal/ansible/pyvalue"
)

// Module declares one Ansible module: its documentation, argument spec and behaviour.
// A module's main is `ansible.Main(ansible.Module{...})`.
type Module struct {
	Name             string // e.g. "microvm_info"; the FQCN is "bo.microvm." + Name
	ShortDescription string
	Description      []string
	Notes            []string
	Spec             Spec
	CheckMode        Support // None makes a check-mode run exit "skipped", as ansible-core does
	DiffMode         Support
	Examples         string
	Returns          []Return
	// Timeout bounds the whole run; when it passes the module still prints a failed result.
	// Zero means one hour.
	Timeout time.Duration
	// Run does the work. On error the result's values are still returned, with failed=true.
	Run func(ctx context.Context, inv *Invocation) (*Result, error)
}

// Invocation is what a module's Run receives: validated parameters and the task's modes.
type Invocation struct {
	Params          Params
	CheckMode       bool
	Diff            bool
	NoLog           bool
	Verbosity       int
	ModuleName      string // as ansible-core names it in messages, per-arch suffix removed
	AnsibleVersion  string
	TmpDir          string // the per-task tmp dir, "" when becoming an unprivileged user
	RemoteTmp       string
	KeepRemoteFiles bool

	debug        bool            // _ansible_debug
	prof         argspec.Profile // the controller's release, from _ansible_version
	mu           sync.Mutex
	warnings     []string
	deprecations []map[string]any
}

// Warn adds a warning to the result.
func (inv *Invocation) Warn(format string, args ...any) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.warnings = append(inv.warnings, fmt.Sprintf(format, args...))
}

// Deprecate adds a deprecation to the result.
func (inv *Invocation) Deprecate(msg, version string) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.deprecations = append(inv.deprecations, map[string]any{"msg": msg, "version": version, "collection_name": "bo.microvm"})
}

// Result is what a module reports. Values holds the module's own return keys.
type Result struct {
	Changed bool
	Msg     string
	Skipped bool
	Diff    []Diff // reported only in diff mode
	Values  map[string]any
}

// NoLogResult is the result key by which a module asks for its whole result to be hidden
// (set it to true). ansible-core strips a module's _ansible_no_log (vars/clean.py
// remove_internal_keys), so bo.microvm's action plugin reads this key instead, removes it and
// marks the task result no_log (plugins/plugin_utils/gomodule.py).
const NoLogResult = "bo_microvm_no_log"

// Set adds a return value and returns r, for chaining.
func (r *Result) Set(key string, value any) *Result {
	if r.Values == nil {
		r.Values = map[string]any{}
	}
	r.Values[key] = value
	return r
}

// Diff is one before/after pair as the default callback renders it.
type Diff struct {
	Before       any    `json:"before,omitempty"`
	After        any    `json:"after,omitempty"`
	BeforeHeader string `json:"before_header,omitempty"`
	AfterHeader  string `json:"after_header,omitempty"`
	Prepared     string `json:"prepared,omitempty"`
}

// CommandFailure is implemented by errors from external commands; the result then carries
// rc, stdout and stderr as ansible.builtin.command's does.
type CommandFailure interface {
	error
	CommandResult() (rc int, stdout, stderr string)
}

// Main runs m as a binary module: it reads os.Args[1], prints one JSON object and exits.
// With the single argument "--ansible-doc" it prints the sidecar documentation instead.
func Main(m Module) {
	if len(os.Args) == 2 && os.Args[1] == "--ansible-doc" {
		if err := WriteDoc(os.Stdout, m); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	var argsFile string
	if len(os.Args) > 1 {
		argsFile = os.Args[1]
	}
	out, failed := Execute(context.Background(), m, argsFile)
	os.Stdout.Write(append(out, '\n'))
	if failed {
		os.Exit(1)
	}
}

// Execute runs m against the args file and returns the one-line JSON result and whether it
// failed. It never panics and never returns anything but a single JSON object.
func Execute(ctx context.Context, m Module, argsFile string) (out []byte, failed bool) {
	data, err := ReadArgs(argsFile)
	return ExecuteArgs(ctx, m, argsFile, data, err)
}

// ExecuteArgs is Execute on arguments already read (by ReadArgs, with its error): a
// multi-call binary reads them once to pick the module, then runs it on the same bytes.
func ExecuteArgs(ctx context.Context, m Module, argsFile string, data []byte, readErr error) (out []byte, failed bool) {
	res := run(ctx, m, argsFile, data, readErr)
	out, err := marshal(res)
	if err != nil {
		out, _ = json.Marshal(map[string]any{"failed": true, "changed": false, "msg": "internal error: cannot encode the module result: " + err.Error()})
		return out, true
	}
	f, _ := res["failed"].(bool)
	return out, f
}

// run returns the final, masked result map.
func run(ctx context.Context, m Module, argsFile string, data []byte, readErr error) (result map[string]any) {
	var secrets []string
	inv := &Invocation{ModuleName: "bo.microvm." + m.Name}
	defer func() {
		if r := recover(); r != nil {
			res := map[string]any{"failed": true, "changed": false, "msg": fmt.Sprintf("module %s crashed: %v", inv.ModuleName, r)}
			inv.addException(res, debug.Stack())
			result = finish(inv, secrets, nil, res)
		}
	}()

	if argsFile == "" {
		return failure("No argument file given: a binary module is run as MODULE ARGS_FILE (ansible-core does this).")
	}
	if readErr != nil {
		return failure(fmt.Sprintf("Cannot read the arguments file: %v", readErr))
	}
	raw, err := pyvalue.DecodeJSON(data)
	if err != nil {
		return failure(fmt.Sprintf("The arguments file %s is not valid JSON: %v", argsFile, err))
	}
	all, ok := raw.(map[string]any)
	if !ok {
		return failure(fmt.Sprintf("The arguments file %s must hold a JSON object, not %s", argsFile, pyvalue.Class(raw)))
	}
	params := map[string]any{}
	internal := map[string]any{}
	for k, val := range all {
		if strings.HasPrefix(k, "_ansible_") {
			internal[strings.TrimPrefix(k, "_ansible_")] = val
		} else {
			params[k] = val
		}
	}
	applyInternal(inv, internal)

	inv.prof = argspec.ProfileFor(pyvalue.Str(internal["version"]))
	v := inv.prof.Validate(m.Spec, params)
	secrets = v.NoLogValues()
	base := map[string]any{}
	if injectInvocation(internal) {
		base["invocation"] = map[string]any{"module_args": v.Params}
	}
	inv.warnings = append(inv.warnings, v.Warnings...)
	errs := v.Errors
	ignoredUnknown := v.Unsupported && boolish(internal["ignore_unknown_opts"])
	if ignoredUnknown {
		errs = errs[1:]
	}
	if len(errs) > 0 {
		msg := errs[0]
		if v.Unsupported && !ignoredUnknown {
			msg = fmt.Sprintf("Unsupported parameters for (%s) module: %s", inv.ModuleName, msg)
		}
		base["failed"], base["changed"], base["msg"] = true, false, msg
		return finish(inv, secrets, nil, base)
	}
	inv.Params = Params(v.Params)
	if inv.CheckMode && (m.CheckMode == None || m.CheckMode == "") {
		base["changed"], base["skipped"] = false, true
		base["msg"] = fmt.Sprintf("remote module (%s) does not support check mode", inv.ModuleName)
		return finish(inv, secrets, nil, base)
	}

	if !inv.NoLog {
		inv.warnings = append(inv.warnings, passwordWarnings(m.Spec.Options, v.Params)...)
	}

	timeout := m.Timeout
	if timeout == 0 {
		timeout = time.Hour
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type outcome struct {
		res   *Result
		err   error
		panic any
		stack []byte
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- outcome{panic: r, stack: debug.Stack()}
			}
		}()
		r, err := m.Run(ctx, inv)
		done <- outcome{res: r, err: err}
	}()
	var o outcome
	select {
	case o = <-done:
	case <-time.After(timeout + timeoutGrace):
		base["failed"], base["changed"] = true, false
		base["msg"] = fmt.Sprintf("module %s did not finish within %s; what it had done so far is not known", inv.ModuleName, timeout)
		return finish(inv, secrets, nil, base)
	}
	if o.panic != nil {
		base["failed"], base["changed"] = true, false
		base["msg"] = fmt.Sprintf("module %s crashed: %v", inv.ModuleName, o.panic)
		inv.addException(base, o.stack)
		return finish(inv, secrets, nil, base)
	}
	r := o.res
	if r == nil {
		r = &Result{}
	}
	for k, val := range r.Values {
		base[k] = val
	}
	base["changed"] = r.Changed
	if r.Msg != "" {
		base["msg"] = r.Msg
	}
	if r.Skipped {
		base["skipped"] = true
	}
	if o.err != nil {
		base["failed"] = true
		base["msg"] = o.err.Error()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			base["msg"] = fmt.Sprintf("module %s did not finish within %s: %v", inv.ModuleName, timeout, o.err)
		}
		var cf CommandFailure
		if errors.As(o.err, &cf) {
			rc, stdout, stderr := cf.CommandResult()
			base["rc"], base["stdout"], base["stderr"] = rc, stdout, stderr
		}
	}
	var diff []Diff
	if inv.Diff {
		diff = r.Diff
	}
	return finish(inv, secrets, diff, base)
}

// ReadArgs reads the args file. "/dev/stdin" is read from fd 0 itself: the action plugin's
// fast path pipes the arguments there, and after become to another user the pipe cannot be
// reopened through /proc by name.
func ReadArgs(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	if path == "/dev/stdin" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

// ArgsModuleName is _ansible_module_name in the arguments ansible-core wrote, "" when absent
// or unreadable (the module then reports the JSON error itself).
func ArgsModuleName(data []byte) string {
	raw, err := pyvalue.DecodeJSON(data)
	if err != nil {
		return ""
	}
	all, _ := raw.(map[string]any)
	s, _ := all["_ansible_module_name"].(string)
	return s
}

// timeoutGrace is how long Run may take to return after its context expired before the
// module gives up on it and reports the timeout itself.
var timeoutGrace = 5 * time.Second

// addException attaches a stack trace as "exception" when the task asked for tracebacks:
// AnsibleModule does so only with _ansible_debug or verbosity 3 (-vvv) and more.
func (inv *Invocation) addException(res map[string]any, stack []byte) {
	if inv.debug || inv.Verbosity >= 3 {
		res["exception"] = string(stack)
	}
}

// passwordMatch is basic.py's PASSWORD_MATCH: names that look like passwords.
var passwordMatch = regexp.MustCompile(`(?i)^(?:.+[-_\s])?pass(?:[-_\s]?(?:word|phrase|wrd|wd)?)(?:[-_\s].+)?$`)

// passwordWarnings are the warnings AnsibleModule._log_invocation gives for parameters
// whose name looks like a password but whose option leaves no_log unset: an explicit
// no_log False (NotSecret) or True (NoLog) silences it (basic.py: `no_log is None and
// PASSWORD_MATCH.search(param)`, stable-2.14 71a2eba2e6a8 line 1382, 2.19.11 line 1350).
func passwordWarnings(opts []Option, params map[string]any) []string {
	noLogSet := map[string]bool{}
	for _, o := range opts {
		set := o.NoLog || o.NotSecret
		noLogSet[o.Name] = set
		for _, a := range o.Aliases {
			noLogSet[a] = set
		}
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if !noLogSet[k] && passwordMatch.MatchString(k) {
			out = append(out, "Module did not set no_log for "+k)
		}
	}
	return out
}

// finish adds warnings, deprecations and diff, makes the result generic JSON and masks it.
func finish(inv *Invocation, secrets []string, diff []Diff, res map[string]any) map[string]any {
	warnings := inv.warnings
	if inv.prof.Is219() { // 2.19 keeps each warning once
		warnings = nil
		seen := map[string]bool{}
		for _, w := range inv.warnings {
			if !seen[w] {
				seen[w] = true
				warnings = append(warnings, w)
			}
		}
	}
	if len(warnings) > 0 {
		res["warnings"] = warnings
	}
	if len(inv.deprecations) > 0 {
		res["deprecations"] = inv.deprecations
	}
	switch len(diff) {
	case 0:
	case 1:
		res["diff"] = diff[0]
	default:
		res["diff"] = diff
	}
	if _, ok := res["failed"]; !ok {
		res["failed"] = false
	}
	generic, err := toGeneric(res)
	if err != nil {
		return map[string]any{"failed": true, "changed": false, "msg": "internal error: cannot encode the module result: " + err.Error()}
	}
	masked := removeValues(generic, longestFirst(secrets), inv.prof.Is219()).(map[string]any)
	// As ansible-core 2.15+: top-level booleans and nulls are never masked.
	for k, val := range generic {
		if _, ok := val.(bool); ok || val == nil {
			masked[k] = val
		}
	}
	return masked
}

// toGeneric turns the result into maps, slices and scalars, floats kept as floats.
func toGeneric(v map[string]any) (map[string]any, error) {
	return genericMap(v)
}

func failure(msg string) map[string]any {
	return map[string]any{"failed": true, "changed": false, "msg": msg}
}

var archSuffix = regexp.MustCompile(`_linux_[a-z0-9]+$`)

func applyInternal(inv *Invocation, in map[string]any) {
	inv.CheckMode = boolish(in["check_mode"])
	inv.Diff = boolish(in["diff"])
	inv.NoLog = boolish(in["no_log"])
	inv.KeepRemoteFiles = boolish(in["keep_remote_files"])
	inv.debug = boolish(in["debug"])
	if n, ok := pyvalue.Number(in["verbosity"]); ok {
		inv.Verbosity = int(n)
	}
	if s, ok := in["module_name"].(string); ok && s != "" {
		inv.ModuleName = archSuffix.ReplaceAllString(s, "")
	}
	inv.AnsibleVersion, _ = in["version"].(string)
	inv.TmpDir, _ = in["tmpdir"].(string)
	inv.RemoteTmp, _ = in["remote_tmp"].(string)
}

// injectInvocation follows 2.21+: invocation only when asked; always when the key is absent.
func injectInvocation(in map[string]any) bool {
	v, ok := in["inject_invocation"]
	return !ok || boolish(v)
}

func boolish(v any) bool {
	b, _ := argspec.Boolean(v)
	return b
}

// marshal encodes the result as one line of JSON, numbers as Python prints them.
func marshal(v map[string]any) ([]byte, error) {
	return pyvalue.EncodeCompact(v)
}

// WriteJSON is a helper for tests and tools: it writes v as one JSON line.
func WriteJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
