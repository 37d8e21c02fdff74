package ansible

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// richSpec is a copy of argspec's richSpec (argspec/validate_test.go): every rule of a spec.
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

// fuzzModule validates against richSpec plus every other type, and echoes what it got, so
// that a fuzzed args file reaches validation, conversion, masking and encoding.
var fuzzModule = Module{
	Name: "fuzz",
	Spec: Spec{
		Options: append(append([]Option{}, richSpec.Options...),
			Option{Name: "ratio", Type: Float},
			Option{Name: "labels", Type: Dict},
			Option{Name: "data", Type: Raw},
			Option{Name: "body", Type: JSONArg},
			Option{Name: "size", Type: Bytes},
			Option{Name: "rate", Type: Bits},
			Option{Name: "list", Type: List},
			Option{Name: "secrets", Type: List, NoLog: true},
		),
		Rules: richSpec.Rules,
	},
	CheckMode: Partial,
	Run: func(_ context.Context, inv *Invocation) (*Result, error) {
		inv.Warn("name is %s", inv.Params.Str("name"))
		return &Result{Changed: inv.Params.Bool("force"), Values: map[string]any{"params": inv.Params}, Diff: []Diff{{Before: inv.Params.Str("src"), After: inv.Params.Str("content")}}}, nil
	},
}

func FuzzExecute(f *testing.F) {
	for _, seed := range []string{
		`{"name": "x"}`,
		`{"name": "x", "_ansible_check_mode": true, "_ansible_diff": true, "_ansible_module_name": "fuzz_linux_amd64"}`,
		`{"n": "a", "vm_name": "b", "token": "s3cr3t", "src": "s3cr3t-x", "secrets": [1, "two", {"k": 3.5}]}`,
		`{"name": "x", "vm": "role=worker mem='1 2' key=\\k", "volumes": ["path=/x size=2", {"path": "p", "fs_type": "xfs"}]}`,
		`{"name": "x", "labels": "{'a': 0x1F, 'b': (1,), 'c': r'\\n' 'd'}", "body": {"a": [1, 2.5, "é"]}}`,
		`{"name": "x", "size": "1.5KByte", "rate": "1Mb", "ratio": "-inf", "count": " 1_000 ", "force": "On"}`,
		`{"name": "x", "state": "False", "tags": "a,b", "ports": ["1", 2, true], "path": "~/$HOME/${X}"}`,
		`{"bogus": 1, "vm": {"extra": 1, "disk": {}}, "_ansible_ignore_unknown_opts": true}`,
		`{"name": 1e400, "count": 99999999999999999999}`,
		`{"name": null, "count": "1e3", "size": "1 KB ", "labels": "{1, 2}", "force": null, "_ansible_version": "2.19.11"}`,
		`{"name": "x", "ratio": NaN, "data": [Infinity, -Infinity], "_ansible_version": "2.19.0"}`,
		`[1, 2]`,
		`{"name": "x"} trailing`,
		"\x00\xff",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "args")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out, failed := Execute(context.Background(), fuzzModule, path)
		if bytes.ContainsAny(out, "\n\r") {
			t.Fatalf("the result is not one line: %q", out)
		}
		var res map[string]any
		dec := json.NewDecoder(bytes.NewReader(pythonJSONWords(out)))
		if err := dec.Decode(&res); err != nil {
			t.Fatalf("the result is no JSON object: %v: %q", err, out)
		}
		if dec.More() {
			t.Fatalf("something follows the JSON object: %q", out)
		}
		f, ok := res["failed"].(bool)
		if !ok || f != failed {
			t.Fatalf("failed is %#v, Execute said %v: %q", res["failed"], failed, out)
		}
		if msg, _ := res["msg"].(string); strings.Contains(msg, "crashed") || strings.Contains(msg, "internal error") {
			t.Fatalf("internal/ansible itself failed: %s", msg)
		}
	})
}

// pythonJSONWords replaces the NaN, Infinity and -Infinity that Python's json (and so the
// controller) accepts by 0, outside strings, so that encoding/json can check the rest.
func pythonJSONWords(b []byte) []byte {
	var out []byte
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			out = append(out, c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
		}
		for _, w := range []string{"-Infinity", "Infinity", "NaN"} {
			if bytes.HasPrefix(b[i:], []byte(w)) {
				out = append(out, '0')
				i += len(w) - 1
				c = 0
				break
			}
		}
		if c != 0 {
			out = append(out, c)
		}
	}
	return out
}
