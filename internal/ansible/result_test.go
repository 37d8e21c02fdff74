package ansible

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGenericTurnsResultValuesIntoJSONKinds(t *testing.T) {
	got, err := generic(map[string]any{
		"n":    3,
		"list": []any{int32(1), []string{"a"}},
		"maps": []map[string]any{{"f": float32(0.5)}},
	})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"n":    int64(3),
		"list": []any{int64(1), []any{"a"}},
		"maps": []any{map[string]any{"f": float64(0.5)}},
	}, got)

	got, err = generic([]any{1, make(chan int)})
	assert.Error(t, err, "a value encoding/json cannot encode")
	assert.Nil(t, got)
	got, err = generic([]map[string]any{{"c": make(chan int)}})
	assert.Error(t, err)
	assert.Nil(t, got)
}
