// Package ansible implements Ansible's binary-module protocol for Go modules: it reads the
// JSON arguments file named by argv[1], validates the arguments against a typed spec with the
// semantics and messages of ansible-core 2.14's AnsibleModule, runs the module, masks no_log
// values, and prints exactly one JSON result object on stdout. The same spec renders the
// module's sidecar documentation.
package ansible

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
	Name          string
	Type          Type // Str when empty
	Elements      Type // element type of a List
	Required      bool
	Default       any
	Choices       []any
	Aliases       []string
	NoLog         bool
	EnvFallback   []string // environment variables tried, in order, when the option is absent
	Options       []Option // sub-options of a Dict or of a List of Dict
	ApplyDefaults bool     // an absent Dict becomes {} so that sub-option defaults apply
	Rules                  // constraints between sub-options

	// Documentation only.
	Description  []string
	VersionAdded string
}

// Rules are the constraints between the options of one spec level.
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

func (o Option) typ() Type {
	if o.Type == "" {
		return Str
	}
	return o.Type
}

func (o Option) hasSubSpec() bool {
	return len(o.Options) > 0 && (o.typ() == Dict || (o.typ() == List && o.Elements == Dict))
}
