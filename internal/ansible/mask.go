package ansible

import "strings"

// Masked replaces a value equal to a no_log value; Hidden replaces a no_log value inside a string.
const (
	Masked = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
	Hidden = "********"
)

// RemoveValues returns a copy of v with every no_log secret masked, as ansible-core's
// remove_values does: a string equal to a secret becomes Masked, a string containing one has
// it replaced by Hidden, a number or bool whose text equals or contains one becomes Masked.
// Map keys are kept.
func RemoveValues(v any, secrets []string) any {
	if len(secrets) == 0 {
		return v
	}
	switch t := v.(type) {
	case string:
		return maskString(t, secrets)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = RemoveValues(e, secrets)
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
			out[k] = RemoveValues(e, secrets)
		}
		return out
	case nil, bool, int, int64, float64: // Python masks None too: str(None) is "None"
		s := pyStr(t)
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				return Masked
			}
		}
		return v
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
