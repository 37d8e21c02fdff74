package ansible

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/ansible/pyvalue"
)

// noLogCases are the cases of testdata/nolog.py, by name, as Go specs: the three states of
// no_log (unset, NoLog for True, NotSecret for False). ansible-core's own vectors are
// test_no_log_true/false/none/alias of test/units/module_utils/basic/test_argument_spec.py
// (stable-2.14 71a2eba2e6a8).
var noLogCases = map[string]struct {
	spec Spec
	args map[string]any
}{
	"no_log False: no warning, value shown":  {Spec{Options: []Option{{Name: "arg_pass", NotSecret: true}}}, map[string]any{"arg_pass": "testing"}},
	"no_log unset: warning":                  {Spec{Options: []Option{{Name: "arg_pass"}}}, map[string]any{"arg_pass": "testing"}},
	"no_log unset and absent: warning still": {Spec{Options: []Option{{Name: "arg_pass"}}}, map[string]any{}},
	"no_log True: no warning, value masked":  {Spec{Options: []Option{{Name: "arg_pass", NoLog: true}}}, map[string]any{"arg_pass": "testing"}},
	"alias of a no_log False option": {Spec{Options: []Option{{Name: "other_pass", NotSecret: true, Aliases: []string{"pass"}}}},
		map[string]any{"pass": "testing"}},
	"alias of a no_log unset option": {Spec{Options: []Option{{Name: "other_pass", Aliases: []string{"pass"}}}},
		map[string]any{"pass": "testing"}},
	"a name that is no password":      {Spec{Options: []Option{{Name: "passage"}, {Name: "bypass_cache"}}}, map[string]any{"passage": "x", "bypass_cache": "y"}},
	"task no_log: no warnings at all": {Spec{Options: []Option{{Name: "arg_pass"}}}, map[string]any{"arg_pass": "testing", "_ansible_no_log": true}},
}

// TestPasswordWarningsFollowTheThreeStatesOfNoLog replays testdata/nolog-*.jsonl: the
// results AnsibleModule of ansible-core 2.14.18 (Debian 12) and 2.19.11 (the Debian 13 root
// of tests/lab/controller) printed for each case of testdata/nolog.py. An explicit no_log
// False must not produce "Module did not set no_log for NAME"; an unset no_log on a
// password-like name must.
func TestPasswordWarningsFollowTheThreeStatesOfNoLog(t *testing.T) {
	for _, f := range []struct {
		file, version string
	}{{"nolog-2.14.jsonl", "2.14.18"}, {"nolog-2.19.jsonl", "2.19.11"}} {
		t.Run(f.version, func(t *testing.T) {
			file, err := os.Open(filepath.Join("testdata", f.file))
			require.NoError(t, err)
			defer file.Close()
			sc := bufio.NewScanner(file)
			n := 0
			for sc.Scan() {
				raw, err := pyvalue.DecodeJSON(sc.Bytes())
				require.NoError(t, err)
				line := raw.(map[string]any)
				require.Equal(t, f.version, line["version"])
				name := line["case"].(string)
				c, found := noLogCases[name]
				require.True(t, found, "no Go spec for the case %q", name)
				n++
				t.Run(name, func(t *testing.T) {
					want := line["result"].(map[string]any)
					args := map[string]any{"_ansible_version": f.version}
					for k, v := range c.args {
						args[k] = v
					}
					got := execute(t, echo(c.spec, ok), writeArgs(t, args))
					assert.Equal(t, false, got["failed"])
					assert.Equal(t, want["invocation"], got["invocation"], "module_args, masked or not")
					// Python lists the warnings in the order of its params dict (the task's
					// keys, then aliased options); Go's map has none, so only the set counts.
					assert.ElementsMatch(t, warningTexts(want["warnings"]), warningTexts(got["warnings"]), "warnings")
				})
			}
			require.NoError(t, sc.Err())
			require.Equal(t, len(noLogCases), n, "every Go case has a capture")
		})
	}
}

// TestNoLogFalseGivesNoPasswordWarning carries ansible-core's texts (2.14 and 2.19 alike).
func TestNoLogFalseGivesNoPasswordWarning(t *testing.T) {
	for _, version := range []string{"2.14.18", "2.19.11"} {
		args := writeArgs(t, map[string]any{"db_password": "x", "_ansible_version": version})
		unset := execute(t, echo(Spec{Options: []Option{{Name: "db_password"}}}, ok), args)
		assert.Equal(t, []any{"Module did not set no_log for db_password"}, unset["warnings"], version)
		explicit := execute(t, echo(Spec{Options: []Option{{Name: "db_password", NotSecret: true}}}, ok), args)
		assert.NotContains(t, explicit, "warnings", version)
	}
}

// warningTexts are the messages of a result's warnings: strings, or 2.19's WarningSummary
// objects ({"event": {"msg": ...}}) as a 2.19 module encodes them for the controller.
func warningTexts(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, w := range list {
		switch t := w.(type) {
		case string:
			out = append(out, t)
		case map[string]any:
			ev, _ := t["event"].(map[string]any)
			msg, _ := ev["msg"].(string)
			out = append(out, msg)
		}
	}
	return out
}

// TestRequiredAndDefaultFailsTheTask: AnsibleModule fails the task with the first
// validation error, here _handle_aliases's (argspec's TestRequiredAndDefault* replay the
// captures), at the top level and in sub-options alike, in check mode too.
func TestRequiredAndDefaultFailsTheTask(t *testing.T) {
	specs := map[string]Spec{
		"top level":  {Options: []Option{{Name: "name", Required: true, Default: "ray"}}},
		"sub-option": {Options: []Option{{Name: "vm", Type: Dict, Options: []Option{{Name: "name", Required: true, Default: "ray"}}}}},
	}
	args := map[string]map[string]any{"top level": {}, "sub-option": {"vm": map[string]any{}}}
	for name, spec := range specs {
		for _, version := range []string{"2.14.18", "2.19.11"} {
			a := map[string]any{"_ansible_version": version, "_ansible_check_mode": true}
			for k, v := range args[name] {
				a[k] = v
			}
			ran := false
			res := execute(t, echo(spec, func(context.Context, *Invocation) (*Result, error) { ran = true; return &Result{}, nil }), writeArgs(t, a))
			assert.Equal(t, true, res["failed"], "%s %s", name, version)
			assert.Equal(t, "internal error: required and default are mutually exclusive for name", res["msg"], "%s %s", name, version)
			assert.False(t, ran, "the module must not run")
		}
	}
}
