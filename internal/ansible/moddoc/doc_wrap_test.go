package moddoc

import (
	"bytes"
	"strings"
	"testing"

	"github.com/business-operations/bo.microvm/internal/ansible/argspec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"
)

func TestLongDocTextsFoldIntoShortLinesAndReadBackTheSame(t *testing.T) {
	long := strings.Repeat("A description long enough to wrap, with C(markup) and 'quotes': ", 6) + "end."
	m := Doc{Name: "wrap", ShortDescription: "short", Description: []string{long, "short line"},
		Options: []argspec.Option{{Name: "opt", Type: argspec.List, Elements: argspec.Str, Default: []any{"a", "b"}, Description: []string{long}}},
		Returns: []Return{{Name: "r", Type: "dict", Returned: "always", Description: long, Sample: map[string]any{"k": []any{1, 2}}}}}
	var b bytes.Buffer
	require.NoError(t, Write(&b, m))
	for _, line := range strings.Split(b.String(), "\n") {
		assert.LessOrEqual(t, len(line), 160, "line %q", line)
		assert.NotRegexp(t, `,\S`, strings.SplitN(line, "\"", 2)[0], "flow sequences have a space after each comma")
	}
	var doc struct {
		Documentation struct {
			Description []string
			Options     map[string]struct {
				Description []string
				Default     []string
			}
		} `yaml:"DOCUMENTATION"`
		Return map[string]struct {
			Description string
			Sample      map[string][]int
		} `yaml:"RETURN"`
	}
	require.NoError(t, yaml.Unmarshal(b.Bytes(), &doc))
	assert.Equal(t, []string{long, "short line"}, doc.Documentation.Description)
	assert.Equal(t, []string{long}, doc.Documentation.Options["opt"].Description)
	assert.Equal(t, []string{"a", "b"}, doc.Documentation.Options["opt"].Default)
	assert.Equal(t, long, doc.Return["r"].Description)
	assert.Equal(t, map[string][]int{"k": {1, 2}}, doc.Return["r"].Sample)
}
