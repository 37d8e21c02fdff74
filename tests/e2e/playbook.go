//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Vars are extra variables for a playbook run (passed as -e @file.json).
type Vars map[string]any

// Result is one ansible-playbook run: its exit code, its human output, and
// every task result per host as the bo_json callback recorded it.
type Result struct {
	// Controller is the controller that ran it ("2.14", "2.19").
	Controller string
	// RC is ansible-playbook's exit code (0 ok, 2 a task failed, 4 unreachable).
	RC int
	// Output is what the default stdout callback printed, stderr included.
	Output string
	// Tasks are the task results in the order they ended.
	Tasks []TaskResult
	recap Recap
}

// TaskResult is one task's result on one host.
type TaskResult struct {
	Play   string `json:"play"`
	Task   string `json:"task"`
	Action string `json:"action"`
	Host   string `json:"host"`
	// Status is ok, failed, ignored (failed with ignore_errors), skipped or unreachable.
	Status  string `json:"status"`
	Changed bool   `json:"changed"`
	// Result is the module's result (internal _ansible keys removed).
	Result map[string]any `json:"result"`
}

// HostRecap is one line of PLAY RECAP.
type HostRecap struct {
	OK          int `json:"ok"`
	Changed     int `json:"changed"`
	Failures    int `json:"failures"`
	Unreachable int `json:"unreachable"`
	Skipped     int `json:"skipped"`
	Rescued     int `json:"rescued"`
	Ignored     int `json:"ignored"`
}

// Recap is PLAY RECAP by host.
type Recap map[string]HostRecap

// Changed is the sum of changed over all hosts: 0 on an idempotent rerun.
func (r Recap) Changed() int {
	n := 0
	for _, h := range r {
		n += h.Changed
	}
	return n
}

// Failed is the sum of failures and unreachable over all hosts.
func (r Recap) Failed() int {
	n := 0
	for _, h := range r {
		n += h.Failures + h.Unreachable
	}
	return n
}

// Recap is the run's PLAY RECAP by host.
func (r *Result) Recap() Recap { return r.recap }

// Find returns the last result of the task named task on host.
func (r *Result) Find(task, host string) (TaskResult, bool) {
	for i := len(r.Tasks) - 1; i >= 0; i-- {
		if r.Tasks[i].Task == task && r.Tasks[i].Host == host {
			return r.Tasks[i], true
		}
	}
	return TaskResult{}, false
}

// Task returns the last result of the task named task on host; the test fails
// when there is none.
func (r *Result) Task(t testing.TB, task, host string) TaskResult {
	t.Helper()
	tr, ok := r.Find(task, host)
	if !ok {
		var seen []string
		for _, x := range r.Tasks {
			seen = append(seen, x.Task+"@"+x.Host)
		}
		t.Fatalf("no result of task %q on %s (controller %s); results: %v", task, host, r.Controller, seen)
	}
	return tr
}

// RequireOK fails the test, showing the output, unless the run exited 0
// with no failed or unreachable host.
func (r *Result) RequireOK(t testing.TB) {
	t.Helper()
	if r.RC != 0 || r.recap.Failed() != 0 {
		t.Fatalf("playbook with controller %s: rc %d, recap %+v\n%s", r.Controller, r.RC, r.recap, r.Output)
	}
}

// Playbook runs playbook (a path; relative to the test's directory) against
// the lab inventory with controller ctrl ("2.14" or "2.19"), vars as extra
// variables, and args as further ansible-playbook arguments ("--check",
// "--diff", "--limit", "hv1", ...). It does not fail the test when the
// playbook fails (tests of failures need the result): use RequireOK. It fails
// the test when ansible-playbook could not run or wrote no result, and when
// the collection is not built (`make build`).
//
// Environment: the collection from build/collections, the bo_json callback,
// host key checking as the inventory says (the lab inventory's is strict, with the
// known_hosts beside it; ANSIBLE_HOST_KEY_CHECKING=False would put StrictHostKeyChecking=no
// before the inventory's ssh_common_args, and ssh takes the first), no colour, and BO_PLAYBOOK_TIMEOUT (a Go duration,
// default 15m) as the limit.
func (l *Env) Playbook(t testing.TB, ctrl, playbook string, vars Vars, args ...string) *Result {
	t.Helper()
	collections := filepath.Join(l.Repo, "build", "collections")
	if _, err := os.Stat(filepath.Join(collections, "ansible_collections", "bo", "microvm")); err != nil {
		t.Fatalf("the collection is not built (%v): run `make build` first", err)
	}
	pb, err := filepath.Abs(playbook)
	if err != nil {
		t.Fatal(err)
	}
	// Short paths: ssh's ControlPath must fit a unix socket name.
	tmp, err := os.MkdirTemp("/tmp", "bo-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	jsonPath := filepath.Join(tmp, "result.json")

	cmdArgs := []string{ctrl, "ansible-playbook", "-i", l.Inventory, pb}
	if len(vars) > 0 {
		data, err := json.Marshal(vars)
		if err != nil {
			t.Fatalf("vars: %v", err)
		}
		varsPath := filepath.Join(tmp, "vars.json")
		if err := os.WriteFile(varsPath, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cmdArgs = append(cmdArgs, "-e", "@"+varsPath)
	}
	cmdArgs = append(cmdArgs, args...)

	timeout := 15 * time.Minute
	if v := os.Getenv("BO_PLAYBOOK_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			timeout = d
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := exec.CommandContext(ctx, filepath.Join(l.Repo, "tests", "lab", "controller"), cmdArgs...)
	c.Env = append(os.Environ(),
		"ANSIBLE_COLLECTIONS_PATH="+collections,
		"ANSIBLE_CALLBACK_PLUGINS="+filepath.Join(l.Repo, "tests", "e2e", "callback_plugins"),
		"ANSIBLE_CALLBACKS_ENABLED=bo_json",
		"ANSIBLE_STDOUT_CALLBACK=default",
		"BO_JSON_RESULT="+jsonPath,
		"ANSIBLE_NOCOLOR=1",
		"ANSIBLE_FORCE_COLOR=0",
		"ANSIBLE_RETRY_FILES_ENABLED=False",
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(tmp, "local"),
		"ANSIBLE_SSH_CONTROL_PATH_DIR="+filepath.Join(tmp, "cp"),
		"ANSIBLE_DEPRECATION_WARNINGS=False",
	)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	start := time.Now()
	runErr := c.Run()
	res := &Result{Controller: ctrl, Output: out.String()}
	t.Logf("ansible-playbook (controller %s) %s %s: %s\n%s", ctrl, filepath.Base(pb), strings.Join(args, " "),
		time.Since(start).Round(10*time.Millisecond), indent(res.Output))
	if runErr != nil {
		ee, ok := runErr.(*exec.ExitError)
		if !ok || ctx.Err() != nil {
			t.Fatalf("ansible-playbook with controller %s: %v (limit %s)", ctrl, runErr, timeout)
		}
		res.RC = ee.ExitCode()
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatalf("ansible-playbook with controller %s exited %d: %v: %v", ctrl, res.RC, errNoJSON, err)
	}
	var doc struct {
		Tasks []TaskResult `json:"tasks"`
		Recap Recap        `json:"recap"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("bo_json result: %v", err)
	}
	res.Tasks, res.recap = doc.Tasks, doc.Recap
	return res
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// String is a short description for messages.
func (tr TaskResult) String() string {
	return fmt.Sprintf("%s@%s: %s changed=%v", tr.Task, tr.Host, tr.Status, tr.Changed)
}
