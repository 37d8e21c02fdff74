package argspec

import (
	"math"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// convertCases were produced by ansible-core 2.14's own type checkers
// (module_utils/common/parameters.DEFAULT_TYPE_VALIDATORS) with HOME=/home/tester and
// BO_VAR=v: each is what AnsibleModule does with that value for an option of that type.
var convertCases = []struct {
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
	{"str from 1e+20 is \"1e+20\"", "str", float64(1e+20), "1e+20", ""},
	{"str from 0.0001 is \"0.0001\"", "str", float64(0.0001), "0.0001", ""},
	{"str from true is \"True\"", "str", true, "True", ""},
	{"str from null is \"None\"", "str", nil, "None", ""},
	{"str from [\"a\", 1, true, null, \"it's\"] is \"['a', 1, True, None, \\\"it's\\\"]\"", "str", []any{"a", int64(1), true, nil, "it's"}, "['a', 1, True, None, \"it's\"]", ""},
	{"str from {\"a\": 1, \"b\": [\"x\"]} is \"{'a': 1, 'b': ['x']}\"", "str", map[string]any{"a": int64(1), "b": []any{"x"}}, "{'a': 1, 'b': ['x']}", ""},
	{"str from \"x\\\"y'z\" is \"x\\\"y'z\"", "str", "x\"y'z", "x\"y'z", ""},
	{"str from [\"a\\nb\", \"\\\\\"] is \"['a\\\\nb', '\\\\\\\\']\"", "str", []any{"a\nb", "\\"}, "['a\\nb', '\\\\']", ""},
	{"int from \"7\" is 7", "int", "7", int64(7), ""},
	{"int from \" 7 \" is 7", "int", " 7 ", int64(7), ""},
	{"int from \"+1_000\" is 1000", "int", "+1_000", int64(1000), ""},
	{"int from \"1.0\" fails", "int", "1.0", nil, "<class 'str'> cannot be converted to an int"},
	{"int from 1.5 fails", "int", float64(1.5), nil, "<class 'float'> cannot be converted to an int"},
	{"int from true is true", "int", true, true, ""},
	{"int from \"seven\" fails", "int", "seven", nil, "<class 'str'> cannot be converted to an int"},
	{"int from \"\u0661\u0662\" is 12", "int", "\u0661\u0662", int64(12), ""},
	{"int from \"1__0\" fails", "int", "1__0", nil, "<class 'str'> cannot be converted to an int"},
	{"int from \"_1\" fails", "int", "_1", nil, "<class 'str'> cannot be converted to an int"},
	{"int from [1] fails", "int", []any{int64(1)}, nil, "<class 'list'> cannot be converted to an int"},
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
	{"bool from \"2\" fails", "bool", "2", nil, "The value '2' is not a valid boolean.  Valid booleans include: 0, 1, 'true', '1', 'off', 'no', 'y', '0', 'n', 'false', 'on', 'yes', 'f', 't'"},
	{"bool from 2 fails", "bool", int64(2), nil, "The value '2' is not a valid boolean.  Valid booleans include: 0, 1, 'true', '1', 'off', 'no', 'y', '0', 'n', 'false', 'on', 'yes', 'f', 't'"},
	{"bool from 0.5 fails", "bool", float64(0.5), nil, "The value '0.5' is not a valid boolean.  Valid booleans include: 0, 1, 'true', '1', 'off', 'no', 'y', '0', 'n', 'false', 'on', 'yes', 'f', 't'"},
	{"bool from [1] fails", "bool", []any{int64(1)}, nil, "<class 'list'> cannot be converted to a bool"},
	{"bool from \"\\u001cyes\\u001f\" is true", "bool", "\u001cyes\u001f", true, ""},
	{"bool from \"\" fails", "bool", "", nil, "The value '' is not a valid boolean.  Valid booleans include: 0, 1, 'true', '1', 'off', 'no', 'y', '0', 'n', 'false', 'on', 'yes', 'f', 't'"},
	{"bool from \"false\" is false", "bool", "false", false, ""},
	{"bool from \"FALSE\" is false", "bool", "FALSE", false, ""},
	{"bool from \"Y\" is true", "bool", "Y", true, ""},
	{"bool from \"OFF\" is false", "bool", "OFF", false, ""},
	{"bool from \"on\" is true", "bool", "on", true, ""},
	{"bool from \"No\" is false", "bool", "No", false, ""},
	{"bool from \"True\" is true", "bool", "True", true, ""},
	{"bool from \"yes please\" fails", "bool", "yes please", nil, "The value 'yes please' is not a valid boolean.  Valid booleans include: 'y', 'yes', 'on', '1', 'true', 't', 1, 'n', 'no', 'off', '0', 'false', 'f', 0"},
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
	{"dict from \"a=1 b\" fails", "dict", "a=1 b", nil, "dictionary update sequence element #1 has length 1; 2 is required"},
	{"dict from \"{bad\" fails", "dict", "{bad", nil, "unable to evaluate string as dictionary"},
	{"dict from 5 fails", "dict", int64(5), nil, "<class 'int'> cannot be converted to a dict"},
	{"dict from \"{'a': os.path.join('x')}\" is \"{'a': os.path.join('x')}\"", "dict", "{'a': os.path.join('x')}", "{'a': os.path.join('x')}", ""},
	{"dict from \"{True: 1, None: 2, 1.5: 3}\" is {\"true\": 1, \"null\": 2, \"1.5\": 3}", "dict", "{True: 1, None: 2, 1.5: 3}", map[string]any{"true": int64(1), "null": int64(2), "1.5": int64(3)}, ""},
	{"dict from \"{'a': inf}\" fails", "dict", "{'a': inf}", nil, "unable to evaluate string as dictionary"},
	{"dict from \"{'a': 007}\" fails", "dict", "{'a': 007}", nil, "unable to evaluate string as dictionary"},
	{"dict from \"{'a': 0x1F, 'b': -1.5e3, 'c': 'x' \\\"y\\\", 'd': '\\\\x41\\\\u00e9\\\\101\\\\d', 'e': (1,), 'f': 0o17, 'g': r'\\\\n'}\" is {\"a\": 31, \"b\": -1500.0, \"c\": \"xy\", \"d\": \"A\u00e9A\\\\d\", \"e\": [1], \"f\": 15, \"g\": \"\\\\n\"}", "dict", "{'a': 0x1F, 'b': -1.5e3, 'c': 'x' \"y\", 'd': '\\x41\\u00e9\\101\\d', 'e': (1,), 'f': 0o17, 'g': r'\\n'}", map[string]any{"a": int64(31), "b": float64(-1500.0), "c": "xy", "d": "A\u00e9A\\d", "e": []any{int64(1)}, "f": int64(15), "g": "\\n"}, ""},
	{"dict from \"{1, 2}\" is [1, 2]", "dict", "{1, 2}", []any{int64(1), int64(2)}, ""},
	{"dict from \"\" fails", "dict", "", nil, "dictionary requested, could not parse JSON or key=value"},
	{"dict from {\"k\": \"v\"} is {\"k\": \"v\"}", "dict", map[string]any{"k": "v"}, map[string]any{"k": "v"}, ""},
	{"dict from \"  a=1  \" is {\"a\": \"1\"}", "dict", "  a=1  ", map[string]any{"a": "1"}, ""},
	{"dict from \"{'a': import os}\" is \"{'a': import os}\"", "dict", "{'a': import os}", "{'a': import os}", ""},
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
	{"bytes from \"1KByte\" is 1024", "bytes", "1KByte", int64(1024), ""},
	{"bytes from \"1 kB\" is 1024", "bytes", "1 kB", int64(1024), ""},
	{"bytes from \"b\" fails", "bytes", "b", nil, "<class 'str'> cannot be converted to a Byte value"},
	{"bytes from \"1b\" is 1", "bytes", "1b", int64(1), ""},
	{"bytes from \"1MBxyz\" is 1048576", "bytes", "1MBxyz", int64(1048576), ""},
	{"bytes from \"1X\" fails", "bytes", "1X", nil, "<class 'str'> cannot be converted to a Byte value"},
	{"bytes from 1.5 is 2", "bytes", float64(1.5), int64(2), ""},
	{"bits from \"1Mb\" is 1048576", "bits", "1Mb", int64(1048576), ""},
	{"bits from \"1MB\" fails", "bits", "1MB", nil, "<class 'str'> cannot be converted to a Bit value"},
	{"bits from \"1 Kbits\" is 1024", "bits", "1 Kbits", int64(1024), ""},
	{"bits from \"8\" is 8", "bits", "8", int64(8), ""},
}

func TestConvertDoesWhatAnsibleCoreTypeCheckersDo(t *testing.T) {
	t.Setenv("HOME", "/home/tester")
	t.Setenv("BO_VAR", "v")
	for _, c := range convertCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := convert(c.typ, c.in)
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

// sortedBooleans sorts the list of valid booleans in a bool error: Python prints a
// frozenset, in an order that changes from run to run.
func sortedBooleans(msg string) string {
	return regexp.MustCompile(`Valid booleans include: .*$`).ReplaceAllStringFunc(msg, func(m string) string {
		items := strings.Split(strings.TrimPrefix(m, "Valid booleans include: "), ", ")
		sort.Strings(items)
		return "Valid booleans include: " + strings.Join(items, ", ")
	})
}

func TestConvertEdgeCases(t *testing.T) {
	t.Setenv("HOME", "")
	cases := []struct {
		name string
		typ  Type
		in   any
		want any
	}{
		{"an empty HOME makes ~ the root directory", Path, "~", "/"},
		{"an empty HOME keeps what follows ~/", Path, "~/x", "/x"},
		{"an int beyond int64 is refused rather than wrapped", Int, "99999999999999999999", nil},
		{"a float string beyond the float range is infinite", Float, "1e999", math.Inf(1)},
		{"bytes beyond int64 are refused", Bytes, "1Y", nil},
		{"a unit letter that is no size is refused", Bits, "1Q", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := convert(c.typ, c.in)
			if c.want == nil {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}
