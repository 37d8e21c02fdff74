package argspec

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/user"
	"regexp"
	"strconv"
	"strings"

	"github.com/business-operations/bo.microvm/internal/ansible/pyvalue"
)

// convert applies ansible-core 2.14's type checker for t to v (module_utils/common/validation.py).
func convert(t Type, v any) (any, error) {
	switch t {
	case Str, "":
		return pyvalue.Str(v), nil
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
		return expandPath(pyvalue.Str(v)), nil
	case Raw:
		return v, nil
	case JSONArg:
		return toJSONArg(v)
	case Bytes:
		n, err := humanToBytes(v, false)
		if err != nil {
			return nil, fmt.Errorf("%s cannot be converted to a Byte value", pyvalue.Class(v))
		}
		return n, nil
	case Bits:
		n, err := humanToBytes(v, true)
		if err != nil {
			return nil, fmt.Errorf("%s cannot be converted to a Bit value", pyvalue.Class(v))
		}
		return n, nil
	}
	return nil, fmt.Errorf("internal error: unknown type %q", t)
}

// safeEvalPassthrough are the patterns for which ansible-core 2.14's safe_eval returns the
// string unchanged instead of evaluating it: a dict option then keeps the string.
var safeEvalPassthrough = []*regexp.Regexp{
	regexp.MustCompile(`\w\.\w+\(`),
	regexp.MustCompile(`import \w+`),
}

var (
	booleansTrue  = []any{"y", "yes", "on", "1", "true", "t", int64(1)}
	booleansFalse = []any{"n", "no", "off", "0", "false", "f", int64(0)}
)

// validBooleans is the list ansible-core prints; Python prints a frozenset, whose order
// changes from run to run, so any fixed order is as faithful as another.
const validBooleans = "'y', 'yes', 'on', '1', 'true', 't', 1, 'n', 'no', 'off', '0', 'false', 'f', 0"

// Boolean is module_utils/parsing/convert_bool.boolean as the 2.14 type checker uses it.
func Boolean(v any) (bool, error) {
	b, err := toBool(v)
	if err != nil {
		return false, err
	}
	return b.(bool), nil
}

func toBool(v any) (any, error) {
	switch t := v.(type) {
	case bool:
		return t, nil
	case string:
		n := strings.ToLower(pyvalue.Strip(t))
		if pyvalue.Contains(booleansTrue, n) {
			return true, nil
		}
		if pyvalue.Contains(booleansFalse, n) {
			return false, nil
		}
		return nil, fmt.Errorf("The value '%s' is not a valid boolean.  Valid booleans include: %s", t, validBooleans)
	case int64, int, float64:
		if pyvalue.Contains(booleansTrue, t) {
			return true, nil
		}
		if pyvalue.Contains(booleansFalse, t) {
			return false, nil
		}
		return nil, fmt.Errorf("The value '%s' is not a valid boolean.  Valid booleans include: %s", pyvalue.Str(t), validBooleans)
	}
	return nil, fmt.Errorf("%s cannot be converted to a bool", pyvalue.Class(v))
}

// pyIntLiteral matches what Python's int(str) accepts (ASCII digits, underscores between digits).
var pyIntLiteral = regexp.MustCompile(`^[+-]?[0-9](?:_?[0-9])*$`)

func toInt(v any) (any, error) {
	switch t := v.(type) {
	case int64, int, bool: // Python: bool is an int and passes as is
		return t, nil
	case string:
		s := pyvalue.ASCIIDigits(pyvalue.NumberStrip(t))
		if pyIntLiteral.MatchString(s) {
			if i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64); err == nil {
				return i, nil
			}
		}
	}
	return nil, fmt.Errorf("%s cannot be converted to an int", pyvalue.Class(v))
}

var pyFloatLiteral = regexp.MustCompile(`^[+-]?(?:(?:[0-9](?:_?[0-9])*)?\.?[0-9](?:_?[0-9])*\.?|[0-9](?:_?[0-9])*\.)(?:[eE][+-]?[0-9](?:_?[0-9])*)?$|^[+-]?(?i:inf|infinity|nan)$`)

func toFloat(v any) (any, error) {
	if f, ok := pyvalue.Number(v); ok { // a bool, an int or a float
		return f, nil
	}
	if t, ok := v.(string); ok {
		s := pyvalue.ASCIIDigits(pyvalue.NumberStrip(t))
		if pyFloatLiteral.MatchString(s) {
			if f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil || errors.Is(err, strconv.ErrRange) {
				return f, nil
			}
		}
	}
	return nil, fmt.Errorf("%s cannot be converted to a float", pyvalue.Class(v))
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
		return []any{pyvalue.Str(t)}, nil
	}
	return nil, fmt.Errorf("%s cannot be converted to a list", pyvalue.Class(v))
}

func toDict(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		return t, nil
	case string:
		if strings.HasPrefix(t, "{") {
			if d, err := pyvalue.DecodeJSON([]byte(t)); err == nil {
				return d, nil
			}
			for _, re := range safeEvalPassthrough {
				if re.MatchString(t) {
					return t, nil // safe_eval declines and returns the string itself
				}
			}
			d, err := pyvalue.LiteralEval(t)
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
	return nil, fmt.Errorf("%s cannot be converted to a dict", pyvalue.Class(v))
}

// keyValueDict is check_type_dict's k=v parser: fields split on ',' or ' ' outside quotes,
// backslash escapes the next character, values stay strings.
func keyValueDict(s string) (any, error) {
	var fields []string
	var buf []rune
	var inQuote rune
	inEscape := false
	for _, c := range pyvalue.Strip(s) {
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
		return pyvalue.Strip(t), nil
	case []any, map[string]any:
		// jsonify: json.dumps with its default separators and ensure_ascii
		return pyvalue.Dumps(t)
	}
	return nil, fmt.Errorf("%s cannot be converted to a json string", pyvalue.Class(v))
}

var humanSize = regexp.MustCompile(`^\s*(\d*\.?\d*)\s*([A-Za-z]+)?`)

// sizeRanges are human_to_bytes's unit letters and their multipliers (powers of 1024).
const sizeRanges = "BKMGTPEZY"

// humanToBytes is ansible's human_to_bytes(str(v), isbits=isBits): it parses the Python
// str() of any value, so a bool or a negative number is an error; a number with no unit
// is bytes (or bits); the result is rounded half to even, as Python's round().
func humanToBytes(v any, isBits bool) (int64, error) {
	s := pyvalue.Str(v)
	m := humanSize.FindStringSubmatch(s)
	num, err := strconv.ParseFloat(m[1], 64)
	if m[1] == "" || err != nil {
		return 0, fmt.Errorf("human_to_bytes() can't interpret following number: %s (original input string: %s)", m[1], s)
	}
	unit := m[2]
	if unit == "" {
		return roundInt(num)
	}
	p := strings.IndexByte(sizeRanges, strings.ToUpper(unit[:1])[0])
	if p < 0 {
		return 0, fmt.Errorf("human_to_bytes() failed to convert %s (unit = %s)", s, unit)
	}
	if len(unit) > 1 {
		class, className := "B", "byte"
		if isBits {
			class, className = "b", "bit"
		}
		if !strings.Contains(strings.ToLower(unit), className) && unit[1:2] != class {
			return 0, fmt.Errorf("human_to_bytes() failed to convert %s. Value is not a valid string", s)
		}
	}
	return roundInt(num * math.Pow(1024, float64(p)))
}

// roundInt is Python's int(round(f)) within the range of int64.
func roundInt(f float64) (int64, error) {
	r := math.RoundToEven(f)
	if math.IsInf(r, 0) || math.IsNaN(r) || r >= 1<<63 || r < -(1<<63) {
		return 0, fmt.Errorf("%v is out of range", f)
	}
	return int64(r), nil
}

// expandPath is check_type_path's os.path.expanduser(os.path.expandvars(s)), as the
// executing user sees it.
func expandPath(s string) string {
	return expandUser(expandVars(s))
}

// varRef is posixpath's _varprog: $name or ${anything}, name in ASCII word characters.
var varRef = regexp.MustCompile(`\$([A-Za-z0-9_]+|\{[^}]*\})`)

// expandVars is posixpath.expandvars: known variables are replaced, unknown ones kept as
// written.
func expandVars(s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	for i := 0; i <= len(s); {
		loc := varRef.FindStringSubmatchIndex(s[i:])
		if loc == nil {
			break
		}
		start, end := i+loc[0], i+loc[1]
		name := s[i+loc[2] : i+loc[3]]
		if strings.HasPrefix(name, "{") && strings.HasSuffix(name, "}") {
			name = name[1 : len(name)-1]
		}
		value, ok := os.LookupEnv(name)
		if !ok {
			i = end
			continue
		}
		s = s[:start] + value + s[end:]
		i = start + len(value)
	}
	return s
}

// expandUser is posixpath.expanduser: ~ is $HOME (or the password database's entry of the
// current user when HOME is unset), ~name is name's home; an unknown user keeps the path.
func expandUser(s string) string {
	if !strings.HasPrefix(s, "~") {
		return s
	}
	i := strings.IndexByte(s[1:], '/') + 1
	if i == 0 {
		i = len(s)
	}
	var home string
	if i == 1 {
		h, ok := os.LookupEnv("HOME")
		if !ok {
			u, err := user.LookupId(strconv.Itoa(os.Getuid()))
			if err != nil {
				return s
			}
			h = u.HomeDir
		}
		home = h
	} else {
		u, err := user.Lookup(s[1:i])
		if err != nil {
			return s
		}
		home = u.HomeDir
	}
	out := strings.TrimRight(home, "/") + s[i:]
	if out == "" {
		return "/"
	}
	return out
}
