package ansible

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestExecuteUnder219(t *testing.T) {
	spec := Spec{Options: []Option{{Name: "token", NoLog: true}, {Name: "name"}, {Name: "count", Type: Int, Default: int64(1)}}}
	m := echo(spec, func(_ context.Context, inv *Invocation) (*Result, error) {
		inv.Warn("twice")
		inv.Warn("twice")
		return &Result{Values: map[string]any{"deep": map[string]any{"flag": true, "none": nil}}}, nil
	})
	cases := []struct {
		name    string
		version string
		args    map[string]any
		want    map[string]any
	}{
		{"2.19 never masks bools and nulls, and keeps each warning once", "2.19.11", map[string]any{"token": "True"},
			map[string]any{"deep": map[string]any{"flag": true, "none": nil}, "warnings": []any{"twice"}}},
		{"2.14 masks them when their text holds a secret", "2.14.18", map[string]any{"token": "None"},
			map[string]any{"deep": map[string]any{"flag": true, "none": Masked}, "warnings": []any{"twice", "twice"}}},
		{"2.19 type-checks a null with a default", "2.19.11", map[string]any{"count": nil},
			map[string]any{"failed": true, "msg": `argument 'count' is of type NoneType and we were unable to convert to int: "None" cannot be converted to an int`}},
		{"2.14 leaves a null with a default alone", "2.14.18", map[string]any{"count": nil},
			map[string]any{"failed": false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := map[string]any{"_ansible_version": c.version}
			for k, v := range c.args {
				args[k] = v
			}
			res := execute(t, m, writeArgs(t, args))
			for k, v := range c.want {
				assert.Equal(t, v, res[k], k)
			}
		})
	}
}
