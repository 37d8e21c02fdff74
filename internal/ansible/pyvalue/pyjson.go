package pyvalue

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Dumps encodes a generic value (nil, bool, int64, float64, string, []any, map[string]any)
// as Python's json.dumps does with its default arguments: ", " and ": " separators, floats
// as repr (1.0 stays 1.0), NaN and Infinity as bare words, and non-ASCII escaped as \uXXXX.
// Map keys are sorted: Go maps keep no order.
func Dumps(v any) (string, error) {
	var b strings.Builder
	if err := encodePy(&b, v, true, ", ", ": "); err != nil {
		return "", err
	}
	return b.String(), nil
}

// EncodeCompact encodes a module result on one line: compact, UTF-8, floats as Python
// prints them so the controller reads back the same types.
func EncodeCompact(v any) ([]byte, error) {
	var b strings.Builder
	if err := encodePy(&b, v, false, ",", ":"); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

func encodePy(b *strings.Builder, v any, ascii bool, comma, colon string) error {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if t {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case int64:
		b.WriteString(strconv.FormatInt(t, 10))
	case int:
		b.WriteString(strconv.Itoa(t))
	case float64:
		switch {
		case math.IsNaN(t):
			b.WriteString("NaN")
		case math.IsInf(t, 1):
			b.WriteString("Infinity")
		case math.IsInf(t, -1):
			b.WriteString("-Infinity")
		default:
			b.WriteString(pyFloat(t))
		}
	case string:
		writePyString(b, t, ascii)
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteString(comma)
			}
			if err := encodePy(b, e, ascii, comma, colon); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(comma)
			}
			writePyString(b, k, ascii)
			b.WriteString(colon)
			if err := encodePy(b, t[k], ascii, comma, colon); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("cannot encode %T as JSON", v)
	}
	return nil
}

// writePyString writes s as a JSON string with json.dumps's escapes; with ascii every
// non-ASCII character is escaped as well (ensure_ascii).
func writePyString(b *strings.Builder, s string, ascii bool) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (ascii && r == 0x7f):
			fmt.Fprintf(b, `\u%04x`, r)
		case ascii && r > 0x7f:
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
