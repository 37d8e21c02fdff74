//go:build conformance

package conformance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/ansible"
)

// TestConformance runs every case of the table through real ansible-playbook twice: once
// with a Python AnsibleModule module whose argument_spec is rendered from the Go spec, once
// with the Go module built from ./module, and compares what each accepted
// (invocation.module_args) and what each reported (failed, skipped, msg, warnings).
//
// It takes half a minute, so it is compiled only with -tags conformance (`make conformance`);
// it needs ansible-playbook (Debian's ansible-core 2.14) and fails without it.
// CONFORMANCE_ANSIBLE_PLAYBOOK names another ansible-playbook command (e.g. a 2.19 one);
// CONFORMANCE_WORKDIR=DIR keeps the generated modules, playbook and results in DIR.
func TestConformance(t *testing.T) {
	playbookCmd := strings.Fields(os.Getenv("CONFORMANCE_ANSIBLE_PLAYBOOK"))
	if len(playbookCmd) == 0 {
		playbookCmd = []string{"ansible-playbook"}
	}
	_, err := exec.LookPath(playbookCmd[0])
	require.NoError(t, err, "the conformance test needs ansible-core's ansible-playbook")
	start := time.Now()
	dir := t.TempDir()
	if keep := os.Getenv("CONFORMANCE_WORKDIR"); keep != "" { // keep everything for a look
		require.NoError(t, os.RemoveAll(keep))
		require.NoError(t, os.MkdirAll(keep, 0o755))
		dir = keep
	}
	lib := filepath.Join(dir, "library")
	require.NoError(t, os.MkdirAll(lib, 0o755))
	goBin := filepath.Join(lib, "conf_go_build")
	build := exec.Command(goTool(), "build", "-trimpath", "-ldflags", "-s -w", "-o", goBin, "./module")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build ./module: %s", out)
	for _, m := range Modules {
		require.NoError(t, os.WriteFile(filepath.Join(lib, m.Name+".py"), []byte(pythonModule(m)), 0o755))
		require.NoError(t, os.Link(goBin, filepath.Join(lib, goName(m.Name))))
	}
	require.NoError(t, os.Remove(goBin))
	writePlaybook(t, dir, cases)

	callbacks, err := filepath.Abs("callback_plugins")
	require.NoError(t, err)
	logPath := filepath.Join(dir, "results.jsonl")
	cmd := exec.Command(playbookCmd[0], append(playbookCmd[1:], "-i", "inventory", "play.yml")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"ANSIBLE_CONFIG="+filepath.Join(dir, "ansible.cfg"),
		"ANSIBLE_LIBRARY="+lib,
		"ANSIBLE_CALLBACK_PLUGINS="+callbacks,
		"ANSIBLE_CALLBACKS_ENABLED=conformance_jsonl",
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "local-tmp"),
		"ANSIBLE_REMOTE_TMP="+filepath.Join(dir, "remote-tmp"),
		"ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3",
		"ANSIBLE_NOCOLOR=1",
		"ANSIBLE_PIPELINING=1", // Python modules only: binaries are never pipelined
		"ANSIBLE_RETRY_FILES_ENABLED=0",
		fmt.Sprintf("ANSIBLE_FORKS=%d", hosts),
		"CONFORMANCE_LOG="+logPath,
	)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ansible.cfg"), nil, 0o644))
	stdout, err := cmd.CombinedOutput()
	require.NoError(t, err, "ansible-playbook failed:\n%s", tail(stdout, 60))
	version := ansibleVersion(playbookCmd)

	results := readResults(t, logPath)
	identical, accepted := 0, 0
	var problems []string
	for i, c := range cases {
		py, okPy := results[taskName(i, "py")]
		gr, okGo := results[taskName(i, "go")]
		if !okPy || !okGo {
			problems = append(problems, fmt.Sprintf("%s %q: no result (python %v, go %v)", caseID(i), c.Name, okPy, okGo))
			continue
		}
		diffs := compare(py, gr)
		switch {
		case len(diffs) == 0 && c.Deviation == "":
			identical++
		case len(diffs) == 0:
			problems = append(problems, fmt.Sprintf("%s %q: listed as a deviation (%s) but both sides now agree: remove the deviation", caseID(i), c.Name, c.Deviation))
		case c.Deviation != "":
			accepted++
			t.Logf("%s %q: accepted deviation (%s):\n  %s", caseID(i), c.Name, c.Deviation, strings.Join(diffs, "\n  "))
		default:
			problems = append(problems, fmt.Sprintf("%s %q (%s %s):\n  %s", caseID(i), c.Name, c.Module, c.Args, strings.Join(diffs, "\n  ")))
		}
	}
	summary := fmt.Sprintf("conformance: %d cases, %d identical", len(cases), identical)
	if accepted > 0 {
		summary += fmt.Sprintf(", %d accepted deviations", accepted)
	}
	if len(problems) > 0 {
		summary += fmt.Sprintf(", %d different", len(problems))
	}
	summary += fmt.Sprintf(" (ansible-core %s, %.1fs)", version, time.Since(start).Seconds())
	fmt.Println(summary)
	if len(problems) > 0 {
		t.Errorf("%d of %d cases differ between ansible-core and internal/ansible:\n%s", len(problems), len(cases), strings.Join(problems, "\n"))
	}
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// goName is the Go module's file name: with the per-architecture suffix that the
// collection's action plugins use, which the module must strip from its messages.
func goName(module string) string { return module + "_linux_amd64" }

func caseID(i int) string { return fmt.Sprintf("c%03d", i+1) }

func taskName(i int, side string) string { return caseID(i) + " " + side }

// hosts is how many local hosts share the cases: each runs its own task file, in parallel
// under the free strategy.
const hosts = 3

func hostName(i int) string { return fmt.Sprintf("h%d", i%hosts) }

// writePlaybook writes play.yml, an inventory of local hosts and one task file per host
// with two tasks per case: the Python module's and the Go module's.
func writePlaybook(t *testing.T, dir string, cs []Case) {
	var inv strings.Builder
	inv.WriteString("[conformance]\n")
	files := make([]strings.Builder, hosts)
	for h := range files {
		fmt.Fprintf(&inv, "%s ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n", hostName(h))
		files[h].WriteString("# Generated by tests/conformance.\n")
	}
	for i, c := range cs {
		b := &files[i%hosts]
		for _, side := range []string{"py", "go"} {
			name := c.Module
			if side == "go" {
				name = goName(c.Module)
			}
			fmt.Fprintf(b, "- name: %s\n  %s: %s\n  ignore_errors: true\n", taskName(i, side), name, c.Args)
			if c.Check {
				b.WriteString("  check_mode: true\n")
			}
			if c.Diff {
				b.WriteString("  diff: true\n")
			}
			if len(c.Env) > 0 {
				b.WriteString("  environment:\n")
				for _, k := range sortedKeys(c.Env) {
					fmt.Fprintf(b, "    %s: %s\n", k, strconv.Quote(c.Env[k]))
				}
			}
		}
	}
	for h := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "cases-"+hostName(h)+".yml"), []byte(files[h].String()), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "inventory"), []byte(inv.String()), 0o644))
	play := `# Generated by tests/conformance.
- hosts: conformance
  gather_facts: false
  strategy: free
  vars: {n: 3, word: 'yes', numbers: [1, 2], mapping: {a: 1, b: two}, nothing: null}
  tasks:
    - name: cases
      include_tasks: "cases-{{ inventory_hostname }}.yml"
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "play.yml"), []byte(play), 0o644))
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type taskResult struct {
	Status string         `json:"status"`
	Result map[string]any `json:"result"`
}

func readResults(t *testing.T, path string) map[string]taskResult {
	f, err := os.Open(path)
	require.NoError(t, err, "the callback wrote no results")
	defer f.Close()
	out := map[string]taskResult{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var line struct {
			Task string `json:"task"`
			taskResult
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber() // 1 and 1.0 stay different, as they are in Python
		require.NoError(t, dec.Decode(&line), "result line %s", sc.Text())
		out[line.Task] = line.taskResult
	}
	require.NoError(t, sc.Err())
	return out
}

// compare lists the differences between the Python and the Go result of one case, over
// what a playbook can observe of argument handling.
func compare(py, gr taskResult) []string {
	var diffs []string
	add := func(what string, p, g any) {
		ps, gs := canonical(p), canonical(g)
		if ps != gs {
			diffs = append(diffs, fmt.Sprintf("%s: ansible-core %s, internal/ansible %s", what, ps, gs))
		}
	}
	add("status", py.Status, gr.Status)
	for _, key := range []string{"failed", "changed", "skipped"} {
		add(key, py.Result[key] == true, gr.Result[key] == true)
	}
	add("msg", normalizeMsg(py.Result["msg"]), normalizeMsg(gr.Result["msg"]))
	add("warnings", py.Result["warnings"], gr.Result["warnings"])
	add("deprecations", py.Result["deprecations"], gr.Result["deprecations"])
	add("invocation", py.Result["invocation"], gr.Result["invocation"])
	add("diff", py.Result["diff"], gr.Result["diff"])
	for _, key := range []string{"exception", "module_stderr"} {
		// 2.19's controller shows every failure's missing traceback as this placeholder.
		if v, ok := py.Result[key]; ok && v != "(traceback unavailable)" {
			diffs = append(diffs, fmt.Sprintf("ansible-core %s: %s", key, lastLine(fmt.Sprint(v))))
		}
	}
	return diffs
}

func canonical(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// validBooleans is the part of the bool error that prints a Python frozenset, whose order
// changes from run to run: it is compared as a set.
var validBooleans = regexp.MustCompile(`Valid booleans include: (.*)$`)

func normalizeMsg(v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	return validBooleans.ReplaceAllStringFunc(s, func(m string) string {
		items := strings.Split(strings.TrimPrefix(m, "Valid booleans include: "), ", ")
		sort.Strings(items)
		return "Valid booleans include: {" + strings.Join(items, ", ") + "}"
	})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func tail(b []byte, n int) string {
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var versionLine = regexp.MustCompile(`core ([0-9][0-9a-z.]*)`)

// ansibleVersion asks the ansible-playbook command under test for its version.
func ansibleVersion(playbookCmd []string) string {
	out, err := exec.Command(playbookCmd[0], append(playbookCmd[1:], "--version")...).Output()
	if m := versionLine.FindSubmatch(out); err == nil && m != nil {
		return string(m[1])
	}
	return "unknown"
}

// pythonModule renders m as a Python module with the same argument spec: the reference
// implementation the Go module is compared with.
func pythonModule(m ansible.Module) string {
	var b strings.Builder
	b.WriteString("#!/usr/bin/python3\n# Generated by tests/conformance from the Go spec of " + m.Name + ".\n")
	b.WriteString("from ansible.module_utils.basic import AnsibleModule, env_fallback\n\n\n")
	b.WriteString("def main():\n    module = AnsibleModule(\n")
	b.WriteString("        argument_spec=" + pyOptions(m.Spec.Options) + ",\n")
	for _, r := range pyRules(m.Spec.Rules) {
		b.WriteString("        " + r[0] + "=" + r[1] + ",\n")
	}
	fmt.Fprintf(&b, "        supports_check_mode=%s,\n    )\n", pyLit(m.CheckMode == ansible.Full || m.CheckMode == ansible.Partial))
	run, ok := PythonRun[m.Name]
	if !ok {
		run = "module.exit_json(changed=False)"
	}
	b.WriteString("    " + run + "\n\n\nif __name__ == '__main__':\n    main()\n")
	return b.String()
}

func pyOptions(opts []ansible.Option) string {
	var parts []string
	for _, o := range opts {
		var kv []string
		if o.Type != "" {
			kv = append(kv, "'type': "+pyLit(string(o.Type)))
		}
		if o.Elements != "" {
			kv = append(kv, "'elements': "+pyLit(string(o.Elements)))
		}
		if o.Required {
			kv = append(kv, "'required': True")
		}
		if o.Default != nil {
			kv = append(kv, "'default': "+pyLit(o.Default))
		}
		if o.Choices != nil {
			kv = append(kv, "'choices': "+pyLit(o.Choices))
		}
		if len(o.Aliases) > 0 {
			kv = append(kv, "'aliases': "+pyLit(o.Aliases))
		}
		if o.NoLog {
			kv = append(kv, "'no_log': True")
		} else if o.NotSecret {
			kv = append(kv, "'no_log': False")
		}
		if len(o.EnvFallback) > 0 {
			kv = append(kv, "'fallback': (env_fallback, "+pyLit(o.EnvFallback)+")")
		}
		if len(o.Options) > 0 {
			kv = append(kv, "'options': "+pyOptions(o.Options))
		}
		if o.ApplyDefaults {
			kv = append(kv, "'apply_defaults': True")
		}
		for _, r := range pyRules(o.Rules) {
			kv = append(kv, pyLit(r[0])+": "+r[1])
		}
		parts = append(parts, pyLit(o.Name)+": {"+strings.Join(kv, ", ")+"}")
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// pyRules renders the rules as (name, Python value) pairs.
func pyRules(r ansible.Rules) [][2]string {
	var out [][2]string
	if r.MutuallyExclusive != nil {
		out = append(out, [2]string{"mutually_exclusive", pyLit(r.MutuallyExclusive)})
	}
	if r.RequiredTogether != nil {
		out = append(out, [2]string{"required_together", pyLit(r.RequiredTogether)})
	}
	if r.RequiredOneOf != nil {
		out = append(out, [2]string{"required_one_of", pyLit(r.RequiredOneOf)})
	}
	if r.RequiredIf != nil {
		var reqs []string
		for _, ri := range r.RequiredIf {
			s := "[" + pyLit(ri.Key) + ", " + pyLit(ri.Value) + ", " + pyLit(ri.Requirements)
			if ri.Any {
				s += ", True"
			}
			reqs = append(reqs, s+"]")
		}
		out = append(out, [2]string{"required_if", "[" + strings.Join(reqs, ", ") + "]"})
	}
	if r.RequiredBy != nil {
		var kv []string
		for _, k := range sortedKeys2(r.RequiredBy) {
			kv = append(kv, pyLit(k)+": "+pyLit(r.RequiredBy[k]))
		}
		out = append(out, [2]string{"required_by", "{" + strings.Join(kv, ", ") + "}"})
	}
	return out
}

func sortedKeys2(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pyLit renders a Go spec value as a Python literal.
func pyLit(v any) string {
	switch t := v.(type) {
	case nil:
		return "None"
	case bool:
		if t {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64)
	case string:
		return strconv.Quote(t)
	case []string:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = pyLit(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case [][]string:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = pyLit(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = pyLit(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyLit(k) + ": " + pyLit(t[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	panic(fmt.Sprintf("pyLit: unsupported %T", v))
}
