package ansible

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// convert applies ansible-core 2.14's type checker for t to v (module_utils/common/validation.py).
func convert(t Type, v any) (any, error) {
	switch t {
	case Str, "":
		return pyStr(v), nil
	case Int:
		return toInt(v)
	case Float:
		return toFloat(v)
	case Bool:
		return toBool(v)
	case List:
		return toList(v)
	case Dict:
		return toDict(v)
	case Path:
		return expandPath(pyStr(v)), nil
	case Raw:
		return v, nil
	case JSONArg:
		return toJSONArg(v)
	case Bytes:
		n, err := humanToBytes(v, false)
		if err != nil {
			return nil, fmt.Errorf("%s cannot be converted to a Byte value", pyClass(v))
		}
		return n, nil
	case Bits:
		n, err := humanToBytes(v, true)
		if err != nil {
			return nil, fmt.Errorf("%s cannot be converted to a Bit value", pyClass(v))
		}
		return n, nil
	}
	return nil, fmt.Errorf("internal error: unknown type %q", t)
}

var (
	booleansTrue  = []any{"y", "yes", "on", "1", "true", "t", int64(1)}
	booleansFalse = []any{"n", "no", "off", "0", "false", "f", int64(0)}
)

// validBooleans is the list ansible-core prints; Python prints a frozenset, whose order
// changes from run to run, so any fixed order is as faithful as another.
const validBooleans = "'y', 'yes', 'on', '1', 'true', 't', 1, 'n', 'no', 'off', '0', 'false', 'f', 0"

func toBool(v any) (any, error) {
	switch t := v.(type) {
	case bool:
		return t, nil
	case string:
		n := strings.ToLower(strings.TrimFunc(t, unicode.IsSpace))
		if pyContains(booleansTrue, n) {
			return true, nil
		}
		if pyContains(booleansFalse, n) {
			return false, nil
		}
		return nil, fmt.Errorf("The value '%s' is not a valid boolean.  Valid booleans include: %s", t, validBooleans)
	case int64, int, float64:
		if pyContains(booleansTrue, t) {
			return true, nil
		}
		if pyContains(booleansFalse, t) {
			return false, nil
		}
		return nil, fmt.Errorf("The value '%s' is not a valid boolean.  Valid booleans include: %s", pyStr(t), validBooleans)
	}
	return nil, fmt.Errorf("%s cannot be converted to a bool", pyClass(v))
}

// pyIntLiteral matches what Python's int(str) accepts (ASCII digits, underscores between digits).
var pyIntLiteral = regexp.MustCompile(`^[+-]?[0-9](?:_?[0-9])*$`)

func toInt(v any) (any, error) {
	switch t := v.(type) {
	case int64, int, bool: // Python: bool is an int and passes as is
		return t, nil
	case string:
		s := strings.TrimFunc(t, unicode.IsSpace)
		if pyIntLiteral.MatchString(s) {
			if i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64); err == nil {
				return i, nil
			}
		}
	}
	return nil, fmt.Errorf("%s cannot be converted to an int", pyClass(v))
}

var pyFloatLiteral = regexp.MustCompile(`^[+-]?(?:(?:[0-9](?:_?[0-9])*)?\.?[0-9](?:_?[0-9])*\.?|[0-9](?:_?[0-9])*\.)(?:[eE][+-]?[0-9](?:_?[0-9])*)?$|^[+-]?(?i:inf|infinity|nan)$`)

func toFloat(v any) (any, error) {
	switch t := v.(type) {
	case float64:
		return t, nil
	case bool:
		if t {
			return 1.0, nil
		}
		return 0.0, nil
	case int64:
		return float64(t), nil
	case int:
		return float64(t), nil
	case string:
		s := strings.TrimFunc(t, unicode.IsSpace)
		if pyFloatLiteral.MatchString(s) {
			if f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil || errors.Is(err, strconv.ErrRange) {
				return f, nil
			}
		}
	}
	return nil, fmt.Errorf("%s cannot be converted to a float", pyClass(v))
}

func toList(v any) (any, error) {
	switch t := v.(type) {
	case []any:
		return t, nil
	case string:
		parts := strings.Split(t, ",")
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, nil
	case int64, int, float64, bool:
		return []any{pyStr(t)}, nil
	}
	return nil, fmt.Errorf("%s cannot be converted to a list", pyClass(v))
}

func toDict(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		return t, nil
	case string:
		if strings.HasPrefix(t, "{") {
			if d, err := decodeJSON([]byte(t)); err == nil {
				return d, nil
			}
			d, err := pyLiteral(t)
			if err != nil {
				return nil, errors.New("unable to evaluate string as dictionary")
			}
			return d, nil
		}
		if strings.Contains(t, "=") {
			return keyValueDict(t)
		}
		return nil, errors.New("dictionary requested, could not parse JSON or key=value")
	}
	return nil, fmt.Errorf("%s cannot be converted to a dict", pyClass(v))
}

// keyValueDict is check_type_dict's k=v parser: fields split on ',' or ' ' outside quotes,
// backslash escapes the next character, values stay strings.
func keyValueDict(s string) (any, error) {
	var fields []string
	var buf []rune
	var inQuote rune
	inEscape := false
	for _, c := range strings.TrimFunc(s, unicode.IsSpace) {
		switch {
		case inEscape:
			buf = append(buf, c)
			inEscape = false
		case c == '\\':
			inEscape = true
		case inQuote == 0 && (c == '\'' || c == '"'):
			inQuote = c
		case inQuote != 0 && inQuote == c:
			inQuote = 0
		case inQuote == 0 && (c == ',' || c == ' '):
			if len(buf) > 0 {
				fields = append(fields, string(buf))
			}
			buf = buf[:0]
		default:
			buf = append(buf, c)
		}
	}
	if len(buf) > 0 {
		fields = append(fields, string(buf))
	}
	out := make(map[string]any, len(fields))
	for i, f := range fields {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("dictionary update sequence element #%d has length 1; 2 is required", i)
		}
		out[k] = val
	}
	return out, nil
}

func toJSONArg(v any) (any, error) {
	switch t := v.(type) {
	case string:
		return strings.TrimFunc(t, unicode.IsSpace), nil
	case []any, map[string]any:
		// jsonify: json.dumps with its default separators and ensure_ascii
		return pyJSON(t)
	}
	return nil, fmt.Errorf("%s cannot be converted to a json string", pyClass(v))
}

var humanSize = regexp.MustCompile(`^\s*(\d*\.?\d*)\s*([A-Za-z]+)?`)

// humanToBytes is ansible's human_to_bytes with default unit bytes.
func humanToBytes(v any, isBits bool) (int64, error) {
	switch t := v.(type) {
	case int64:
		return t, nil
	case int:
		return int64(t), nil
	case float64:
		return int64(math.Round(t)), nil
	case bool:
		if t {
			return 1, nil
		}
		return 0, nil
	}
	s := pyStr(v)
	m := humanSize.FindStringSubmatch(s)
	if m == nil || m[1] == "" {
		return 0, errors.New("can't interpret")
	}
	num, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, err
	}
	unit := m[2]
	if unit == "" {
		return int64(math.Round(num)), nil
	}
	powers := "BKMGTPEZY"
	p := strings.IndexByte(powers, strings.ToUpper(unit[:1])[0])
	if p < 0 {
		return 0, errors.New("unknown unit")
	}
	switch {
	case len(unit) == 1:
		if unit == "b" && !isBits || unit == "B" && isBits {
			// "b" alone means bytes for bytes and bits for bits; accept either single letter
		}
	case len(unit) == 2:
		want := byte('B')
		if isBits {
			want = 'b'
		}
		if unit[1] != want {
			return 0, errors.New("bad unit")
		}
	default:
		return 0, errors.New("bad unit")
	}
	return int64(math.Round(num * math.Pow(1024, float64(p)))), nil
}

// expandPath is os.path.expanduser(os.path.expandvars(s)) as the executing user sees it.
func expandPath(s string) string {
	s = os.Expand(s, func(name string) string {
		if v, ok := os.LookupEnv(name); ok {
			return v
		}
		return "${" + name + "}"
	})
	if !strings.HasPrefix(s, "~") {
		return s
	}
	name, rest, _ := strings.Cut(s[1:], "/")
	var home string
	if name == "" {
		home = os.Getenv("HOME")
		if home == "" {
			if u, err := user.Current(); err == nil {
				home = u.HomeDir
			}
		}
	} else if u, err := user.Lookup(name); err == nil {
		home = u.HomeDir
	}
	if home == "" {
		return s
	}
	if rest == "" && !strings.Contains(s, "/") {
		return home
	}
	return filepath.Join(home, rest)
}
