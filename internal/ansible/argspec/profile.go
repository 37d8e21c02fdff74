package argspec

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"github.com/business-operations/bo.microvm/internal/ansible/pyvalue"
)

// Profile is the ansible-core release whose AnsibleModule a run imitates. A Python module
// runs with the controller's own module_utils, so a Go module follows the controller that
// runs it, as _ansible_version names it: 2.14 semantics (the default, and every release
// before 2.19), or those of 2.19, whose type checks, messages and masking changed.
// Releases 2.15 to 2.18 are treated as 2.14; only 2.14 and 2.19 are tested against.
type Profile struct {
	v219 bool
}

// ProfileFor returns the profile for an ansible-core version such as "2.19.11".
func ProfileFor(version string) Profile {
	major, rest, _ := strings.Cut(version, ".")
	minor, _, _ := strings.Cut(rest, ".")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return Profile{}
	}
	return Profile{v219: ma > 2 || ma == 2 && mi >= 19}
}

// Is219 says whether the profile is 2.19's: the protocol keeps each warning once and never
// masks booleans and nulls.
func (p Profile) Is219() bool { return p.v219 }

// Validate is the package's Validate as the profile's release does it.
func (p Profile) Validate(spec Spec, params map[string]any) *Validation {
	return validate(p, spec, params)
}

// typeName is how messages name the type of v: "<class 'str'>" until 2.18, "str" from 2.19.
func (p Profile) typeName(v any) string {
	if p.v219 {
		return pyvalue.TypeName(v)
	}
	return pyvalue.Class(v)
}

// checksNull says whether a null value is type-checked: from 2.19 when the option is
// required or has a default; before, never.
func (p Profile) checksNull(o Option) bool {
	return p.v219 && (o.Required || o.Default != nil)
}

// convert applies the type checker of t to v.
func (p Profile) convert(t Type, v any) (any, error) {
	if !p.v219 {
		return convert(t, v)
	}
	switch t {
	case Str, "", Path:
		if v == nil { // 2.19's check_type_str: None is ''
			v = ""
		}
		return convert(t, v)
	case Int:
		return toInt219(v)
	case Bool:
		b, err := toBool(v)
		if err != nil {
			return nil, errors.New(strings.Replace(err.Error(), "boolean.  Valid", "boolean. Valid", 1))
		}
		return b, nil
	case Dict:
		return toDict219(v)
	case Bytes, Bits:
		n, err := humanToBytes219(v, t == Bits)
		if err != nil {
			unit := "Byte"
			if t == Bits {
				unit = "Bit"
			}
			return nil, fmt.Errorf("%s cannot be converted to a %s value", pyvalue.Class(v), unit)
		}
		return n, nil
	}
	return convert(t, v)
}

// pyDecimalLiteral is the syntax of Python's Decimal(str) for finite numbers, once its
// underscores are removed (Decimal drops them wherever they are: "_1" is 1).
var pyDecimalLiteral = regexp.MustCompile(`^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$`)

// toInt219 is 2.19's check_type_int: anything int(Decimal(value)) turns into an int
// without a decimal part ("1.0", 2.0, "1e3"); a bool stays as it is.
func toInt219(v any) (any, error) {
	fail := func() (any, error) {
		return nil, fmt.Errorf(`"%s" cannot be converted to an int`, pyvalue.Repr(v))
	}
	var r *big.Rat
	switch t := v.(type) {
	case int64, int, bool:
		return t, nil
	case float64:
		var ok bool
		if r, ok = new(big.Rat).SetString(strconv.FormatFloat(t, 'g', -1, 64)); !ok {
			return fail() // inf and nan
		}
	case string:
		s := strings.ReplaceAll(pyvalue.ASCIIDigits(pyvalue.Strip(t)), "_", "") // Decimal strips as str.strip() does
		if !pyDecimalLiteral.MatchString(s) {
			return fail()
		}
		var ok bool
		if r, ok = new(big.Rat).SetString(s); !ok {
			return fail()
		}
	default:
		return fail()
	}
	if !r.IsInt() || !r.Num().IsInt64() {
		return fail()
	}
	return r.Num().Int64(), nil
}

// toDict219 is 2.19's check_type_dict: a "{" string must be JSON or a Python literal that
// is a dict, and a key=value field without "=" has its own message.
func toDict219(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return toDict(v)
	}
	if strings.HasPrefix(s, "{") {
		if d, err := pyvalue.DecodeJSON([]byte(s)); err == nil {
			return d, nil
		}
		if d, err := pyvalue.LiteralEval(s); err == nil {
			if _, isDict := d.(map[string]any); isDict {
				return d, nil
			}
		}
		return nil, errors.New("unable to evaluate string as dictionary")
	}
	if strings.Contains(s, "=") {
		d, err := keyValueDict(s)
		if err != nil {
			return nil, errors.New(`unable to evaluate string in the "key=value" format as dictionary`)
		}
		return d, nil
	}
	return toDict(v)
}

var humanSize219 = regexp.MustCompile(`^([0-9]*\.?[0-9]+)(?:\s*([A-Za-z]+))?\s*$`)

// unitNames are 2.19's VALID_UNITS: the long and short spelling of each unit, for bytes
// and for bits.
var unitNames = map[byte][2][2]string{
	'B': {{"byte", "B"}, {"bit", "b"}},
	'K': {{"kilobyte", "KB"}, {"kilobit", "Kb"}},
	'M': {{"megabyte", "MB"}, {"megabit", "Mb"}},
	'G': {{"gigabyte", "GB"}, {"gigabit", "Gb"}},
	'T': {{"terabyte", "TB"}, {"terabit", "Tb"}},
	'P': {{"petabyte", "PB"}, {"petabit", "Pb"}},
	'E': {{"exabyte", "EB"}, {"exabit", "Eb"}},
	'Z': {{"zetabyte", "ZB"}, {"zetabit", "Zb"}},
	'Y': {{"yottabyte", "YB"}, {"yottabit", "Yb"}},
}

// humanToBytes219 is 2.19's human_to_bytes: the whole string must match, and a unit of
// more than one letter must be spelled exactly ("KB", "Kb") or in full ("kilobyte").
func humanToBytes219(v any, isBits bool) (int64, error) {
	s := pyvalue.Str(v)
	m := humanSize219.FindStringSubmatch(s)
	if m == nil {
		return 0, errors.New("can't interpret")
	}
	num, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, err
	}
	unit := m[2]
	if unit == "" {
		return roundInt(num)
	}
	key := strings.ToUpper(unit[:1])[0]
	p := strings.IndexByte(sizeRanges, key)
	if p < 0 {
		return 0, errors.New("unknown unit")
	}
	if len(unit) > 1 {
		names := unitNames[key][0]
		if isBits {
			names = unitNames[key][1]
		}
		if strings.ToLower(unit) != names[0] && unit != names[1] {
			return 0, errors.New("bad unit")
		}
	}
	return roundInt(num * pow1024(p))
}

func pow1024(p int) float64 {
	f := 1.0
	for ; p > 0; p-- {
		f *= 1024
	}
	return f
}
