package argspec

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/ansible/pyvalue"
)

// reqDefault is an option that is both required and has a default, which ansible-core
// rejects: ansible-core's own vector is test/units/module_utils/common/arg_spec/test_aliases.py
// ("default-and-required", stable-2.14 71a2eba2e6a8).
var reqDefault = Option{Name: "name", Required: true, Default: "ray"}

// reqDefaultCases are the cases of testdata/reqdefault.py, by name, as Go specs.
var reqDefaultCases = map[string]struct {
	spec   Spec
	params map[string]any
}{
	"top level":        {Spec{Options: []Option{reqDefault}}, map[string]any{}},
	"top level, given": {Spec{Options: []Option{reqDefault}}, map[string]any{"name": "x"}},
	"top level, later aliases not handled and counted unsupported": {
		Spec{Options: []Option{{Name: "a", Aliases: []string{"x"}}, reqDefault, {Name: "b", Aliases: []string{"y"}}, {Name: "c", Type: Int}}},
		map[string]any{"x": "ax", "y": "by", "c": "nope"}},
	"top level, first in spec order": {
		Spec{Options: []Option{{Name: "b", Required: true, Default: "ray"}, {Name: "a", Required: true, Default: int64(1), Type: Int}}},
		map[string]any{}},
	"sub-option of a dict": {
		Spec{Options: []Option{{Name: "vm", Type: Dict, Options: []Option{reqDefault, {Name: "size", Type: Int}}}}},
		map[string]any{"vm": map[string]any{"size": "1"}}},
	"sub-option of each list element": {
		Spec{Options: []Option{{Name: "vols", Type: List, Elements: Dict, Options: []Option{reqDefault}}}},
		map[string]any{"vols": []any{map[string]any{}, map[string]any{"name": "n"}}}},
	"sub-sub-option": {
		Spec{Options: []Option{{Name: "vm", Type: Dict, Options: []Option{{Name: "disk", Type: Dict, Options: []Option{reqDefault}}}}}},
		map[string]any{"vm": map[string]any{"disk": map[string]any{}}}},
	"sub-option with apply_defaults and the dict absent": {
		Spec{Options: []Option{{Name: "vm", Type: Dict, ApplyDefaults: true, Options: []Option{reqDefault}}}},
		map[string]any{}},
	"sub-option, dict absent": {
		Spec{Options: []Option{{Name: "vm", Type: Dict, Options: []Option{reqDefault}}}},
		map[string]any{}},
	"after a top-level error": {
		Spec{Options: []Option{{Name: "count", Type: Int}, {Name: "vm", Type: Dict, Options: []Option{reqDefault}}}},
		map[string]any{"count": "x", "vm": map[string]any{}}},
	"sub-option and an unsupported sub-key crashes": {
		Spec{Options: []Option{{Name: "vm", Type: Dict, Options: []Option{reqDefault}}}},
		map[string]any{"vm": map[string]any{"other": int64(1)}}},
}

// TestRequiredAndDefaultAreReportedAsAnsibleCoreDoes replays testdata/reqdefault-*.jsonl,
// what ModuleArgumentSpecValidator of ansible-core 2.14.18 (Debian 12) and 2.19.11 (the
// Debian 13 root of tests/lab/controller) made of each case of testdata/reqdefault.py: an
// option both required and with a default fails validation with "internal error: required
// and default are mutually exclusive for NAME" at every level, instead of being defaulted.
func TestRequiredAndDefaultAreReportedAsAnsibleCoreDoes(t *testing.T) {
	for _, f := range []struct {
		file, version string
	}{{"reqdefault-2.14.jsonl", "2.14.18"}, {"reqdefault-2.19.jsonl", "2.19.11"}} {
		t.Run(f.version, func(t *testing.T) {
			file, err := os.Open(filepath.Join("testdata", f.file))
			require.NoError(t, err)
			defer file.Close()
			sc := bufio.NewScanner(file)
			n := 0
			for sc.Scan() {
				raw, err := pyvalue.DecodeJSON(sc.Bytes())
				require.NoError(t, err)
				want := raw.(map[string]any)
				require.Equal(t, f.version, want["version"])
				name := want["case"].(string)
				c, ok := reqDefaultCases[name]
				require.True(t, ok, "no Go spec for the case %q", name)
				n++
				t.Run(name, func(t *testing.T) {
					v := ProfileFor(f.version).Validate(c.spec, c.params)
					if crash, ok := want["crash"].(string); ok {
						// AnsibleModule dies with this exception; its message is what is reported.
						assert.Equal(t, "ValueError: "+v.Errors[0], crash)
						assert.Len(t, v.Errors, 1)
						return
					}
					assert.Equal(t, want["errors"], toAnys(v.Errors), "errors")
					assert.True(t, pyvalue.Equal(want["params"], v.Params) && pyvalue.SameKinds(want["params"], v.Params),
						"validated parameters: want %s, got %s", pyvalue.Repr(want["params"]), pyvalue.Repr(v.Params))
					assert.Empty(t, v.Warnings)
					assert.False(t, v.Unsupported)
				})
			}
			require.NoError(t, sc.Err())
			require.Equal(t, len(reqDefaultCases), n, "every Go case has a capture")
		})
	}
}

// TestRequiredAndDefaultMessage carries ansible-core's text itself (2.14 and 2.19 alike).
func TestRequiredAndDefaultMessage(t *testing.T) {
	for _, version := range []string{"2.14.18", "2.19.11"} {
		v := ProfileFor(version).Validate(Spec{Options: []Option{{Name: "vm", Type: Dict, Options: []Option{{Name: "size", Type: Int, Required: true, Default: int64(1)}}}}},
			map[string]any{"vm": map[string]any{}})
		assert.Equal(t, []string{"internal error: required and default are mutually exclusive for size"}, v.Errors, version)
	}
}

func toAnys(s []string) []any {
	out := make([]any, len(s))
	for i, e := range s {
		out[i] = e
	}
	return out
}
