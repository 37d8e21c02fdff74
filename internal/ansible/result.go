package ansible

import (
	"encoding/json"

	"github.com/business-operations/bo.microvm/internal/ansible/argspec"
	"github.com/business-operations/bo.microvm/internal/ansible/pyvalue"
)

// generic turns a result value into the generic JSON kinds, keeping float64 values as
// floats; values of other Go types go through encoding/json.
func generic(v any) (any, error) {
	switch t := v.(type) {
	case nil, bool, string, int64, float64:
		return t, nil
	case int:
		return int64(t), nil
	case int32:
		return int64(t), nil
	case uint32:
		return int64(t), nil
	case float32:
		return float64(t), nil
	case []any:
		return genericList(t, generic)
	case []string:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = e
		}
		return out, nil
	case map[string]any:
		return genericMap(t)
	case argspec.Params:
		return genericMap(t)
	case []map[string]any:
		return genericList(t, genericMap)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return pyvalue.DecodeJSON(data)
}

// genericList is a list of generic values, each element turned by f.
func genericList[E, G any](list []E, f func(E) (G, error)) (any, error) {
	out := make([]any, len(list))
	for i, e := range list {
		g, err := f(e)
		if err != nil {
			return nil, err
		}
		out[i] = g
	}
	return out, nil
}

func genericMap(m map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, e := range m {
		g, err := generic(e)
		if err != nil {
			return nil, err
		}
		out[k] = g
	}
	return out, nil
}
