package ansible

import (
	"sort"
	"strings"

	"github.com/business-operations/bo.microvm/internal/ansible/pyvalue"
)

// Masked replaces a value equal to a no_log value; Hidden replaces a no_log value inside a string.
const (
	Masked = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
	Hidden = "********"
)

// RemoveValues returns a copy of v with every no_log secret masked, as ansible-core 2.14's
// remove_values does: a string equal to a secret becomes Masked, a string containing one has
// it replaced by Hidden (longer secrets first), a number, bool or null whose text equals or
// contains one becomes Masked. Map keys are kept.
func RemoveValues(v any, secrets []string) any {
	return removeValues(v, longestFirst(secrets), false)
}

// longestFirst orders secrets as 2.19 replaces them, so that a secret inside another one
// cannot leave part of the longer one visible.
func longestFirst(secrets []string) []string {
	out := append([]string(nil), secrets...)
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// removeValues is remove_values; keepBoolsAndNulls is 2.19's rule that bools and nulls are
// never masked.
func removeValues(v any, secrets []string, keepBoolsAndNulls bool) any {
	if len(secrets) == 0 {
		return v
	}
	switch t := v.(type) {
	case string:
		return maskString(t, secrets)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = removeValues(e, secrets, keepBoolsAndNulls)
		}
		return out
	case []string:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = maskString(e, secrets)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = removeValues(e, secrets, keepBoolsAndNulls)
		}
		return out
	case nil, bool:
		if keepBoolsAndNulls {
			return v
		}
		return maskScalar(v, secrets) // 2.14 masks them too: str(None) is "None"
	case int, int64, float64:
		return maskScalar(v, secrets)
	}
	return v
}

func maskScalar(v any, secrets []string) any {
	s := pyvalue.Str(v)
	for _, secret := range secrets {
		if strings.Contains(s, secret) {
			return Masked
		}
	}
	return v
}

func maskString(s string, secrets []string) string {
	for _, secret := range secrets {
		if s == secret {
			return Masked
		}
	}
	for _, secret := range secrets {
		s = strings.ReplaceAll(s, secret, Hidden)
	}
	return s
}
