package argspec

import (
	"fmt"

	"github.com/business-operations/bo.microvm/internal/ansible/pyvalue"
)

// Params are validated module parameters. The accessors return the zero value for an
// absent or null option; validation has already enforced the types.
type Params map[string]any

// Has reports whether the option was given a non-null value (or has a default).
func (p Params) Has(name string) bool { return p[name] != nil }

// Str returns a str or path option.
func (p Params) Str(name string) string {
	s, _ := p[name].(string)
	return s
}

// Int returns an int option.
func (p Params) Int(name string) int64 {
	switch t := p[name].(type) {
	case int64:
		return t
	case int:
		return int64(t)
	case bool:
		if t {
			return 1
		}
	case float64:
		return int64(t)
	}
	return 0
}

// Float returns a float option.
func (p Params) Float(name string) float64 {
	f, _ := pyvalue.Number(p[name])
	return f
}

// Bool returns a bool option.
func (p Params) Bool(name string) bool {
	b, _ := p[name].(bool)
	return b
}

// List returns a list option.
func (p Params) List(name string) []any {
	l, _ := p[name].([]any)
	return l
}

// Strs returns a list option of strings.
func (p Params) Strs(name string) []string {
	l := p.List(name)
	out := make([]string, 0, len(l))
	for _, e := range l {
		out = append(out, pyvalue.Str(e))
	}
	return out
}

// Dict returns a dict option.
func (p Params) Dict(name string) Params {
	d, _ := p[name].(map[string]any)
	return Params(d)
}

// Dicts returns a list option whose elements are dicts.
func (p Params) Dicts(name string) []Params {
	l := p.List(name)
	out := make([]Params, 0, len(l))
	for _, e := range l {
		if d, ok := e.(map[string]any); ok {
			out = append(out, Params(d))
		}
	}
	return out
}

// String renders a value as Python's str() would, for messages.
func String(v any) string { return pyvalue.Str(v) }

// ParamError is a bad-input error that names the option, for checks beyond the spec.
func ParamError(name, format string, args ...any) error {
	return fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
}
