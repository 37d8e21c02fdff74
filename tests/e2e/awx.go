//go:build e2e && awx

package e2e

// The AWX harness: runs a job template of awx/job_templates.yml through ansible-runner the
// way AWX lays out a job, against the lab. Sources (ansible/awx at
// e21dd0a0933fd544d1fe2513c54fe41203775eb5):
//   - awx/main/tasks/jobs.py BaseTask.build_private_data_dir / build_project_dir: a private
//     data dir with project/ (the project's checkout, sync_and_copy), inventory/ and env/;
//   - BaseTask.write_inventory_file / build_inventory: inventory/hosts is an executable script
//     printing the inventory's script data, sliced (slice_number, slice_count) for a sliced job;
//   - awx/main/models/inventory.py Inventory.get_script_data / get_sliced_hosts: the enabled
//     hosts ordered by name, host_queryset[slice_number-1::slice_count]; each group keeps only
//     the slice's hosts, group vars and children stay, hostvars only for the slice's hosts;
//   - RunJob.build_extra_vars_file + models/mixins.py SurveyJobTemplateMixin.
//     _update_unified_job_kwargs: env/extravars = the template's extra_vars, then the survey's
//     defaults, then the launch's answers (plus AWX's awx_* meta vars);
//   - RunJob.build_args: env/cmdline = [--check if job_type check] -u <credential user or root>
//     [--diff] [-l limit];
//   - BaseTask.build_private_data_files: a machine credential's ssh_key_data goes to
//     ansible-runner's ssh_key (an ssh-agent), never into the inventory;
//   - RunJob.build_env: ANSIBLE_RETRY_FILES_ENABLED=False, ANSIBLE_SSH_CONTROL_PATH_DIR=<job>/cp,
//     the collections path with the EE's /usr/share/ansible/collections (here: build/collections,
//     the collection as the EE installs it).
// AWX then runs `ansible-runner` on that directory with the playbook relative to project/ and
// reads artifacts/<ident>/job_events: so does JobRun.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// JobTemplate is the part of an awx/job_templates.yml entry that shapes a job.
type JobTemplate struct {
	Name          string         `yaml:"name"`
	JobType       string         `yaml:"job_type"`
	Playbook      string         `yaml:"playbook"`
	ExtraVars     map[string]any `yaml:"extra_vars"`
	AskLimit      bool           `yaml:"ask_limit_on_launch"`
	AskJobType    bool           `yaml:"ask_job_type_on_launch"`
	AskDiffMode   bool           `yaml:"ask_diff_mode_on_launch"`
	JobSliceCount int            `yaml:"job_slice_count"`
	AskSliceCount bool           `yaml:"ask_job_slice_count_on_launch"`
	SurveyEnabled bool           `yaml:"survey_enabled"`
	SurveySpec    struct {
		Spec []struct {
			Variable string   `yaml:"variable"`
			Required bool     `yaml:"required"`
			Choices  []string `yaml:"choices"`
			Default  any      `yaml:"default"`
		} `yaml:"spec"`
	} `yaml:"survey_spec"`
}

// JobTemplates reads awx/job_templates.yml by template name.
func (l *Env) JobTemplates(t testing.TB) map[string]JobTemplate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(l.Repo, "awx", "job_templates.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Templates []JobTemplate `yaml:"controller_templates"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("awx/job_templates.yml: %v", err)
	}
	out := map[string]JobTemplate{}
	for _, jt := range doc.Templates {
		out[jt.Name] = jt
	}
	return out
}

// Launch is what a user gives AWX at launch: only the prompts the template asks for count.
type Launch struct {
	Limit   string
	JobType string // "check" or "run"
	Diff    bool
	Survey  map[string]any
	// Slice/Slices: this job is slice Slice of Slices (AWX launches one job per slice).
	Slice, Slices int
}

// AWXInv is what a site sets on the AWX inventory besides the imported file: variables of
// group all, and of single hosts (AWX keeps both in the inventory's script data).
type AWXInv struct {
	Vars     map[string]any
	HostVars map[string]map[string]any
}

// AWXInventory is the inventory's script data (get_script_data's shape) for slice n of count
// (count <= 1: all hosts). inv.Vars go into all's vars, inv.HostVars over the hosts' own.
func (l *Env) AWXInventory(t testing.TB, n, count int, inv AWXInv) map[string]any {
	t.Helper()
	// AWX imports an inventory file with `ansible-inventory --list --export` (tasks/jobs.py
	// RunInventoryUpdate.build_args): group vars stay on their groups.
	out, err := exec.Command("ansible-inventory", "-i", l.Inventory, "--list", "--export").Output()
	if err != nil {
		t.Fatalf("ansible-inventory --list --export: %v", err)
	}
	var export map[string]any
	if err := json.Unmarshal(out, &export); err != nil {
		t.Fatal(err)
	}
	vars := inv.Vars
	meta, _ := export["_meta"].(map[string]any)
	hostvars, _ := meta["hostvars"].(map[string]any)
	// Every host of the inventory, by name (get_script_data: order_by('name')).
	seen := map[string]bool{}
	for name, g := range export {
		if name == "_meta" {
			continue
		}
		gm, _ := g.(map[string]any)
		hosts, _ := gm["hosts"].([]any)
		for _, h := range hosts {
			seen[h.(string)] = true
		}
	}
	for h := range hostvars {
		seen[h] = true
	}
	hosts := make([]string, 0, len(seen))
	for h := range seen {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	keep := map[string]bool{}
	for i, h := range hosts {
		if count <= 1 || i%count == n-1 { // host_queryset[offset::slice_count]
			keep[h] = true
		}
	}
	data := map[string]any{}
	newHostvars := map[string]any{}
	for h, v := range hostvars {
		if keep[h] {
			hv, _ := v.(map[string]any)
			if hv == nil {
				hv = map[string]any{}
			}
			for k, x := range inv.HostVars[h] {
				hv[k] = x
			}
			newHostvars[h] = hv
		}
	}
	data["_meta"] = map[string]any{"hostvars": newHostvars}
	for name, g := range export {
		if name == "_meta" {
			continue
		}
		gm, _ := g.(map[string]any)
		ng := map[string]any{}
		if hs, ok := gm["hosts"].([]any); ok {
			var kept []string
			for _, h := range hs {
				if keep[h.(string)] {
					kept = append(kept, h.(string))
				}
			}
			if len(kept) > 0 {
				ng["hosts"] = kept
			}
		}
		if c, ok := gm["children"]; ok {
			ng["children"] = c
		}
		gv, _ := gm["vars"].(map[string]any)
		if name == "all" {
			if gv == nil {
				gv = map[string]any{}
			}
			// The machine credential gives the key (ssh-agent), not the inventory.
			delete(gv, "ansible_ssh_private_key_file")
			for k, v := range vars {
				gv[k] = v
			}
		}
		if len(gv) > 0 {
			ng["vars"] = gv
		}
		data[name] = ng
	}
	return data
}

// SliceHosts lists the hosts of an AWXInventory, sorted.
func SliceHosts(inv map[string]any) []string {
	meta := inv["_meta"].(map[string]any)
	var out []string
	for h := range meta["hostvars"].(map[string]any) {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// Job is one AWX job run through ansible-runner.
type Job struct {
	*Result
	// Status is ansible-runner's artifacts/<ident>/status: successful, failed, ...
	Status string
	// Dir is the private data dir (kept until the test ends).
	Dir string
	// Cmdline is env/cmdline as AWX would write it.
	Cmdline string
}

// RunJob runs job template name as AWX would: the private data dir, the template's prompts
// from launch, `ansible-runner run`. invVars are the AWX inventory's variables (the lab's
// site settings, e.g. microvm_require_kvm: false).
func (l *Env) RunJob(t testing.TB, jt JobTemplate, launch Launch, invVars AWXInv) *Job {
	t.Helper()
	collections := filepath.Join(l.Repo, "build", "collections")
	if _, err := os.Stat(filepath.Join(collections, "ansible_collections", "bo", "microvm")); err != nil {
		t.Fatalf("the collection is not built (%v): run `make build` first", err)
	}
	if _, err := exec.LookPath("ansible-runner"); err != nil {
		t.Fatalf("ansible-runner is missing (Debian's python3-ansible-runner, .ci/deps): %v", err)
	}
	pdd, err := os.MkdirTemp("/tmp", "bo-awx-") // short: ssh's ControlPath
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pdd) })
	for _, d := range []string{"inventory", "env", "cp"} {
		if err := os.MkdirAll(filepath.Join(pdd, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// project/: AWX copies the project's checkout; this repository is the project.
	if err := os.Symlink(l.Repo, filepath.Join(pdd, "project")); err != nil {
		t.Fatal(err)
	}
	write := func(rel string, data []byte, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(pdd, rel), data, mode); err != nil {
			t.Fatal(err)
		}
	}
	inv := l.AWXInventory(t, launch.Slice, launch.Slices, invVars)
	invJSON, _ := json.Marshal(inv)
	lit, _ := json.Marshal(string(invJSON)) // a JSON string literal is a Python one
	write("inventory/hosts", []byte(fmt.Sprintf("#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%s)\n", lit)), 0o700)

	// extra vars: the template's, the survey's defaults, the answers (prompts only if asked).
	extra := map[string]any{}
	for k, v := range jt.ExtraVars {
		extra[k] = v
	}
	if jt.SurveyEnabled {
		for _, q := range jt.SurveySpec.Spec {
			if q.Default != nil {
				extra[q.Variable] = q.Default
			}
		}
		for k, v := range launch.Survey {
			extra[k] = v
		}
	} else if len(launch.Survey) > 0 {
		t.Fatalf("job template %q has no survey", jt.Name)
	}
	extra["awx_job_template_name"] = jt.Name
	extraJSON, _ := json.Marshal(extra)
	write("env/extravars", extraJSON, 0o600)

	// cmdline: RunJob.build_args.
	jobType, diff, limit := jt.JobType, false, ""
	if jt.AskJobType && launch.JobType != "" {
		jobType = launch.JobType
	}
	if jt.AskDiffMode {
		diff = launch.Diff
	}
	if launch.Limit != "" {
		if !jt.AskLimit {
			t.Fatalf("job template %q does not ask for a limit", jt.Name)
		}
		limit = launch.Limit
	}
	if launch.Slices > 1 && jt.JobSliceCount <= 1 && !jt.AskSliceCount {
		t.Fatalf("job template %q is not sliced and does not ask for a slice count", jt.Name)
	}
	var args []string
	if jobType == "check" {
		args = append(args, "--check")
	}
	args = append(args, "-u", "root") // the machine credential's username
	if diff {
		args = append(args, "--diff")
	}
	if limit != "" {
		args = append(args, "-l", limit)
	}
	cmdline := strings.Join(args, " ") // no spaces inside our arguments (args2cmdline quotes)
	write("env/cmdline", []byte(cmdline), 0o600)

	key, err := os.ReadFile(l.Key)
	if err != nil {
		t.Fatal(err)
	}
	write("env/ssh_key", key, 0o600)

	env := map[string]string{
		"ANSIBLE_COLLECTIONS_PATH":     collections,
		"ANSIBLE_RETRY_FILES_ENABLED":  "False",
		"ANSIBLE_SSH_CONTROL_PATH_DIR": filepath.Join(pdd, "cp"),
		"ANSIBLE_HOST_KEY_CHECKING":    "False",
		"ANSIBLE_NOCOLOR":              "1",
		"ANSIBLE_DEPRECATION_WARNINGS": "False",
		"ANSIBLE_LOCAL_TEMP":           filepath.Join(pdd, "tmp"),
	}
	envJSON, _ := json.Marshal(env)
	write("env/envvars", envJSON, 0o600)

	timeout := 15 * time.Minute
	if v := os.Getenv("BO_PLAYBOOK_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			timeout = d
		}
	}
	c := exec.Command("timeout", fmt.Sprintf("%ds", int(timeout.Seconds())),
		"ansible-runner", "run", pdd, "-p", jt.Playbook, "--ident", "job")
	start := time.Now()
	combined, runErr := c.CombinedOutput()
	art := filepath.Join(pdd, "artifacts", "job")
	status, _ := os.ReadFile(filepath.Join(art, "status"))
	rcData, rcErr := os.ReadFile(filepath.Join(art, "rc"))
	stdout, _ := os.ReadFile(filepath.Join(art, "stdout"))
	job := &Job{Result: &Result{Controller: "ansible-runner", Output: string(stdout)}, Status: strings.TrimSpace(string(status)), Dir: pdd, Cmdline: cmdline}
	t.Logf("AWX job %q (%s; slice %d/%d): ansible-runner status %s in %s\n%s", jt.Name, cmdline, launch.Slice, launch.Slices,
		job.Status, time.Since(start).Round(10*time.Millisecond), indent(job.Output))
	if rcErr != nil {
		t.Fatalf("ansible-runner wrote no rc (%v): %v\n%s", runErr, rcErr, combined)
	}
	fmt.Sscan(strings.TrimSpace(string(rcData)), &job.RC)
	job.Tasks, job.recap = jobEvents(t, filepath.Join(art, "job_events"))
	return job
}

// jobEvents reads ansible-runner's job events (what AWX stores as the job's events) into
// task results and the recap.
func jobEvents(t testing.TB, dir string) ([]TaskResult, Recap) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no job events in %s: %v", dir, err)
	}
	type event struct {
		Counter   int    `json:"counter"`
		Event     string `json:"event"`
		EventData struct {
			Play         string         `json:"play"`
			Task         string         `json:"task"`
			TaskAction   string         `json:"task_action"`
			Host         string         `json:"host"`
			IgnoreErrors bool           `json:"ignore_errors"`
			Res          map[string]any `json:"res"`
			OK           map[string]int `json:"ok"`
			Changed      map[string]int `json:"changed"`
			Failures     map[string]int `json:"failures"`
			Dark         map[string]int `json:"dark"`
			Skipped      map[string]int `json:"skipped"`
			Rescued      map[string]int `json:"rescued"`
			Ignored      map[string]int `json:"ignored"`
		} `json:"event_data"`
	}
	var events []event
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var e event
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		events = append(events, e)
	}
	sort.Slice(events, func(i, j int) bool { return events[i].Counter < events[j].Counter })
	var tasks []TaskResult
	recap := Recap{}
	for _, e := range events {
		d := e.EventData
		status := ""
		switch e.Event {
		case "runner_on_ok":
			status = "ok"
		case "runner_on_failed":
			status = "failed"
			if d.IgnoreErrors {
				status = "ignored"
			}
		case "runner_on_skipped":
			status = "skipped"
		case "runner_on_unreachable":
			status = "unreachable"
		case "playbook_on_stats":
			hosts := map[string]bool{}
			for _, m := range []map[string]int{d.OK, d.Changed, d.Failures, d.Dark, d.Skipped, d.Rescued, d.Ignored} {
				for h := range m {
					hosts[h] = true
				}
			}
			for h := range hosts {
				recap[h] = HostRecap{OK: d.OK[h], Changed: d.Changed[h], Failures: d.Failures[h], Unreachable: d.Dark[h],
					Skipped: d.Skipped[h], Rescued: d.Rescued[h], Ignored: d.Ignored[h]}
			}
		}
		if status == "" {
			continue
		}
		changed, _ := d.Res["changed"].(bool)
		tasks = append(tasks, TaskResult{Play: d.Play, Task: d.Task, Action: d.TaskAction, Host: d.Host,
			Status: status, Changed: changed, Result: d.Res})
	}
	return tasks, recap
}
