package ansible

import (
	"io"

	"github.com/business-operations/bo.microvm/internal/ansible/argspec"
	"github.com/business-operations/bo.microvm/internal/ansible/moddoc"
)

// The spec vocabulary of argspec, so that a module's main needs this package only.
type (
	Type       = argspec.Type
	Option     = argspec.Option
	Spec       = argspec.Spec
	Rules      = argspec.Rules
	RequiredIf = argspec.RequiredIf
	Params     = argspec.Params
)

// The argument types AnsibleModule knows.
const (
	Str     = argspec.Str
	Int     = argspec.Int
	Float   = argspec.Float
	Bool    = argspec.Bool
	List    = argspec.List
	Dict    = argspec.Dict
	Path    = argspec.Path
	Raw     = argspec.Raw
	JSONArg = argspec.JSONArg
	Bytes   = argspec.Bytes
	Bits    = argspec.Bits
)

// String renders a value as Python's str() would, for messages.
func String(v any) string { return argspec.String(v) }

// ParamError is a bad-input error that names the option, for checks beyond the spec.
func ParamError(name, format string, args ...any) error {
	return argspec.ParamError(name, format, args...)
}

// The documentation vocabulary of moddoc.
type (
	Support = moddoc.Support
	Return  = moddoc.Return
)

// Support levels.
const (
	Full    = moddoc.Full
	Partial = moddoc.Partial
	None    = moddoc.None
)

// DocHeader is the first line of every rendered sidecar file.
const DocHeader = moddoc.Header

// WriteDoc renders m's sidecar documentation (plugins/modules/NAME.yml): DOCUMENTATION,
// EXAMPLES and RETURN, from the same spec that validates the arguments.
func WriteDoc(w io.Writer, m Module) error {
	return moddoc.Write(w, moddoc.Doc{
		Name:             m.Name,
		ShortDescription: m.ShortDescription,
		Description:      m.Description,
		Notes:            m.Notes,
		Options:          m.Spec.Options,
		CheckMode:        m.CheckMode,
		DiffMode:         m.DiffMode,
		Examples:         m.Examples,
		Returns:          m.Returns,
	})
}
