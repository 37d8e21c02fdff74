// Package conformance holds the argument specs that tests/conformance runs through real
// ansible-core (as Python AnsibleModule modules generated from them) and through
// internal/ansible (as the Go module in ./module), to prove both accept the same values and
// report the same errors.
package conformance

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/business-operations/bo.microvm/internal/ansible"
)

// Modules are the test modules. Each case of the conformance table names one of them.
var Modules = []ansible.Module{
	{
		// One option per type, choices, aliases, defaults and no_log; no rules between
		// options, so that every case can give any subset.
		Name: "conf_types",
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "s"},
			{Name: "i", Type: ansible.Int},
			{Name: "f", Type: ansible.Float},
			{Name: "b", Type: ansible.Bool},
			{Name: "l", Type: ansible.List},
			{Name: "li", Type: ansible.List, Elements: ansible.Int},
			{Name: "ls", Type: ansible.List, Elements: ansible.Str},
			{Name: "d", Type: ansible.Dict},
			{Name: "p", Type: ansible.Path},
			{Name: "r", Type: ansible.Raw},
			{Name: "j", Type: ansible.JSONArg},
			{Name: "by", Type: ansible.Bytes},
			{Name: "bi", Type: ansible.Bits},
			{Name: "state", Choices: []any{"present", "absent", "no"}},
			{Name: "level", Type: ansible.Int, Choices: []any{int64(1), int64(2), int64(3)}},
			{Name: "features", Type: ansible.List, Elements: ansible.Str, Choices: []any{"a", "b", "c"}},
			{Name: "name", Aliases: []string{"n", "vm"}},
			{Name: "mode", Default: "auto"},
			{Name: "count", Type: ansible.Int, Default: int64(2)},
			{Name: "token", NoLog: true},
			{Name: "api_password"},
			{Name: "db_password", NotSecret: true}, // no_log: False
			{Name: "from_env", EnvFallback: []string{"CONF_FROM_ENV"}},
			{Name: "secret_env", NoLog: true, EnvFallback: []string{"CONF_SECRET_ENV"}},
		}},
	},
	{
		// The rules between options.
		Name: "conf_rules",
		Spec: ansible.Spec{
			Options: []ansible.Option{
				{Name: "name", Required: true},
				{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}, {Name: "e"}, {Name: "f"},
				{Name: "state", Choices: []any{"present", "absent"}, Default: "present"},
				{Name: "path"},
				{Name: "src"}, {Name: "content"},
				{Name: "size", Type: ansible.Int},
				{Name: "fs"}, {Name: "label"},
			},
			Rules: ansible.Rules{
				MutuallyExclusive: [][]string{{"a", "b"}, {"src", "content"}},
				RequiredTogether:  [][]string{{"c", "d"}},
				RequiredOneOf:     [][]string{{"e", "f"}},
				RequiredIf: []ansible.RequiredIf{
					{Key: "state", Value: "absent", Requirements: []string{"path"}},
					{Key: "size", Value: int64(0), Requirements: []string{"src", "content"}, Any: true},
				},
				RequiredBy: map[string][]string{"fs": {"label", "size"}},
			},
		},
	},
	{
		// Sub-options: a dict, a list of dicts, nesting and apply_defaults.
		Name: "conf_nested",
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "vm", Type: ansible.Dict, Options: []ansible.Option{
				{Name: "name", Required: true, Aliases: []string{"vm_name"}},
				{Name: "mem", Type: ansible.Int, Default: int64(256)},
				{Name: "role", Choices: []any{"controller", "worker"}},
				{Name: "key", NoLog: true},
				{Name: "net", Type: ansible.Dict, Options: []ansible.Option{
					{Name: "mac", Required: true},
					{Name: "bridge", Default: "br0"},
				}},
			}, Rules: ansible.Rules{MutuallyExclusive: [][]string{{"role", "key"}}}},
			{Name: "volumes", Type: ansible.List, Elements: ansible.Dict, Options: []ansible.Option{
				{Name: "path", Type: ansible.Path, Required: true},
				{Name: "size", Type: ansible.Int},
				{Name: "fs_type", Choices: []any{"ext4", "xfs", "none"}, Default: "ext4"},
			}, Rules: ansible.Rules{RequiredIf: []ansible.RequiredIf{{Key: "fs_type", Value: "xfs", Requirements: []string{"size"}}}}},
			{Name: "opts", Type: ansible.Dict, ApplyDefaults: true, Options: []ansible.Option{
				{Name: "retries", Type: ansible.Int, Default: int64(3)},
				{Name: "verbose", Type: ansible.Bool, Default: false},
			}},
		}},
	},
	{
		// An option both required and with a default: ansible-core fails every task.
		Name: "conf_reqdefault",
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "a", Aliases: []string{"x"}},
			{Name: "name", Required: true, Default: "ray"},
			{Name: "b", Aliases: []string{"y"}},
		}},
	},
	{
		// The same in sub-options: only when the dict (or list of dicts) is there.
		Name: "conf_reqdefault_sub",
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "vm", Type: ansible.Dict, Options: []ansible.Option{
				{Name: "name", Required: true, Default: "ray"},
				{Name: "size", Type: ansible.Int},
			}},
			{Name: "vols", Type: ansible.List, Elements: ansible.Dict, Options: []ansible.Option{
				{Name: "disk", Type: ansible.Dict, Options: []ansible.Option{{Name: "name", Required: true, Default: "ray"}}},
			}},
			{Name: "other"},
		}},
	},
	{
		// A module that supports check mode, beside conf_types which does not.
		Name:      "conf_check",
		CheckMode: ansible.Full,
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "name", Required: true},
		}},
	},
}

// Lookup returns the module called name, with a Run that reports success and changes nothing:
// the conformance test compares what validation made of the arguments. conf_check also
// warns, deprecates and returns a diff, as its Python twin does (see PythonRun).
func Lookup(name string) (ansible.Module, bool) {
	for _, m := range Modules {
		if m.Name != name {
			continue
		}
		m.Run = func(_ context.Context, inv *ansible.Invocation) (*ansible.Result, error) {
			if name != "conf_check" {
				return &ansible.Result{}, nil
			}
			inv.Warn("checked %s", inv.Params.Str("name"))
			inv.Deprecate("conf_check is old", "2.0.0")
			return &ansible.Result{Changed: true, Diff: []ansible.Diff{{Before: "a\n", After: inv.Params.Str("name") + "\n"}}}, nil
		}
		return m, true
	}
	return ansible.Module{}, false
}

// PythonRun is the body of each Python twin after argument validation: the same as Lookup's Run.
var PythonRun = map[string]string{
	"conf_check": `module.warn("checked %s" % module.params["name"])
    module.deprecate("conf_check is old", version="2.0.0", collection_name="bo.microvm")
    result = dict(changed=True)
    if module._diff:
        result["diff"] = dict(before="a\n", after=module.params["name"] + "\n")
    module.exit_json(**result)`,
}

var archSuffix = regexp.MustCompile(`_linux_[a-z0-9]+$`)

// NameFromArgv0 is the module name of a binary copied by ansible-core to
// <tmpdir>/AnsiballZ_NAME, without the per-architecture suffix.
func NameFromArgv0(argv0 string) string {
	return archSuffix.ReplaceAllString(strings.TrimPrefix(filepath.Base(argv0), "AnsiballZ_"), "")
}
