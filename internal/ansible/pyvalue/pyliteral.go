package pyvalue

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// LiteralEval is what check_type_dict does with a string that starts with "{" and is no JSON:
// ast.literal_eval for the literals it knows (dicts, lists, tuples, sets, strings and bytes
// with their prefixes and escapes, ints in any base, floats, a sign, True, False, None). Tuples
// and sets become lists (as they do in the module's JSON result); dict keys become the
// strings json.dumps makes of them. Like check_type_dict, it does not insist on a dict:
// "{1, 2}" is a set, returned as a list.
func LiteralEval(s string) (any, error) {
	p := &litParser{s: s}
	v, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.space()
	if strings.TrimRight(p.s[p.i:], " \t\n\r\f") != "" {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

type litParser struct {
	s     string
	i     int
	depth int
}

// space skips blanks, and inside brackets newlines, continuations and comments too.
func (p *litParser) space() {
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == ' ' || c == '\t' || c == '\f':
			p.i++
		case c == '\\' && p.i+1 < len(p.s) && p.s[p.i+1] == '\n':
			p.i += 2
		case p.depth > 0 && (c == '\n' || c == '\r'):
			p.i++
		case p.depth > 0 && c == '#':
			for p.i < len(p.s) && p.s[p.i] != '\n' {
				p.i++
			}
		default:
			return
		}
	}
}

func (p *litParser) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// expr is the whole expression: a value, or a tuple without brackets.
func (p *litParser) expr() (any, error) {
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	if p.peek() != ',' {
		return v, nil
	}
	out := []any{v}
	for p.peek() == ',' {
		p.i++
		if c := p.peek(); c == ')' || c == 0 {
			break
		}
		e, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func (p *litParser) value() (any, error) {
	if p.depth > 100 {
		return nil, errors.New("too deeply nested")
	}
	switch c := p.peek(); {
	case c == 0:
		return nil, errors.New("unexpected end")
	case c == '{':
		return p.dict()
	case c == '[':
		return p.seq('[', ']')
	case c == '(':
		return p.paren()
	case c == '\'' || c == '"':
		return p.strings()
	case c == '+' || c == '-':
		p.i++
		v, err := p.number()
		if err != nil {
			return nil, err
		}
		if c == '-' {
			switch t := v.(type) {
			case int64:
				return -t, nil
			case float64:
				return -t, nil
			}
		}
		return v, nil
	case c >= '0' && c <= '9' || c == '.':
		return p.number()
	default:
		return p.name()
	}
}

func (p *litParser) dict() (any, error) {
	p.i++
	p.depth++
	defer func() { p.depth-- }()
	if p.peek() == '}' {
		p.i++
		return map[string]any{}, nil
	}
	first, err := p.value()
	if err != nil {
		return nil, err
	}
	if p.peek() != ':' { // a set: {a, b}
		return p.after(first, '}')
	}
	out := map[string]any{}
	var keys []any // Python merges equal keys (1, 1.0 and True), keeping the first one
	k := first
	for {
		if p.peek() != ':' {
			return nil, errors.New("expected ':'")
		}
		p.i++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		for _, seen := range keys {
			if _, isNum := Number(seen); isNum && Equal(seen, k) {
				k = seen
				break
			}
		}
		keys = append(keys, k)
		key, err := jsonKey(k)
		if err != nil {
			return nil, err
		}
		out[key] = v
		if p.peek() == ',' {
			p.i++
		} else if p.peek() != '}' {
			return nil, errors.New("expected ',' or '}'")
		}
		if p.peek() == '}' {
			p.i++
			return out, nil
		}
		if k, err = p.value(); err != nil {
			return nil, err
		}
	}
}

// jsonKey is the key json.dumps writes for a Python dict key.
func jsonKey(k any) (string, error) {
	switch t := k.(type) {
	case string:
		return t, nil
	case nil:
		return "null", nil
	case bool:
		if t {
			return "true", nil
		}
		return "false", nil
	case int64, float64:
		s, err := Dumps(t)
		return s, err
	}
	return "", fmt.Errorf("unhashable or unsupported key %s", Str(k))
}

func (p *litParser) seq(open, closing byte) (any, error) {
	p.i++
	p.depth++
	defer func() { p.depth-- }()
	out := []any{}
	for {
		if p.peek() == closing {
			p.i++
			return out, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		switch p.peek() {
		case ',':
			p.i++
		case closing:
		default:
			return nil, fmt.Errorf("expected ',' or %q", closing)
		}
	}
}

// paren is a parenthesized value, or a tuple: (), (1,), (1, 2).
func (p *litParser) paren() (any, error) {
	p.i++
	p.depth++
	defer func() { p.depth-- }()
	if p.peek() == ')' {
		p.i++
		return []any{}, nil
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	if p.peek() == ')' {
		p.i++
		return v, nil
	}
	return p.after(v, ')')
}

// after reads the rest of a set or tuple whose first element is read: ", e" up to closing,
// a trailing comma allowed.
func (p *litParser) after(first any, closing byte) (any, error) {
	out := []any{first}
	for p.peek() == ',' {
		p.i++
		if p.peek() == closing {
			break
		}
		e, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if p.peek() != closing {
		return nil, fmt.Errorf("expected '%c'", closing)
	}
	p.i++
	return out, nil
}

var (
	pyDecimal = regexp.MustCompile(`^(?:0(?:_?0)*|[1-9](?:_?[0-9])*)`)
	pyHex     = regexp.MustCompile(`^0[xX](?:_?[0-9a-fA-F])+`)
	pyOct     = regexp.MustCompile(`^0[oO](?:_?[0-7])+`)
	pyBin     = regexp.MustCompile(`^0[bB](?:_?[01])+`)
	pyFloatRe = regexp.MustCompile(`^(?:(?:[0-9](?:_?[0-9])*)?\.[0-9](?:_?[0-9])*|[0-9](?:_?[0-9])*\.?)(?:[eE][+-]?[0-9](?:_?[0-9])*)?`)
)

// number reads a Python int or float literal.
func (p *litParser) number() (any, error) {
	p.space()
	rest := p.s[p.i:]
	for _, b := range []struct {
		re   *regexp.Regexp
		base int
	}{{pyHex, 16}, {pyOct, 8}, {pyBin, 2}} {
		if m := b.re.FindString(rest); m != "" {
			p.i += len(m)
			return p.intValue(strings.ReplaceAll(m[2:], "_", ""), b.base)
		}
	}
	f := pyFloatRe.FindString(rest)
	d := pyDecimal.FindString(rest)
	if f == "" {
		return nil, errors.New("malformed number")
	}
	if len(d) == len(f) {
		p.i += len(d)
		return p.intValue(strings.ReplaceAll(d, "_", ""), 10)
	}
	if !strings.ContainsAny(f, ".eE") { // digits with leading zeros, e.g. 007
		return nil, errors.New("leading zeros in a decimal integer literal")
	}
	p.i += len(f)
	if p.i < len(p.s) && (p.s[p.i] == 'j' || p.s[p.i] == 'J') {
		return nil, errors.New("complex numbers are not supported")
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(f, "_", ""), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, err
	}
	return v, nil
}

func (p *litParser) intValue(digits string, base int) (any, error) {
	if p.i < len(p.s) && (p.s[p.i] == 'j' || p.s[p.i] == 'J') {
		return nil, errors.New("complex numbers are not supported")
	}
	n, ok := new(big.Int).SetString(digits, base)
	if !ok {
		return nil, errors.New("malformed number")
	}
	if !n.IsInt64() {
		f, _ := new(big.Float).SetInt(n).Float64()
		if math.IsInf(f, 0) {
			return nil, errors.New("integer out of range")
		}
		return f, nil
	}
	return n.Int64(), nil
}

// name reads True, False or None, or a string with a prefix (r, u, b, ...).
func (p *litParser) name() (any, error) {
	start := p.i
	for p.i < len(p.s) && (isWordByte(p.s[p.i]) || p.s[p.i] >= 0x80) {
		p.i++
	}
	word := p.s[start:p.i]
	switch word {
	case "True":
		return true, nil
	case "False":
		return false, nil
	case "None":
		return nil, nil
	}
	if p.i < len(p.s) && (p.s[p.i] == '\'' || p.s[p.i] == '"') {
		switch strings.ToLower(word) {
		case "r", "u", "b", "br", "rb": // bytes end up as text in the module's JSON
			p.i = start
			return p.strings()
		}
	}
	return nil, fmt.Errorf("malformed node or string: %q", word)
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// strings reads one or more adjacent string literals, which Python concatenates.
func (p *litParser) strings() (any, error) {
	var b strings.Builder
	n, bytesLits := 0, 0
	for {
		p.space()
		start := p.i
		raw, isBytes := false, false
		for p.i < len(p.s) && strings.IndexByte("rRuUbB", p.s[p.i]) >= 0 && p.i-start < 2 {
			switch p.s[p.i] {
			case 'r', 'R':
				raw = true
			case 'b', 'B':
				isBytes = true
			}
			p.i++
		}
		if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
			p.i = start
			break
		}
		s, err := p.str(raw)
		if err != nil {
			return nil, err
		}
		b.WriteString(s)
		n++
		if isBytes {
			bytesLits++
		}
	}
	if n == 0 {
		return nil, errors.New("expected a string")
	}
	if bytesLits > 0 && bytesLits < n {
		return nil, errors.New("cannot mix bytes and nonbytes literals")
	}
	return b.String(), nil
}

// str reads one quoted literal, single or triple quoted, with Python's escapes.
func (p *litParser) str(raw bool) (string, error) {
	q := p.s[p.i : p.i+1]
	if strings.HasPrefix(p.s[p.i:], q+q+q) {
		q = q + q + q
	}
	p.i += len(q)
	var b strings.Builder
	for p.i < len(p.s) {
		if strings.HasPrefix(p.s[p.i:], q) {
			p.i += len(q)
			return b.String(), nil
		}
		c := p.s[p.i]
		if c == '\n' && len(q) == 1 {
			return "", errors.New("unterminated string")
		}
		if c != '\\' || p.i+1 >= len(p.s) {
			r, size := utf8.DecodeRuneInString(p.s[p.i:])
			b.WriteRune(r)
			p.i += size
			continue
		}
		if raw {
			b.WriteByte('\\')
			b.WriteByte(p.s[p.i+1])
			p.i += 2
			continue
		}
		p.i++
		e := p.s[p.i]
		p.i++
		switch e {
		case '\n':
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := p.i - 1
			for p.i < len(p.s) && p.i-j < 3 && p.s[p.i] >= '0' && p.s[p.i] <= '7' {
				p.i++
			}
			n, _ := strconv.ParseUint(p.s[j:p.i], 8, 32)
			b.WriteRune(rune(n))
		case 'x', 'u', 'U':
			width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if p.i+width > len(p.s) {
				return "", fmt.Errorf("truncated \\%c escape", e)
			}
			n, err := strconv.ParseUint(p.s[p.i:p.i+width], 16, 32)
			if err != nil || n > utf8.MaxRune {
				return "", fmt.Errorf("bad \\%c escape", e)
			}
			b.WriteRune(rune(n))
			p.i += width
		case 'N':
			return "", errors.New("\\N{...} escapes are not supported")
		default: // unknown escapes keep their backslash
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return "", errors.New("unterminated string")
}
