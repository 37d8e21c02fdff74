package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMergeLaysOverOnBaseRecursivelyAndLeavesBothAlone(t *testing.T) {
	base := map[string]any{"a": 1, "m": map[string]any{"x": 1, "y": 2}, "l": []any{1}}
	over := map[string]any{"b": 2, "m": map[string]any{"y": 3}, "l": []any{2}}
	got := Merge(base, over)
	assert.Equal(t, map[string]any{"a": 1, "b": 2, "m": map[string]any{"x": 1, "y": 3}, "l": []any{2}}, got)
	assert.Equal(t, map[string]any{"x": 1, "y": 2}, base["m"], "base is not modified")
	assert.Equal(t, "scalar", Merge(base, map[string]any{"m": "scalar"})["m"], "a scalar in over replaces a map in base")
}

func TestDigFollowsMapsAndGivesNilWhereThePathEnds(t *testing.T) {
	v := map[string]any{"spec": map[string]any{"network": map[string]any{"provider": "calico"}, "list": []any{1}}}
	assert.Equal(t, "calico", Dig(v, "spec", "network", "provider"))
	assert.Nil(t, Dig(v, "spec", "absent", "provider"), "a missing key")
	assert.Nil(t, Dig(v, "spec", "list", "x"), "a list is not a map")
	assert.Equal(t, v, Dig(v), "no path is the value itself")
}
