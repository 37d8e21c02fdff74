package ansible

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeArgs writes an args file as ansible-core does (json.dumps of the task arguments
// and the _ansible_ keys) and returns its path.
func writeArgs(t *testing.T, args map[string]any) string {
	t.Helper()
	data, err := json.Marshal(args)
	require.NoError(t, err)
	return writeRaw(t, data)
}

func writeRaw(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "args")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

// execute runs m and checks the protocol's promise: one line holding one JSON object with a
// bool "failed" that agrees with Execute's own answer. It returns that object.
func execute(t *testing.T, m Module, argsFile string) map[string]any {
	t.Helper()
	out, failed := Execute(context.Background(), m, argsFile)
	return checkOutput(t, out, failed)
}

func checkOutput(t *testing.T, out []byte, failed bool) map[string]any {
	t.Helper()
	require.NotContains(t, string(out), "\n", "the result must be one line")
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var res map[string]any
	require.NoError(t, dec.Decode(&res), "the result must be one JSON object: %s", out)
	require.False(t, dec.More(), "nothing may follow the object: %s", out)
	f, ok := res["failed"].(bool)
	require.True(t, ok, "failed must be a bool: %s", out)
	require.Equal(t, failed, f)
	return res
}

// echo is a module whose Run returns what its test wants and records its Invocation.
func echo(spec Spec, run func(ctx context.Context, inv *Invocation) (*Result, error)) Module {
	return Module{Name: "echo", Spec: spec, CheckMode: Full, Run: run}
}

func ok(context.Context, *Invocation) (*Result, error) { return &Result{}, nil }

var nameSpec = Spec{Options: []Option{{Name: "name", Required: true}, {Name: "token", NoLog: true}, {Name: "count", Type: Int}}}

func TestExecuteAnswersABrokenArgsFileWithOneFailedObject(t *testing.T) {
	cases := []struct {
		name string
		file func(t *testing.T) string
		msg  string
	}{
		{"no args file argument", func(*testing.T) string { return "" }, "No argument file given"},
		{"an args file that does not exist", func(t *testing.T) string { return filepath.Join(t.TempDir(), "missing") }, "Cannot read the arguments file"},
		{"an empty args file", func(t *testing.T) string { return writeRaw(t, nil) }, "is not valid JSON"},
		{"garbage bytes", func(t *testing.T) string { return writeRaw(t, []byte("\x00\xff{garbage")) }, "is not valid JSON"},
		{"truncated JSON", func(t *testing.T) string { return writeRaw(t, []byte(`{"name": "x"`)) }, "is not valid JSON"},
		{"two JSON objects", func(t *testing.T) string { return writeRaw(t, []byte(`{"name": "x"} {}`)) }, "is not valid JSON"},
		{"a JSON array", func(t *testing.T) string { return writeRaw(t, []byte(`["name"]`)) }, "must hold a JSON object, not <class 'list'>"},
		{"a JSON string", func(t *testing.T) string { return writeRaw(t, []byte(`"name=x"`)) }, "must hold a JSON object, not <class 'str'>"},
		{"JSON null", func(t *testing.T) string { return writeRaw(t, []byte(`null`)) }, "must hold a JSON object, not <class 'NoneType'>"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ran := false
			res := execute(t, echo(nameSpec, func(context.Context, *Invocation) (*Result, error) { ran = true; return &Result{}, nil }), c.file(t))
			assert.Equal(t, true, res["failed"])
			assert.Contains(t, res["msg"], c.msg)
			assert.False(t, ran, "Run must not run without valid arguments")
		})
	}
}

func TestExecuteHandlesTheAnsibleKeys(t *testing.T) {
	cases := []struct {
		name  string
		args  map[string]any
		check func(t *testing.T, res map[string]any, inv *Invocation)
	}{
		{
			name: "unknown _ansible_ keys are dropped, not reported as unsupported",
			args: map[string]any{"name": "x", "_ansible_future_thing": true, "_ansible_target_log_info": nil, "_ansible_tracebacks_for": []any{"error"}},
			check: func(t *testing.T, res map[string]any, inv *Invocation) {
				assert.Equal(t, false, res["failed"])
				assert.NotContains(t, res["invocation"].(map[string]any)["module_args"], "_ansible_future_thing")
			},
		},
		{
			name: "the module name in messages drops the per-architecture suffix",
			args: map[string]any{"name": "x", "bogus": 1, "_ansible_module_name": "bo.microvm.echo_linux_amd64"},
			check: func(t *testing.T, res map[string]any, inv *Invocation) {
				assert.Equal(t, "Unsupported parameters for (bo.microvm.echo) module: bogus. Supported parameters include: count, name, token.", res["msg"])
			},
		},
		{
			name: "a short module name is used as given, arm64 suffix dropped",
			args: map[string]any{"bogus": 1, "name": "x", "_ansible_module_name": "echo_linux_arm64"},
			check: func(t *testing.T, res map[string]any, inv *Invocation) {
				assert.Equal(t, "Unsupported parameters for (echo) module: bogus. Supported parameters include: count, name, token.", res["msg"])
			},
		},
		{
			name: "without _ansible_module_name the collection's name is used",
			args: map[string]any{"name": "x", "bogus": 1},
			check: func(t *testing.T, res map[string]any, inv *Invocation) {
				assert.Equal(t, "Unsupported parameters for (bo.microvm.echo) module: bogus. Supported parameters include: count, name, token.", res["msg"])
			},
		},
		{
			name: "_ansible_ignore_unknown_opts lets unknown options pass",
			args: map[string]any{"name": "x", "bogus": 1, "_ansible_ignore_unknown_opts": true},
			check: func(t *testing.T, res map[string]any, inv *Invocation) {
				assert.Equal(t, false, res["failed"])
				require.NotNil(t, inv, "Run must have run")
				assert.Equal(t, "x", inv.Params.Str("name"))
			},
		},
		{
			name: "_ansible_ignore_unknown_opts does not hide other errors",
			args: map[string]any{"bogus": 1, "_ansible_ignore_unknown_opts": true},
			check: func(t *testing.T, res map[string]any, inv *Invocation) {
				assert.Equal(t, "missing required arguments: name", res["msg"])
			},
		},
		{
			name: "the modes, verbosity, version and temp dirs reach Run; bools may be strings",
			args: map[string]any{"name": "x", "_ansible_check_mode": "yes", "_ansible_diff": true, "_ansible_no_log": "1", "_ansible_verbosity": 2,
				"_ansible_version": "2.14.18", "_ansible_tmpdir": "/tmp/t/", "_ansible_remote_tmp": "~/.ansible/tmp", "_ansible_keep_remote_files": false},
			check: func(t *testing.T, res map[string]any, inv *Invocation) {
				require.NotNil(t, inv)
				assert.True(t, inv.CheckMode)
				assert.True(t, inv.Diff)
				assert.True(t, inv.NoLog)
				assert.Equal(t, 2, inv.Verbosity)
				assert.Equal(t, "2.14.18", inv.AnsibleVersion)
				assert.Equal(t, "/tmp/t/", inv.TmpDir)
				assert.Equal(t, "~/.ansible/tmp", inv.RemoteTmp)
				assert.False(t, inv.KeepRemoteFiles)
			},
		},
		{
			name: "invocation is left out when _ansible_inject_invocation is false (2.21+)",
			args: map[string]any{"name": "x", "_ansible_inject_invocation": false},
			check: func(t *testing.T, res map[string]any, inv *Invocation) {
				assert.NotContains(t, res, "invocation")
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got *Invocation
			m := echo(nameSpec, func(_ context.Context, inv *Invocation) (*Result, error) { got = inv; return &Result{}, nil })
			c.check(t, execute(t, m, writeArgs(t, c.args)), got)
		})
	}
}

func TestExecuteInCheckMode(t *testing.T) {
	cases := []struct {
		name    string
		support Support
		args    map[string]any
		ran     bool
		want    map[string]any
	}{
		{"a module without check mode support is skipped as ansible-core skips it", None, map[string]any{"name": "x", "_ansible_check_mode": true, "_ansible_module_name": "bo.microvm.echo_linux_amd64"}, false,
			map[string]any{"failed": false, "changed": false, "skipped": true, "msg": "remote module (bo.microvm.echo) does not support check mode"}},
		{"an empty support level means none", "", map[string]any{"name": "x", "_ansible_check_mode": true}, false,
			map[string]any{"skipped": true, "msg": "remote module (bo.microvm.echo) does not support check mode"}},
		{"validation errors fail even in check mode", None, map[string]any{"_ansible_check_mode": true}, false,
			map[string]any{"failed": true, "msg": "missing required arguments: name"}},
		{"a module with check mode support runs in check mode", Full, map[string]any{"name": "x", "_ansible_check_mode": true}, true,
			map[string]any{"failed": false, "changed": true}},
		{"partial support runs too", Partial, map[string]any{"name": "x", "_ansible_check_mode": true}, true,
			map[string]any{"failed": false}},
		{"without check mode a module without support runs", None, map[string]any{"name": "x"}, true,
			map[string]any{"failed": false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var sawCheck *bool
			m := Module{Name: "echo", Spec: nameSpec, CheckMode: c.support, Run: func(_ context.Context, inv *Invocation) (*Result, error) {
				sawCheck = &inv.CheckMode
				return &Result{Changed: inv.CheckMode}, nil
			}}
			res := execute(t, m, writeArgs(t, c.args))
			assert.Equal(t, c.ran, sawCheck != nil, "whether Run ran")
			if sawCheck != nil {
				assert.Equal(t, c.args["_ansible_check_mode"] == true, *sawCheck)
			}
			for k, v := range c.want {
				assert.Equal(t, v, res[k], k)
			}
		})
	}
}

func TestExecuteReportsDiffOnlyInDiffMode(t *testing.T) {
	m := echo(nameSpec, func(context.Context, *Invocation) (*Result, error) {
		return &Result{Changed: true, Diff: []Diff{{Before: "a\n", After: "b\n", BeforeHeader: "/x"}}}, nil
	})
	cases := []struct {
		name string
		diff any
		want any
	}{
		{"no diff without _ansible_diff", nil, nil},
		{"no diff with _ansible_diff false", false, nil},
		{"the diff with _ansible_diff", true, map[string]any{"before": "a\n", "after": "b\n", "before_header": "/x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := map[string]any{"name": "x"}
			if c.diff != nil {
				args["_ansible_diff"] = c.diff
			}
			res := execute(t, m, writeArgs(t, args))
			assert.Equal(t, c.want, res["diff"])
		})
	}
	t.Run("several diffs are a list", func(t *testing.T) {
		m := echo(nameSpec, func(context.Context, *Invocation) (*Result, error) {
			return &Result{Diff: []Diff{{Before: "a", After: "b"}, {Prepared: "p"}}}, nil
		})
		res := execute(t, m, writeArgs(t, map[string]any{"name": "x", "_ansible_diff": true}))
		assert.Equal(t, []any{map[string]any{"before": "a", "after": "b"}, map[string]any{"prepared": "p"}}, res["diff"])
	})
}

func TestExecuteMasksNoLogValuesEverywhere(t *testing.T) {
	spec := Spec{Options: []Option{
		{Name: "name"},
		{Name: "token", NoLog: true},
		{Name: "creds", Type: Dict, Options: []Option{{Name: "user"}, {Name: "pin", Type: Int, NoLog: true}}},
	}}
	m := echo(spec, func(_ context.Context, inv *Invocation) (*Result, error) {
		inv.Warn("used %s", inv.Params.Str("token"))
		return &Result{Changed: true, Msg: "token is " + inv.Params.Str("token"), Values: map[string]any{
			"exact":  inv.Params.Str("token"),
			"nested": map[string]any{"list": []any{"a-" + inv.Params.Str("token") + "-b", 4711, 4711.5, true}},
			"pin":    inv.Params.Dict("creds").Int("pin"),
			"keys":   map[string]any{inv.Params.Str("token"): "a key is kept"},
		}}, nil
	})
	res := execute(t, m, writeArgs(t, map[string]any{"name": "n", "token": "s3cr3t", "creds": map[string]any{"user": "u", "pin": "4711"}}))
	assert.Equal(t, map[string]any{"module_args": map[string]any{
		"name": "n", "token": Masked, "creds": map[string]any{"user": "u", "pin": Masked},
	}}, res["invocation"], "no_log values are masked in invocation, nested ones too")
	assert.Equal(t, Masked, res["exact"], "a value equal to a secret is masked")
	assert.Equal(t, "token is "+Hidden, res["msg"], "a secret inside a string is hidden")
	assert.Equal(t, map[string]any{"list": []any{"a-" + Hidden + "-b", Masked, Masked, true}}, res["nested"], "numbers whose text contains a secret are masked, bools are kept")
	assert.Equal(t, Masked, res["pin"])
	assert.Equal(t, map[string]any{"s3cr3t": "a key is kept"}, res["keys"], "keys are not masked, as in remove_values")
	assert.Equal(t, []any{"used " + Hidden}, res["warnings"])
	assert.Equal(t, true, res["changed"])
	assert.Equal(t, false, res["failed"])

	t.Run("top-level bools survive a secret that looks like one", func(t *testing.T) {
		res := execute(t, echo(spec, func(context.Context, *Invocation) (*Result, error) {
			return &Result{Changed: true, Values: map[string]any{"deep": map[string]any{"flag": true}}}, nil
		}), writeArgs(t, map[string]any{"token": "True"}))
		assert.Equal(t, true, res["changed"])
		assert.Equal(t, false, res["failed"])
		assert.Equal(t, map[string]any{"flag": Masked}, res["deep"], "below the top level a bool is masked as in remove_values")
	})
	t.Run("a failure message is masked too", func(t *testing.T) {
		res := execute(t, echo(spec, func(_ context.Context, inv *Invocation) (*Result, error) {
			return nil, fmt.Errorf("login with %s refused", inv.Params.Str("token"))
		}), writeArgs(t, map[string]any{"token": "s3cr3t"}))
		assert.Equal(t, "login with "+Hidden+" refused", res["msg"])
	})
	t.Run("a validation error is masked too", func(t *testing.T) {
		res := execute(t, echo(spec, ok), writeArgs(t, map[string]any{"token": "s3cr3t", "creds": map[string]any{"pin": "s3cr3t"}}))
		assert.Equal(t, "argument 'pin' is of type <class 'str'> found in 'creds'. and we were unable to convert to int: <class 'str'> cannot be converted to an int", res["msg"])
		assert.Equal(t, map[string]any{"pin": Masked, "user": nil}, res["invocation"].(map[string]any)["module_args"].(map[string]any)["creds"])
	})
}

func TestExecuteWarnings(t *testing.T) {
	spec := Spec{Options: []Option{{Name: "name", Aliases: []string{"n"}}, {Name: "db_password"}, {Name: "passphrase", NoLog: true}}}
	m := echo(spec, func(_ context.Context, inv *Invocation) (*Result, error) {
		inv.Warn("from Run")
		inv.Deprecate("old", "2.0.0")
		return &Result{}, nil
	})
	t.Run("alias, password and module warnings come in ansible-core's order", func(t *testing.T) {
		res := execute(t, m, writeArgs(t, map[string]any{"name": "a", "n": "b"}))
		assert.Equal(t, []any{"Both option name and its alias n are set.", "Module did not set no_log for db_password", "from Run"}, res["warnings"])
		assert.Equal(t, []any{map[string]any{"msg": "old", "version": "2.0.0", "collection_name": "bo.microvm"}}, res["deprecations"])
	})
	t.Run("no password warning when the task has no_log", func(t *testing.T) {
		res := execute(t, m, writeArgs(t, map[string]any{"_ansible_no_log": true}))
		assert.Equal(t, []any{"from Run"}, res["warnings"])
	})
}

type commandError struct{}

func (commandError) Error() string { return "mkfs.ext4 failed" }
func (commandError) CommandResult() (int, string, string) {
	return 1, "out\n", "mkfs.ext4: Device size reported to be zero\n"
}

func TestExecuteReportsRunFailures(t *testing.T) {
	cases := []struct {
		name    string
		timeout time.Duration
		args    map[string]any
		run     func(ctx context.Context, inv *Invocation) (*Result, error)
		want    map[string]any
		absent  []string
	}{
		{
			name: "an error fails the task with its text and keeps the values",
			run: func(context.Context, *Invocation) (*Result, error) {
				return &Result{Changed: true, Values: map[string]any{"done": []any{"a"}}}, errors.New("b failed")
			},
			want: map[string]any{"failed": true, "changed": true, "msg": "b failed", "done": []any{"a"}},
		},
		{
			name: "a command failure adds rc, stdout and stderr",
			run: func(context.Context, *Invocation) (*Result, error) {
				return nil, fmt.Errorf("create var.img: %w", commandError{})
			},
			want: map[string]any{"failed": true, "msg": "create var.img: mkfs.ext4 failed", "rc": json.Number("1"), "stdout": "out\n", "stderr": "mkfs.ext4: Device size reported to be zero\n"},
		},
		{
			name:   "a panic fails the task with a message and no traceback by default",
			run:    func(context.Context, *Invocation) (*Result, error) { panic("boom") },
			want:   map[string]any{"failed": true, "changed": false, "msg": "module bo.microvm.echo crashed: boom"},
			absent: []string{"exception"},
		},
		{
			name: "a panic at -vvv carries the traceback as exception",
			args: map[string]any{"_ansible_verbosity": 3},
			run:  func(context.Context, *Invocation) (*Result, error) { var m map[string]int; m["x"]++; return nil, nil },
			want: map[string]any{"failed": true, "msg": "module bo.microvm.echo crashed: assignment to entry in nil map"},
		},
		{
			name:    "a Run that stops at its deadline says it timed out",
			timeout: 20 * time.Millisecond,
			run: func(ctx context.Context, inv *Invocation) (*Result, error) {
				<-ctx.Done()
				return nil, fmt.Errorf("wait for unit: %w", ctx.Err())
			},
			want: map[string]any{"failed": true, "msg": "module bo.microvm.echo did not finish within 20ms: wait for unit: context deadline exceeded"},
		},
		{
			name:    "a Run that ignores its deadline is abandoned after the grace time",
			timeout: 20 * time.Millisecond,
			run: func(ctx context.Context, inv *Invocation) (*Result, error) {
				time.Sleep(2 * time.Second)
				return &Result{Changed: true}, nil
			},
			want: map[string]any{"failed": true, "changed": false, "msg": "module bo.microvm.echo did not finish within 20ms; what it had done so far is not known"},
		},
		{
			name:   "a nil result is an unchanged success",
			run:    func(context.Context, *Invocation) (*Result, error) { return nil, nil },
			want:   map[string]any{"failed": false, "changed": false},
			absent: []string{"msg"},
		},
		{
			name: "a skipped result is reported as skipped",
			run: func(context.Context, *Invocation) (*Result, error) {
				return &Result{Skipped: true, Msg: "nothing to do"}, nil
			},
			want: map[string]any{"failed": false, "skipped": true, "msg": "nothing to do"},
		},
		{
			name: "floats stay floats and non-finite ones are written as Python writes them",
			run: func(context.Context, *Invocation) (*Result, error) {
				return &Result{Values: map[string]any{"ratio": 2.0, "list": []float64{1}}}, nil
			},
			want: map[string]any{"ratio": json.Number("2.0"), "list": []any{json.Number("1")}},
		},
	}
	defer func(g time.Duration) { timeoutGrace = g }(timeoutGrace)
	timeoutGrace = 50 * time.Millisecond
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := echo(Spec{}, c.run)
			m.Timeout = c.timeout
			args := map[string]any{}
			for k, v := range c.args {
				args[k] = v
			}
			res := execute(t, m, writeArgs(t, args))
			for k, v := range c.want {
				assert.Equal(t, v, res[k], k)
			}
			for _, k := range c.absent {
				assert.NotContains(t, res, k)
			}
			if c.args["_ansible_verbosity"] == 3 {
				assert.Contains(t, res["exception"], "goroutine")
			}
		})
	}
}

func TestExecuteWritesInfinityAsPythonDoes(t *testing.T) {
	m := echo(Spec{Options: []Option{{Name: "f", Type: Float}}}, ok)
	out, failed := Execute(context.Background(), m, writeArgs(t, map[string]any{"f": "-inf"}))
	require.False(t, failed)
	assert.Contains(t, string(out), `"f":-Infinity`)
	assert.NotContains(t, string(out), "\n")
}

func TestExecuteReadsNaNAndInfinityAsPythonJSONDoes(t *testing.T) {
	spec := Spec{Options: []Option{{Name: "f", Type: Float}, {Name: "g", Type: Float}, {Name: "r", Type: Raw}, {Name: "s"}}}
	out, failed := Execute(context.Background(), echo(spec, ok), writeRaw(t, []byte(`{"f": NaN, "g": -Infinity, "r": [Infinity], "s": "NaN and Infinity stay words"}`)))
	require.False(t, failed, "%s", out)
	assert.Contains(t, string(out), `"f":NaN`)
	assert.Contains(t, string(out), `"g":-Infinity`)
	assert.Contains(t, string(out), `"r":[Infinity]`)
	assert.Contains(t, string(out), `"s":"NaN and Infinity stay words"`)
}
