package pyvalue

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEqualIsPythonsEqualityAndSameKindsItsTypes(t *testing.T) {
	cases := []struct {
		a, b            any
		equal, sameKind bool
	}{
		{1, 1.0, true, false},
		{true, 1, true, false},
		{"1", 1, false, false},
		{nil, nil, true, true},
		{[]any{1, "x"}, []any{1.0, "x"}, true, false},
		{[]any{1}, []any{1, 2}, false, false},
		{map[string]any{"a": 1}, map[string]any{"a": 1}, true, true},
		{map[string]any{"a": nil}, map[string]any{"b": nil}, false, false},
		{map[string]any{"a": []any{}}, []any{}, false, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.equal, Equal(c.a, c.b), "Equal(%s, %s)", Repr(c.a), Repr(c.b))
		assert.Equal(t, c.sameKind, SameKinds(c.a, c.b), "SameKinds(%s, %s)", Repr(c.a), Repr(c.b))
	}
}

func TestLiteralEvalReadsSetsAndTuplesAsLists(t *testing.T) {
	for in, want := range map[string]any{
		"{1, 2}":  []any{int64(1), int64(2)},
		"{1, 2,}": []any{int64(1), int64(2)},
		"(1,)":    []any{int64(1)},
		"(1, 2)":  []any{int64(1), int64(2)},
		"(1)":     int64(1),
		"()":      []any{},
	} {
		got, err := LiteralEval(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, got, in)
		}
	}
	for in, msg := range map[string]string{"{1, 2": "expected '}'", "(1, 2": "expected ')'", "(1 2)": "expected ')'"} {
		got, err := LiteralEval(in)
		assert.EqualError(t, err, msg, in)
		assert.Nil(t, got, in)
	}
}
