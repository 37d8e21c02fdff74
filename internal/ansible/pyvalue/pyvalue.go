// Package pyvalue emulates the Python values an Ansible module sees and prints: JSON read
// and written as Python's json module does (int and float told apart, NaN and Infinity as
// bare words, floats as repr), ast.literal_eval of dict literals, str() and repr(), class
// and type names as messages print them, equality, and the whitespace and digit rules of
// Python's int() and float(). It knows nothing of Ansible; internal/ansible/argspec and the
// protocol in internal/ansible build on it.
package pyvalue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Values decoded from the args file are nil, bool, int64, float64, string, []any or
// map[string]any, mirroring what Python's json module produces (int and float are told
// apart by the literal, as Python does).

// DecodeJSON decodes one JSON value with Python's int/float distinction. Like Python's
// json.loads it accepts NaN, Infinity and -Infinity, which json.dumps writes for such
// floats (a YAML .nan in a task, say).
func DecodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(pythonNumberWords(data)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("extra data after the JSON value")
	}
	return normalizeNumbers(v), nil
}

// nanLiteral stands for NaN while encoding/json reads a document: a number no JSON
// encoder writes (Python writes a zero as 0.0).
const nanLiteral = "0.0e-0999999999"

// pythonNumberWords rewrites the bare words NaN, Infinity and -Infinity outside strings as
// numbers encoding/json reads: 1e999999 overflows to infinity, nanLiteral becomes NaN.
func pythonNumberWords(b []byte) []byte {
	if !bytes.Contains(b, []byte("NaN")) && !bytes.Contains(b, []byte("Infinity")) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			out = append(out, c)
			continue
		}
		switch {
		case c == '"':
			inString = true
		case bytes.HasPrefix(b[i:], []byte("NaN")):
			out = append(out, nanLiteral...)
			i += len("NaN") - 1
			continue
		case bytes.HasPrefix(b[i:], []byte("Infinity")):
			out = append(out, "1e999999"...)
			i += len("Infinity") - 1
			continue
		}
		out = append(out, c)
	}
	return out
}

func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		s := string(t)
		if s == nanLiteral {
			return math.NaN()
		}
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i
			}
		}
		f, _ := strconv.ParseFloat(s, 64)
		return f
	case []any:
		for i := range t {
			t[i] = normalizeNumbers(t[i])
		}
		return t
	case map[string]any:
		for k := range t {
			t[k] = normalizeNumbers(t[k])
		}
		return t
	}
	return v
}

// Class is Python's repr of type(v), as ansible-core puts it into messages.
func Class(v any) string {
	switch v.(type) {
	case nil:
		return "<class 'NoneType'>"
	case bool:
		return "<class 'bool'>"
	case int, int64:
		return "<class 'int'>"
	case float64:
		return "<class 'float'>"
	case string:
		return "<class 'str'>"
	case []any:
		return "<class 'list'>"
	case map[string]any:
		return "<class 'dict'>"
	}
	return fmt.Sprintf("<class '%T'>", v)
}

// TypeName is Python's type(v).__name__.
func TypeName(v any) string {
	c := Class(v)
	return strings.TrimSuffix(strings.TrimPrefix(c, "<class '"), "'>")
}

// Str is Python's str(v).
func Str(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return "None"
	case bool:
		if t {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case float64:
		return pyFloat(t)
	}
	return Repr(v)
}

// pyFloat is Python's repr of a float.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}

// Repr is Python's repr(v) for the JSON value kinds.
func Repr(v any) string {
	switch t := v.(type) {
	case string:
		return pyReprString(t)
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = Repr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := slices.Sorted(maps.Keys(t))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyReprString(k) + ": " + Repr(t[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return Str(v)
}

func pyReprString(s string) string {
	quote := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(quote):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsPrint(r) && r > 0xff && r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		case !unicode.IsPrint(r) && r > 0xffff:
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}

// Equal is Python's == between JSON values (1 == 1.0 == True).
func Equal(a, b any) bool { return alike(a, b, equalScalar) }

func equalScalar(a, b any) bool {
	if fa, ok := Number(a); ok {
		fb, ok := Number(b)
		return ok && fa == fb
	}
	switch ta := a.(type) {
	case nil:
		return b == nil
	case string:
		tb, ok := b.(string)
		return ok && ta == tb
	}
	return false
}

// alike walks a and b together, as Python compares lists and dicts: lists of one length
// element by element, dicts of one size key by key (every key of a in b); leaf decides
// for everything else. Equal and SameKinds differ only in their leaf.
func alike(a, b any, leaf func(a, b any) bool) bool {
	switch ta := a.(type) {
	case []any:
		tb, ok := b.([]any)
		if !ok || len(ta) != len(tb) {
			return false
		}
		for i := range ta {
			if !alike(ta[i], tb[i], leaf) {
				return false
			}
		}
		return true
	case map[string]any:
		tb, ok := b.(map[string]any)
		if !ok || len(ta) != len(tb) {
			return false
		}
		for k, v := range ta {
			w, ok := tb[k]
			if !ok || !alike(v, w, leaf) {
				return false
			}
		}
		return true
	}
	return leaf(a, b)
}

// Number is the float value of a bool, an int or a float (Python's float() of it), and false
// for anything else.
func Number(v any) (float64, bool) {
	switch t := v.(type) {
	case bool:
		if t {
			return 1, true
		}
		return 0, true
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	case float64:
		return t, true
	}
	return 0, false
}

func Contains(list []any, v any) bool {
	for _, e := range list {
		if Equal(e, v) {
			return true
		}
	}
	return false
}

// DeepCopy copies a decoded JSON value so validation never aliases the caller's data.
func DeepCopy(v any) any {
	switch t := v.(type) {
	case []any:
		out := make([]any, len(t))
		for i := range t {
			out[i] = DeepCopy(t[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = DeepCopy(e)
		}
		return out
	}
	return v
}

// pyIsSpace is Python's str.isspace for one character, which str.strip() strips.
func pyIsSpace(r rune) bool {
	switch {
	case r == ' ' || r >= '\t' && r <= '\r' || r >= 0x1c && r <= 0x1f:
		return true
	case r < 0x80:
		return false
	}
	return r == 0x85 || unicode.IsSpace(r)
}

// Strip is Python's str.strip().
func Strip(s string) string { return strings.TrimFunc(s, pyIsSpace) }

// NumberStrip is what int() and float() strip from a string: Python's whitespace but
// for the separators \x1c to \x1f.
func NumberStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return pyIsSpace(r) && (r < 0x1c || r > 0x1f) })
}

// ASCIIDigits replaces every Unicode decimal digit by its ASCII digit, as Python's int()
// and float() read them ("١٢" is 12).
func ASCIIDigits(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r >= 0x80 && unicode.Is(unicode.Nd, r) {
			b.WriteByte(byte('0' + digitValue(r)))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// digitValue is the value of a decimal digit: Unicode lists them in runs that start at 0.
func digitValue(r rune) int {
	for _, rg := range unicode.Nd.R16 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return int(r-rune(rg.Lo)) % 10
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return int(r-rune(rg.Lo)) % 10
		}
	}
	return 0
}

// SameKinds reports whether a and b hold the same Python types throughout (Equal alone
// takes 1, 1.0 and True as equal): differential tests compare with both.
func SameKinds(a, b any) bool {
	return alike(a, b, func(a, b any) bool { return Class(a) == Class(b) })
}
