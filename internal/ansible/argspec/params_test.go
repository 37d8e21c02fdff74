package argspec

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParamsAccessors(t *testing.T) {
	v := Validate(richSpec, map[string]any{"name": "x", "count": "3", "force": "yes", "tags": "a,b", "vm": "role=worker", "volumes": []any{map[string]any{"path": "p"}}})
	require.Empty(t, v.Errors)
	p := Params(v.Params)
	assert.Equal(t, "x", p.Str("name"))
	assert.Equal(t, int64(3), p.Int("count"))
	assert.Equal(t, true, p.Bool("force"))
	assert.Equal(t, []string{"a", "b"}, p.Strs("tags"))
	assert.Equal(t, int64(256), p.Dict("vm").Int("mem"))
	assert.Equal(t, "p", p.Dicts("volumes")[0].Str("path"))
	assert.True(t, p.Has("name"))
	assert.False(t, p.Has("token"), "an absent option is null")
	assert.Equal(t, "", p.Str("token"))
	assert.Equal(t, "['a', 1]", String([]any{"a", int64(1)}))
}
