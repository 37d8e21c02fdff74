package kube

// Dig returns the value at path in nested maps (decoded JSON or YAML), or nil where a step of
// the path is missing or not a map. Object.Get and k0s's reading of a k0s.yaml use it.
func Dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// Merge returns base with over laid on it, recursively: where both hold a map under the same
// key the maps are merged, anything else in over replaces what base holds. Neither argument is
// modified. It is how chart values (k0s's Chart spec.values, the Gitea chart's) combine defaults
// with what the user passed.
func Merge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = Merge(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}
