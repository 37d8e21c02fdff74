package argspec

import (
	"testing"

	"github.com/business-operations/bo.microvm/internal/ansible/pyvalue"
	"github.com/stretchr/testify/assert"
)

// richSpec uses every rule; its Python twin gave the expectations of validateCases.
var richSpec = Spec{
	Options: []Option{
		{Name: "name", Required: true, Aliases: []string{"n", "vm_name"}},
		{Name: "state", Choices: []any{"present", "absent", "no"}, Default: "present"},
		{Name: "count", Type: Int},
		{Name: "force", Type: Bool, Default: false},
		{Name: "tags", Type: List, Elements: Str, Choices: []any{"a", "b"}},
		{Name: "ports", Type: List, Elements: Int},
		{Name: "token", NoLog: true},
		{Name: "src"}, {Name: "content"}, {Name: "user"}, {Name: "group"}, {Name: "fs"}, {Name: "label"},
		{Name: "path", Type: Path},
		{Name: "vm", Type: Dict, Options: []Option{
			{Name: "mem", Type: Int, Default: int64(256)},
			{Name: "role", Choices: []any{"controller", "worker"}, Required: true},
			{Name: "key", NoLog: true, Aliases: []string{"k"}},
			{Name: "disk", Type: Dict, Options: []Option{{Name: "size", Type: Int, Required: true}}},
		}, Rules: Rules{MutuallyExclusive: [][]string{{"key", "mem"}}}},
		{Name: "volumes", Type: List, Elements: Dict, Options: []Option{
			{Name: "path", Required: true},
			{Name: "size", Type: Int},
			{Name: "fs_type", Choices: []any{"ext4", "xfs"}, Default: "ext4"},
		}, Rules: Rules{RequiredIf: []RequiredIf{{Key: "fs_type", Value: "xfs", Requirements: []string{"size"}}}}},
		{Name: "opts", Type: Dict, ApplyDefaults: true, Options: []Option{{Name: "retries", Type: Int, Default: int64(3)}}},
	},
	Rules: Rules{
		MutuallyExclusive: [][]string{{"src", "content"}, {"user", "fs"}},
		RequiredTogether:  [][]string{{"user", "group"}},
		RequiredIf: []RequiredIf{
			{Key: "state", Value: "absent", Requirements: []string{"path"}},
			{Key: "count", Value: int64(0), Requirements: []string{"src", "content"}, Any: true},
		},
		RequiredBy: map[string][]string{"fs": {"label", "path"}},
	},
}

var oneSpec = Spec{
	Options: []Option{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}},
	Rules:   Rules{RequiredOneOf: [][]string{{"a", "b"}, {"c", "d"}}},
}

var boolchSpec = Spec{Options: []Option{
	{Name: "yn", Choices: []any{"yes", "no", "maybe"}},
	{Name: "tf", Choices: []any{"true", "false", int64(0)}},
	{Name: "tf2", Choices: []any{"on", "y"}},
}}

// validateCases hold what ansible-core 2.14's ModuleArgumentSpecValidator.validate gave for
// the same spec and parameters: every error in order, the validated parameters, the
// warnings and the no_log values.
var validateCases = []struct {
	name     string
	spec     Spec
	params   map[string]any
	errors   []string
	want     map[string]any
	warnings []string
	noLog    []string
}{
	{
		name:     "valid arguments get defaults and null for the rest",
		spec:     richSpec,
		params:   map[string]any{"name": "x"},
		errors:   nil,
		want:     map[string]any{"name": "x", "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "a missing required option is reported",
		spec:     richSpec,
		params:   map[string]any{},
		errors:   []string{"missing required arguments: name"},
		want:     map[string]any{"state": "present", "force": false, "name": nil, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "a required option given as null counts as present",
		spec:     richSpec,
		params:   map[string]any{"name": nil},
		errors:   nil,
		want:     map[string]any{"name": nil, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "an alias sets its option and both stay",
		spec:     richSpec,
		params:   map[string]any{"n": "x"},
		errors:   nil,
		want:     map[string]any{"n": "x", "name": "x", "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "the alias wins over its option with a warning",
		spec:     richSpec,
		params:   map[string]any{"name": "a", "n": "b"},
		errors:   nil,
		want:     map[string]any{"name": "b", "n": "b", "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: []string{"Both option name and its alias n are set."},
		noLog:    nil,
	},
	{
		name:     "two aliases of one option: the last alias in the spec wins",
		spec:     richSpec,
		params:   map[string]any{"n": "a", "vm_name": "b"},
		errors:   nil,
		want:     map[string]any{"n": "a", "vm_name": "b", "name": "b", "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: []string{"Both option name and its alias vm_name are set."},
		noLog:    nil,
	},
	{
		name:     "a choice outside the choices is reported",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "state": "gone"},
		errors:   []string{"value of state must be one of: present, absent, no, got: gone"},
		want:     map[string]any{"name": "x", "state": "gone", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "False from YAML no becomes the only false-like choice",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "state": "False"},
		errors:   nil,
		want:     map[string]any{"name": "x", "state": "no", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "list choices report what matches no choice",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "tags": []any{"a", "z", "y"}},
		errors:   []string{"value of tags must be one or more of: a, b. Got no match for: z, y"},
		want:     map[string]any{"name": "x", "tags": []any{"a", "z", "y"}, "state": "present", "force": false, "count": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "list choices accept a comma string of choices",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "tags": "a,b"},
		errors:   nil,
		want:     map[string]any{"name": "x", "tags": []any{"a", "b"}, "state": "present", "force": false, "count": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "mutually exclusive options are reported, all groups at once",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "src": "a", "content": "b", "user": "u", "fs": "f", "group": "g"},
		errors:   []string{"parameters are mutually exclusive: src|content, user|fs", "missing parameter(s) required by 'fs': label, path"},
		want:     map[string]any{"name": "x", "src": "a", "content": "b", "user": "u", "fs": "f", "group": "g", "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "mutually exclusive comes before missing required",
		spec:     richSpec,
		params:   map[string]any{"src": "a", "content": "b"},
		errors:   []string{"parameters are mutually exclusive: src|content", "missing required arguments: name"},
		want:     map[string]any{"src": "a", "content": "b", "state": "present", "force": false, "name": nil, "count": nil, "tags": nil, "ports": nil, "token": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "options required together are reported",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "user": "u"},
		errors:   []string{"parameters are required together: user, group"},
		want:     map[string]any{"name": "x", "user": "u", "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "required_if with all reports the missing ones",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "state": "absent"},
		errors:   []string{"state is absent but all of the following are missing: path"},
		want:     map[string]any{"name": "x", "state": "absent", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "required_if compares after type conversion",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "count": "0"},
		errors:   []string{"count is 0 but any of the following are missing: src, content"},
		want:     map[string]any{"name": "x", "count": int64(0), "state": "present", "force": false, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "required_if with any is satisfied by one of them",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "count": int64(0), "content": "c"},
		errors:   nil,
		want:     map[string]any{"name": "x", "count": int64(0), "content": "c", "state": "present", "force": false, "tags": nil, "ports": nil, "token": nil, "src": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "required_by reports the missing options of its key",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "fs": "ext4", "label": "l", "group": "g", "user": nil},
		errors:   []string{"parameters are mutually exclusive: user|fs", "missing parameter(s) required by 'fs': path"},
		want:     map[string]any{"name": "x", "fs": "ext4", "label": "l", "group": "g", "user": nil, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "required_by ignores a null key",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "fs": nil},
		errors:   nil,
		want:     map[string]any{"name": "x", "fs": nil, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "a type error comes before a choices error",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "count": "many", "state": "gone"},
		errors:   []string{"argument 'count' is of type <class 'str'> and we were unable to convert to int: <class 'str'> cannot be converted to an int", "value of state must be one of: present, absent, no, got: gone"},
		want:     map[string]any{"name": "x", "count": "many", "state": "gone", "force": false, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "element type errors name the option",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "ports": []any{"1", "x", int64(3)}},
		errors:   []string{"Elements value for option 'ports' is of type <class 'str'> and we were unable to convert to int: <class 'str'> cannot be converted to an int"},
		want:     map[string]any{"name": "x", "ports": []any{int64(1), int64(3)}, "state": "present", "force": false, "count": nil, "tags": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "unsupported parameters come last and list the supported ones with aliases",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "zzz": int64(1), "bogus": int64(2)},
		errors:   []string{"bogus, zzz. Supported parameters include: content, count, force, fs, group, label, name, opts, path, ports, src, state, tags, token, user, vm, volumes (n, vm_name)."},
		want:     map[string]any{"name": "x", "zzz": int64(1), "bogus": int64(2), "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "an unsupported parameter after a missing required one is not the first error",
		spec:     richSpec,
		params:   map[string]any{"bogus": int64(1)},
		errors:   []string{"missing required arguments: name", "bogus. Supported parameters include: content, count, force, fs, group, label, name, opts, path, ports, src, state, tags, token, user, vm, volumes (n, vm_name)."},
		want:     map[string]any{"bogus": int64(1), "state": "present", "force": false, "name": nil, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "sub-options get their defaults and apply_defaults makes a dict",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "vm": map[string]any{"role": "worker"}},
		errors:   nil,
		want:     map[string]any{"name": "x", "vm": map[string]any{"role": "worker", "mem": int64(256), "key": nil, "disk": nil}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "a missing required sub-option names its parent",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "vm": map[string]any{"mem": int64(1)}},
		errors:   []string{"missing required arguments: role found in vm"},
		want:     map[string]any{"name": "x", "vm": map[string]any{"mem": int64(1), "role": nil, "key": nil, "disk": nil}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "a missing sub-sub-option names the whole path",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "vm": map[string]any{"role": "worker", "disk": map[string]any{}}},
		errors:   []string{"missing required arguments: size found in vm -> disk"},
		want:     map[string]any{"name": "x", "vm": map[string]any{"role": "worker", "disk": map[string]any{"size": nil}, "mem": int64(256), "key": nil}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "a sub-option type error names its parent",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "vm": map[string]any{"role": "worker", "mem": "big"}},
		errors:   []string{"argument 'mem' is of type <class 'str'> found in 'vm'. and we were unable to convert to int: <class 'str'> cannot be converted to an int"},
		want:     map[string]any{"name": "x", "vm": map[string]any{"role": "worker", "mem": "big", "key": nil, "disk": nil}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "a sub-option outside its choices names its parent",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "vm": map[string]any{"role": "boss"}},
		errors:   []string{"value of role must be one of: controller, worker, got: boss found in vm"},
		want:     map[string]any{"name": "x", "vm": map[string]any{"role": "boss", "mem": int64(256), "key": nil, "disk": nil}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "sub-option rules name their parent",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "vm": map[string]any{"role": "worker", "key": "k", "mem": int64(1)}},
		errors:   []string{"parameters are mutually exclusive: key|mem found in vm"},
		want:     map[string]any{"name": "x", "vm": map[string]any{"role": "worker", "key": "k", "mem": int64(1), "disk": nil}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    []string{"k"},
	},
	{
		name:     "a sub-option alias wins with a warning that names the parent",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "vm": map[string]any{"role": "worker", "key": "a", "k": "b"}},
		errors:   nil,
		want:     map[string]any{"name": "x", "vm": map[string]any{"role": "worker", "key": "b", "k": "b", "mem": int64(256), "disk": nil}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: []string{"Both option vm.key and its alias vm.k are set."},
		noLog:    []string{"a", "b"},
	},
	{
		name:     "nested alias warnings come before top-level ones",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "n": "y", "vm": map[string]any{"role": "worker", "key": "a", "k": "b"}},
		errors:   nil,
		want:     map[string]any{"name": "y", "n": "y", "vm": map[string]any{"role": "worker", "key": "b", "k": "b", "mem": int64(256), "disk": nil}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: []string{"Both option vm.key and its alias vm.k are set.", "Both option name and its alias n are set."},
		noLog:    []string{"a", "b"},
	},
	{
		name:     "an unsupported sub-option is reported as parent.key with its siblings",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "vm": map[string]any{"role": "worker", "extra": int64(1)}},
		errors:   []string{"vm.extra. Supported parameters include: disk, key, mem, role (k)."},
		want:     map[string]any{"name": "x", "vm": map[string]any{"role": "worker", "extra": int64(1), "mem": int64(256), "key": nil, "disk": nil}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "an unsupported option in a list of dicts names the list",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "volumes": []any{map[string]any{"path": "p", "what": int64(1)}}},
		errors:   []string{"volumes.what. Supported parameters include: fs_type, path, size."},
		want:     map[string]any{"name": "x", "volumes": []any{map[string]any{"path": "p", "what": int64(1), "fs_type": "ext4", "size": nil}}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "a dict with sub-options is read from key=value",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "vm": "role=worker mem=3"},
		errors:   nil,
		want:     map[string]any{"name": "x", "vm": map[string]any{"role": "worker", "mem": int64(3), "key": nil, "disk": nil}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "a dict with sub-options given garbage fails in the no_log pass first",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "vm": "garbage"},
		errors:   []string{"dictionary requested, could not parse JSON or key=value", "argument 'vm' is of type <class 'str'> and we were unable to convert to dict: dictionary requested, could not parse JSON or key=value", "value of 'vm' must be of type dict or list of dicts"},
		want:     map[string]any{"name": "x", "vm": "garbage", "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "each element of a list of dicts is checked",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "volumes": []any{map[string]any{"path": "a"}, map[string]any{"path": "b", "fs_type": "xfs"}}},
		errors:   []string{"fs_type is xfs but all of the following are missing: size found in volumes"},
		want:     map[string]any{"name": "x", "volumes": []any{map[string]any{"path": "a", "fs_type": "ext4", "size": nil}, map[string]any{"path": "b", "fs_type": "xfs", "size": nil}}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "list elements given as key=value become dicts",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "volumes": []any{"path=/x size=2"}},
		errors:   nil,
		want:     map[string]any{"name": "x", "volumes": []any{map[string]any{"path": "/x", "size": int64(2), "fs_type": "ext4"}}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "a number in a list of dicts fails in the no_log pass first",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "volumes": []any{int64(5)}},
		errors:   []string{"Value '5' in the sub parameter field 'volumes' must by a list, not 'int'", "Elements value for option 'volumes' is of type <class 'int'> and we were unable to convert to dict: <class 'int'> cannot be converted to a dict"},
		want:     map[string]any{"name": "x", "volumes": []any{}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "a dict given for a list of dicts is a type error",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "volumes": map[string]any{"path": "a"}},
		errors:   []string{"argument 'volumes' is of type <class 'dict'> and we were unable to convert to list: <class 'dict'> cannot be converted to a list"},
		want:     map[string]any{"name": "x", "volumes": map[string]any{"path": "a", "fs_type": "ext4", "size": nil}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "apply_defaults turns null into the defaults",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "opts": nil},
		errors:   nil,
		want:     map[string]any{"name": "x", "opts": map[string]any{"retries": int64(3)}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "apply_defaults converts what is given",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "opts": map[string]any{"retries": "5"}},
		errors:   nil,
		want:     map[string]any{"name": "x", "opts": map[string]any{"retries": int64(5)}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "no_log values are collected from options and sub-options",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "token": "t0k", "vm": map[string]any{"role": "worker", "key": []any{"k1", int64(22), map[string]any{"z": "k3"}}}},
		errors:   nil,
		want:     map[string]any{"name": "x", "token": "t0k", "vm": map[string]any{"role": "worker", "key": "['k1', 22, {'z': 'k3'}]", "mem": int64(256), "disk": nil}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    []string{"22", "k1", "k3", "t0k"},
	},
	{
		name:     "one of each group is required",
		spec:     oneSpec,
		params:   map[string]any{"a": int64(1)},
		errors:   []string{"one of the following is required: c, d"},
		want:     map[string]any{"a": "1", "b": nil, "c": nil, "d": nil},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "one of each group satisfied",
		spec:     oneSpec,
		params:   map[string]any{"b": int64(1), "d": nil},
		errors:   nil,
		want:     map[string]any{"b": "1", "d": nil, "a": nil, "c": nil},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "True becomes the only true-like choice",
		spec:     boolchSpec,
		params:   map[string]any{"yn": "True", "tf": "True", "tf2": "True"},
		errors:   []string{"value of tf2 must be one of: on, y, got: True"},
		want:     map[string]any{"yn": "yes", "tf": "true", "tf2": "True"},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "False with two false-like choices stays False",
		spec:     boolchSpec,
		params:   map[string]any{"tf": "False"},
		errors:   []string{"value of tf must be one of: true, false, 0, got: False"},
		want:     map[string]any{"tf": "False", "yn": nil, "tf2": nil},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "False with one false-like choice becomes it",
		spec:     boolchSpec,
		params:   map[string]any{"yn": "False"},
		errors:   nil,
		want:     map[string]any{"yn": "no", "tf": nil, "tf2": nil},
		warnings: nil,
		noLog:    nil,
	},
}

func TestValidateMatchesAnsibleCore(t *testing.T) {
	for _, c := range validateCases {
		t.Run(c.name, func(t *testing.T) {
			before := pyvalue.DeepCopy(c.params)
			v := Validate(c.spec, c.params)
			assert.Equal(t, c.errors, v.Errors, "errors")
			assert.Equal(t, c.want, v.Params, "validated parameters")
			assert.Equal(t, c.warnings, v.Warnings, "warnings")
			noLog := v.NoLogValues()
			if len(noLog) == 0 {
				noLog = nil
			}
			assert.Equal(t, c.noLog, noLog, "no_log values")
			assert.Equal(t, before, c.params, "Validate must not modify its input")
		})
	}
}

func TestValidateFlagsTheUnsupportedParametersError(t *testing.T) {
	cases := []struct {
		name        string
		params      map[string]any
		unsupported bool
	}{
		{"an unknown option alone is the unsupported error", map[string]any{"name": "x", "zz": 1}, true},
		{"an unknown option after another error is not first", map[string]any{"zz": 1}, false},
		{"a nested unknown option is the unsupported error", map[string]any{"name": "x", "vm": map[string]any{"role": "worker", "zz": 1}}, true},
		{"valid arguments have none", map[string]any{"name": "x"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.unsupported, Validate(richSpec, c.params).Unsupported)
		})
	}
}
