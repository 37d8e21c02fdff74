// Package argspec is a Go module's argument spec and its validator: the options, their
// types and the rules between them, checked and coerced with the semantics and messages of
// ansible-core's AnsibleModule (module_utils/common/arg_spec.py, parameters.py and
// validation.py), as the controller's release does it (Profile).
//
// # Fidelity
//
// Validation follows the controller that runs the module, as _ansible_version names it:
// ansible-core 2.14's module_utils below 2.19, 2.19's from 2.19 (releases 2.15 to 2.18 get
// 2.14's rules; only 2.14 and 2.19 are tested). tests/conformance runs one table of task
// arguments through both AnsibleModule and this package with real ansible-playbook; the unit
// tables were produced by ansible-core's own functions. Known differences:
//   - Go maps keep no key order: where Python renders a dict with the task's key order
//     (str() of a dict, jsonarg of a dict), keys here are sorted.
//   - Numbers are int64 or float64: an int beyond int64 is rejected (Python has big ints).
//   - Where AnsibleModule crashes with a traceback (a number given for a dict with
//     sub-options, non-string choices in a list option, a key=value sub-options string
//     without "="), this package reports an error message instead. Where a sub-option is both
//     required and has a default, and its dict also holds an unsupported key,
//     AnsibleModule dies of a ValueError "internal error: required and default are mutually
//     exclusive for NAME"; that is then the one error reported.
//   - With unsupported parameters at several levels, ansible-core lists the supported
//     parameters of a random one of them (it iterates a set); this package takes the last
//     in sorted order.
package argspec

// Type names an argument type exactly as ansible-core's argument_spec does.
type Type string

// The argument types AnsibleModule knows.
const (
	Str     Type = "str"
	Int     Type = "int"
	Float   Type = "float"
	Bool    Type = "bool"
	List    Type = "list"
	Dict    Type = "dict"
	Path    Type = "path"
	Raw     Type = "raw"
	JSONArg Type = "jsonarg"
	Bytes   Type = "bytes"
	Bits    Type = "bits"
)

// Option is one entry of an argument spec. Its zero value is an optional string option.
type Option struct {
	Name     string
	Type     Type // Str when empty
	Elements Type // element type of a List
	Required bool
	Default  any
	Choices  []any
	Aliases  []string
	// NoLog and NotSecret are the three states of no_log: unset (both false), True (NoLog:
	// the value is masked in every output) and False (NotSecret: said explicitly, so a
	// name that looks like a password gets no "Module did not set no_log" warning). NoLog
	// wins when both are set.
	NoLog         bool
	NotSecret     bool
	EnvFallback   []string // environment variables tried, in order, when the option is absent
	Options       []Option // sub-options of a Dict or of a List of Dict
	ApplyDefaults bool     // an absent Dict becomes {} so that sub-option defaults apply
	Rules                  // constraints between sub-options

	// Documentation only.
	Description  []string
	VersionAdded string
}

// Rules are the constraints between the options of one spec level, checked and reported in
// ansible-core's order: mutually exclusive groups (every violated group in one message), then,
// after required options and types, the first violated group of RequiredTogether,
// RequiredOneOf and RequiredIf, and of RequiredBy in the order of its keys.
type Rules struct {
	MutuallyExclusive [][]string
	RequiredTogether  [][]string
	RequiredOneOf     [][]string
	RequiredIf        []RequiredIf
	RequiredBy        map[string][]string
}

// RequiredIf requires Requirements (all, or one of them when Any) when Key equals Value.
type RequiredIf struct {
	Key          string
	Value        any
	Requirements []string
	Any          bool
}

// Spec is a module's whole argument spec: its options in declaration order and the rules
// between them. Order matters as in ansible-core: the first error found is the one reported.
type Spec struct {
	Options []Option
	Rules
}

// EffectiveType is the option's type, Str when none is set.
func (o Option) EffectiveType() Type { return o.typ() }

func (o Option) typ() Type {
	if o.Type == "" {
		return Str
	}
	return o.Type
}

func (o Option) hasSubSpec() bool {
	return len(o.Options) > 0 && (o.typ() == Dict || (o.typ() == List && o.Elements == Dict))
}
