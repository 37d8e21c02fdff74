package argspec

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// convertCases219 were produced by ansible-core 2.19.11's type checkers (Debian 13) with
// HOME=/home/tester and BO_VAR=v: what AnsibleModule does when a 2.19 controller runs it.
var convertCases219 = []struct {
	name string
	typ  Type
	in   any
	want any
	err  string
}{
	{"str from \"hello\" is \"hello\"", "str", "hello", "hello", ""},
	{"str from 42 is \"42\"", "str", int64(42), "42", ""},
	{"str from 1.5 is \"1.5\"", "str", float64(1.5), "1.5", ""},
	{"str from 1.0 is \"1.0\"", "str", float64(1.0), "1.0", ""},
	{"str from 0.0001 is \"0.0001\"", "str", float64(0.0001), "0.0001", ""},
	{"str from true is \"True\"", "str", true, "True", ""},
	{"str from null is \"\"", "str", nil, "", ""},
	{"str from [\"a\", 1, true, null, \"it's\"] is \"['a', 1, True, None, \\\"it's\\\"]\"", "str", []any{"a", int64(1), true, nil, "it's"}, "['a', 1, True, None, \"it's\"]", ""},
	{"str from {\"a\": 1, \"b\": [\"x\"]} is \"{'a': 1, 'b': ['x']}\"", "str", map[string]any{"a": int64(1), "b": []any{"x"}}, "{'a': 1, 'b': ['x']}", ""},
	{"str from \"x\\\"y'z\" is \"x\\\"y'z\"", "str", "x\"y'z", "x\"y'z", ""},
	{"str from [\"a\\nb\", \"\\\\\"] is \"['a\\\\nb', '\\\\\\\\']\"", "str", []any{"a\nb", "\\"}, "['a\\nb', '\\\\']", ""},
	{"int from \"7\" is 7", "int", "7", int64(7), ""},
	{"int from \" 7 \" is 7", "int", " 7 ", int64(7), ""},
	{"int from \"+1_000\" is 1000", "int", "+1_000", int64(1000), ""},
	{"int from \"1.0\" is 1", "int", "1.0", int64(1), ""},
	{"int from 1.5 fails", "int", float64(1.5), nil, "\"1.5\" cannot be converted to an int"},
	{"int from true is true", "int", true, true, ""},
	{"int from \"seven\" fails", "int", "seven", nil, "\"'seven'\" cannot be converted to an int"},
	{"int from \"\u0661\u0662\" is 12", "int", "\u0661\u0662", int64(12), ""},
	{"int from \"1__0\" is 10", "int", "1__0", int64(10), ""},
	{"int from \"_1\" is 1", "int", "_1", int64(1), ""},
	{"int from [1] fails", "int", []any{int64(1)}, nil, "\"[1]\" cannot be converted to an int"},
	{"int from \"-0\" is 0", "int", "-0", int64(0), ""},
	{"int from \"0007\" is 7", "int", "0007", int64(7), ""},
	{"float from \"1e3\" is 1000.0", "float", "1e3", float64(1000.0), ""},
	{"float from \" 2.5 \" is 2.5", "float", " 2.5 ", float64(2.5), ""},
	{"float from 2 is 2.0", "float", int64(2), float64(2.0), ""},
	{"float from true is 1.0", "float", true, float64(1.0), ""},
	{"float from \"inf\" is Infinity", "float", "inf", math.Inf(1), ""},
	{"float from \"-Infinity\" is -Infinity", "float", "-Infinity", math.Inf(-1), ""},
	{"float from \"1_0.5\" is 10.5", "float", "1_0.5", float64(10.5), ""},
	{"float from \"abc\" fails", "float", "abc", nil, "<class 'str'> cannot be converted to a float"},
	{"float from [1] fails", "float", []any{int64(1)}, nil, "<class 'list'> cannot be converted to a float"},
	{"float from \".5\" is 0.5", "float", ".5", float64(0.5), ""},
	{"float from \"5.\" is 5.0", "float", "5.", float64(5.0), ""},
	{"bool from \"yes\" is true", "bool", "yes", true, ""},
	{"bool from \"On\" is true", "bool", "On", true, ""},
	{"bool from \" no \" is false", "bool", " no ", false, ""},
	{"bool from \"TRUE\" is true", "bool", "TRUE", true, ""},
	{"bool from \"t\" is true", "bool", "t", true, ""},
	{"bool from \"f\" is false", "bool", "f", false, ""},
	{"bool from \"y\" is true", "bool", "y", true, ""},
	{"bool from \"n\" is false", "bool", "n", false, ""},
	{"bool from \"off\" is false", "bool", "off", false, ""},
	{"bool from \"1\" is true", "bool", "1", true, ""},
	{"bool from \"0\" is false", "bool", "0", false, ""},
	{"bool from 1 is true", "bool", int64(1), true, ""},
	{"bool from 0 is false", "bool", int64(0), false, ""},
	{"bool from 1.0 is true", "bool", float64(1.0), true, ""},
	{"bool from 0.0 is false", "bool", float64(0.0), false, ""},
	{"bool from \"2\" fails", "bool", "2", nil, "The value '2' is not a valid boolean. Valid booleans include: 0, 1, 'n', 'true', '1', 't', 'yes', 'y', 'no', 'on', 'f', 'false', 'off', '0'"},
	{"bool from 2 fails", "bool", int64(2), nil, "The value '2' is not a valid boolean. Valid booleans include: 0, 1, 'n', 'true', '1', 't', 'yes', 'y', 'no', 'on', 'f', 'false', 'off', '0'"},
	{"bool from 0.5 fails", "bool", float64(0.5), nil, "The value '0.5' is not a valid boolean. Valid booleans include: 0, 1, 'n', 'true', '1', 't', 'yes', 'y', 'no', 'on', 'f', 'false', 'off', '0'"},
	{"bool from [1] fails", "bool", []any{int64(1)}, nil, "<class 'list'> cannot be converted to a bool"},
	{"bool from \"\\u001cyes\\u001f\" is true", "bool", "\u001cyes\u001f", true, ""},
	{"bool from \"\" fails", "bool", "", nil, "The value '' is not a valid boolean. Valid booleans include: 0, 1, 'n', 'true', '1', 't', 'yes', 'y', 'no', 'on', 'f', 'false', 'off', '0'"},
	{"list from \"a, b,,c\" is [\"a\", \" b\", \"\", \"c\"]", "list", "a, b,,c", []any{"a", " b", "", "c"}, ""},
	{"list from 3 is [\"3\"]", "list", int64(3), []any{"3"}, ""},
	{"list from 1.5 is [\"1.5\"]", "list", float64(1.5), []any{"1.5"}, ""},
	{"list from true is [\"True\"]", "list", true, []any{"True"}, ""},
	{"list from {\"a\": 1} fails", "list", map[string]any{"a": int64(1)}, nil, "<class 'dict'> cannot be converted to a list"},
	{"list from [\"x\"] is [\"x\"]", "list", []any{"x"}, []any{"x"}, ""},
	{"list from \"\" is [\"\"]", "list", "", []any{""}, ""},
	{"dict from \"{\\\"a\\\": 1, \\\"b\\\": [true, null, 1.5]}\" is {\"a\": 1, \"b\": [true, null, 1.5]}", "dict", "{\"a\": 1, \"b\": [true, null, 1.5]}", map[string]any{"a": int64(1), "b": []any{true, nil, float64(1.5)}}, ""},
	{"dict from \"{'a': 1, 'b': [True, None, (1, 2)], 3: 'x'}\" is {\"a\": 1, \"b\": [true, null, [1, 2]], \"3\": \"x\"}", "dict", "{'a': 1, 'b': [True, None, (1, 2)], 3: 'x'}", map[string]any{"a": int64(1), "b": []any{true, nil, []any{int64(1), int64(2)}}, "3": "x"}, ""},
	{"dict from \"a=1 b='x y',c=\\\"q\\\\\\\" r\\\" e=f=g\" is {\"a\": \"1\", \"b\": \"x y\", \"c\": \"q\\\" r\", \"e\": \"f=g\"}", "dict", "a=1 b='x y',c=\"q\\\" r\" e=f=g", map[string]any{"a": "1", "b": "x y", "c": "q\" r", "e": "f=g"}, ""},
	{"dict from \"garbage\" fails", "dict", "garbage", nil, "dictionary requested, could not parse JSON or key=value"},
	{"dict from \"a=1 b\" fails", "dict", "a=1 b", nil, "unable to evaluate string in the \"key=value\" format as dictionary"},
	{"dict from \"{bad\" fails", "dict", "{bad", nil, "unable to evaluate string as dictionary"},
	{"dict from 5 fails", "dict", int64(5), nil, "<class 'int'> cannot be converted to a dict"},
	{"dict from \"{'a': os.path.join('x')}\" fails", "dict", "{'a': os.path.join('x')}", nil, "unable to evaluate string as dictionary"},
	{"dict from \"{True: 1, None: 2, 1.5: 3}\" is {\"true\": 1, \"null\": 2, \"1.5\": 3}", "dict", "{True: 1, None: 2, 1.5: 3}", map[string]any{"true": int64(1), "null": int64(2), "1.5": int64(3)}, ""},
	{"dict from \"{'a': inf}\" fails", "dict", "{'a': inf}", nil, "unable to evaluate string as dictionary"},
	{"dict from \"{'a': 007}\" fails", "dict", "{'a': 007}", nil, "unable to evaluate string as dictionary"},
	{"dict from \"{'a': 0x1F, 'b': -1.5e3, 'c': 'x' \\\"y\\\", 'd': '\\\\x41\\\\u00e9\\\\101\\\\d', 'e': (1,), 'f': 0o17, 'g': r'\\\\n'}\" is {\"a\": 31, \"b\": -1500.0, \"c\": \"xy\", \"d\": \"A\u00e9A\\\\d\", \"e\": [1], \"f\": 15, \"g\": \"\\\\n\"}", "dict", "{'a': 0x1F, 'b': -1.5e3, 'c': 'x' \"y\", 'd': '\\x41\\u00e9\\101\\d', 'e': (1,), 'f': 0o17, 'g': r'\\n'}", map[string]any{"a": int64(31), "b": float64(-1500.0), "c": "xy", "d": "A\u00e9A\\d", "e": []any{int64(1)}, "f": int64(15), "g": "\\n"}, ""},
	{"dict from \"{1, 2}\" fails", "dict", "{1, 2}", nil, "unable to evaluate string as dictionary"},
	{"dict from \"\" fails", "dict", "", nil, "dictionary requested, could not parse JSON or key=value"},
	{"dict from {\"k\": \"v\"} is {\"k\": \"v\"}", "dict", map[string]any{"k": "v"}, map[string]any{"k": "v"}, ""},
	{"dict from \"  a=1  \" is {\"a\": \"1\"}", "dict", "  a=1  ", map[string]any{"a": "1"}, ""},
	{"dict from \"{'a': import os}\" fails", "dict", "{'a': import os}", nil, "unable to evaluate string as dictionary"},
	{"path from \"~/x/../y\" is \"/home/tester/x/../y\"", "path", "~/x/../y", "/home/tester/x/../y", ""},
	{"path from \"$HOME/a/${HOME}b/$NO_SUCH/${NO_SUCH}/$$\" is \"/home/tester/a//home/testerb/$NO_SUCH/${NO_SUCH}/$$\"", "path", "$HOME/a/${HOME}b/$NO_SUCH/${NO_SUCH}/$$", "/home/tester/a//home/testerb/$NO_SUCH/${NO_SUCH}/$$", ""},
	{"path from \"~no_such_user/q\" is \"~no_such_user/q\"", "path", "~no_such_user/q", "~no_such_user/q", ""},
	{"path from \"~\" is \"/home/tester\"", "path", "~", "/home/tester", ""},
	{"path from \"~root/x\" is \"/root/x\"", "path", "~root/x", "/root/x", ""},
	{"path from \"${BO_VAR}x$BO_VARy\" is \"vx$BO_VARy\"", "path", "${BO_VAR}x$BO_VARy", "vx$BO_VARy", ""},
	{"path from 5 is \"5\"", "path", int64(5), "5", ""},
	{"raw from [1, {\"a\": \"b\"}, 2.0] is [1, {\"a\": \"b\"}, 2.0]", "raw", []any{int64(1), map[string]any{"a": "b"}, float64(2.0)}, []any{int64(1), map[string]any{"a": "b"}, float64(2.0)}, ""},
	{"jsonarg from \" {\\\"a\\\": 1} \" is \"{\\\"a\\\": 1}\"", "jsonarg", " {\"a\": 1} ", "{\"a\": 1}", ""},
	{"jsonarg from {\"a\": 1, \"b\": [1, 2.5, \"\u00e9\"], \"c\": null} is \"{\\\"a\\\": 1, \\\"b\\\": [1, 2.5, \\\"\\\\u00e9\\\"], \\\"c\\\": null}\"", "jsonarg", map[string]any{"a": int64(1), "b": []any{int64(1), float64(2.5), "\u00e9"}, "c": nil}, "{\"a\": 1, \"b\": [1, 2.5, \"\\u00e9\"], \"c\": null}", ""},
	{"jsonarg from 5 fails", "jsonarg", int64(5), nil, "<class 'int'> cannot be converted to a json string"},
	{"jsonarg from [\"x\", \"<>&\"] is \"[\\\"x\\\", \\\"<>&\\\"]\"", "jsonarg", []any{"x", "<>&"}, "[\"x\", \"<>&\"]", ""},
	{"bytes from \"10MB\" is 10485760", "bytes", "10MB", int64(10485760), ""},
	{"bytes from \"1.5K\" is 1536", "bytes", "1.5K", int64(1536), ""},
	{"bytes from \"2.5\" is 2", "bytes", "2.5", int64(2), ""},
	{"bytes from \"3.5\" is 4", "bytes", "3.5", int64(4), ""},
	{"bytes from \"10Mb\" fails", "bytes", "10Mb", nil, "<class 'str'> cannot be converted to a Byte value"},
	{"bytes from true fails", "bytes", true, nil, "<class 'bool'> cannot be converted to a Byte value"},
	{"bytes from -5 fails", "bytes", int64(-5), nil, "<class 'int'> cannot be converted to a Byte value"},
	{"bytes from 10 is 10", "bytes", int64(10), int64(10), ""},
	{"bytes from \"1KByte\" fails", "bytes", "1KByte", nil, "<class 'str'> cannot be converted to a Byte value"},
	{"bytes from \"1 kB\" fails", "bytes", "1 kB", nil, "<class 'str'> cannot be converted to a Byte value"},
	{"bytes from \"b\" fails", "bytes", "b", nil, "<class 'str'> cannot be converted to a Byte value"},
	{"bytes from \"1b\" is 1", "bytes", "1b", int64(1), ""},
	{"bytes from \"1MBxyz\" fails", "bytes", "1MBxyz", nil, "<class 'str'> cannot be converted to a Byte value"},
	{"bytes from \"1X\" fails", "bytes", "1X", nil, "<class 'str'> cannot be converted to a Byte value"},
	{"bytes from 1.5 is 2", "bytes", float64(1.5), int64(2), ""},
	{"int from \"1.0\" is 1", "int", "1.0", int64(1), ""},
	{"int from \"1e3\" is 1000", "int", "1e3", int64(1000), ""},
	{"int from 2.0 is 2", "int", float64(2.0), int64(2), ""},
	{"int from \"nan\" fails", "int", "nan", nil, "\"'nan'\" cannot be converted to an int"},
	{"int from \"1.5\" fails", "int", "1.5", nil, "\"'1.5'\" cannot be converted to an int"},
	{"int from \" 1_0.0 \" is 10", "int", " 1_0.0 ", int64(10), ""},
	{"int from null fails", "int", nil, nil, "\"None\" cannot be converted to an int"},
	{"str from null is \"\"", "str", nil, "", ""},
	{"path from null is \"\"", "path", nil, "", ""},
	{"bool from null fails", "bool", nil, nil, "<class 'NoneType'> cannot be converted to a bool"},
	{"float from null fails", "float", nil, nil, "<class 'NoneType'> cannot be converted to a float"},
	{"bytes from \"1kilobyte\" is 1024", "bytes", "1kilobyte", int64(1024), ""},
	{"bytes from \"1 KB \" is 1024", "bytes", "1 KB ", int64(1024), ""},
	{"bits from \"1 Kb\" is 1024", "bits", "1 Kb", int64(1024), ""},
	{"bytes from \" 1K\" fails", "bytes", " 1K", nil, "<class 'str'> cannot be converted to a Byte value"},
	{"bytes from \"5.\" fails", "bytes", "5.", nil, "<class 'str'> cannot be converted to a Byte value"},
	{"dict from \"{1, 2}\" fails", "dict", "{1, 2}", nil, "unable to evaluate string as dictionary"},
	{"bits from \"1Mb\" is 1048576", "bits", "1Mb", int64(1048576), ""},
	{"bits from \"1MB\" fails", "bits", "1MB", nil, "<class 'str'> cannot be converted to a Bit value"},
	{"bits from \"1 Kbits\" fails", "bits", "1 Kbits", nil, "<class 'str'> cannot be converted to a Bit value"},
	{"bits from \"8\" is 8", "bits", "8", int64(8), ""},
}

func TestConvertDoesWhatAnsibleCore219TypeCheckersDo(t *testing.T) {
	t.Setenv("HOME", "/home/tester")
	t.Setenv("BO_VAR", "v")
	p := ProfileFor("2.19.11")
	require.True(t, p.v219)
	for _, c := range convertCases219 {
		t.Run(c.name, func(t *testing.T) {
			got, err := p.convert(c.typ, c.in)
			if c.err != "" {
				require.Error(t, err)
				assert.Equal(t, sortedBooleans(c.err), sortedBooleans(err.Error()))
				return
			}
			require.NoError(t, err)
			if f, ok := c.want.(float64); ok && math.IsInf(f, 0) {
				assert.Equal(t, f, got)
				return
			}
			assert.Equal(t, c.want, got)
		})
	}
}

func TestProfileFollowsTheControllerVersion(t *testing.T) {
	cases := []struct {
		version string
		v219    bool
	}{
		{"", false}, {"0.0", false}, {"2.14.18", false}, {"2.18.1", false},
		{"2.19.0", true}, {"2.19.11", true}, {"2.20.0.dev0", true}, {"3.0.0", true}, {"garbage", false},
	}
	for _, c := range cases {
		t.Run("version "+c.version, func(t *testing.T) {
			assert.Equal(t, c.v219, ProfileFor(c.version).v219)
		})
	}
}

// validateCases219 hold what ansible-core 2.19.11's ModuleArgumentSpecValidator gave for
// the cases of validateCases.
var validateCases219 = []struct {
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
		want:     map[string]any{"name": "", "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
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
		errors:   []string{"argument 'count' is of type str and we were unable to convert to int: \"'many'\" cannot be converted to an int", "value of state must be one of: present, absent, no, got: gone"},
		want:     map[string]any{"name": "x", "count": "many", "state": "gone", "force": false, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "volumes": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "element type errors name the option",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "ports": []any{"1", "x", int64(3)}},
		errors:   []string{"Elements value for option 'ports' is of type str and we were unable to convert to int: \"'x'\" cannot be converted to an int"},
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
		errors:   []string{"argument 'mem' is of type str found in 'vm'. and we were unable to convert to int: \"'big'\" cannot be converted to an int"},
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
		errors:   []string{"dictionary requested, could not parse JSON or key=value", "argument 'vm' is of type str and we were unable to convert to dict: dictionary requested, could not parse JSON or key=value", "value of 'vm' must be of type dict or list of dicts"},
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
		errors:   []string{"Value '5' in the sub parameter field 'volumes' must be a list, not 'int'", "Elements value for option 'volumes' is of type int and we were unable to convert to dict: <class 'int'> cannot be converted to a dict"},
		want:     map[string]any{"name": "x", "volumes": []any{}, "state": "present", "force": false, "count": nil, "tags": nil, "ports": nil, "token": nil, "src": nil, "content": nil, "user": nil, "group": nil, "fs": nil, "label": nil, "path": nil, "vm": nil, "opts": map[string]any{"retries": int64(3)}},
		warnings: nil,
		noLog:    nil,
	},
	{
		name:     "a dict given for a list of dicts is a type error",
		spec:     richSpec,
		params:   map[string]any{"name": "x", "volumes": map[string]any{"path": "a"}},
		errors:   []string{"argument 'volumes' is of type dict and we were unable to convert to list: <class 'dict'> cannot be converted to a list"},
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

func TestValidateMatchesAnsibleCore219(t *testing.T) {
	for _, c := range validateCases219 {
		t.Run(c.name, func(t *testing.T) {
			v := validate(ProfileFor("2.19.11"), c.spec, c.params)
			assert.Equal(t, c.errors, v.Errors, "errors")
			assert.Equal(t, c.want, v.Params, "validated parameters")
			assert.Equal(t, c.warnings, v.Warnings, "warnings")
			noLog := v.NoLogValues()
			if len(noLog) == 0 {
				noLog = nil
			}
			assert.Equal(t, c.noLog, noLog, "no_log values")
		})
	}
}
