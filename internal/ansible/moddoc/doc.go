// Package moddoc renders a Go module's sidecar documentation (plugins/modules/NAME.yml):
// DOCUMENTATION, EXAMPLES and RETURN in the YAML ansible-doc reads, from the same argument
// spec (internal/ansible/argspec) that validates the task's arguments.
package moddoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/business-operations/bo.microvm/internal/ansible/argspec"
)

// Header is the first line of every rendered sidecar file.
const Header = "# Generated from the module's Go spec by `make docs`; do not edit."

// Support says how far a module supports check or diff mode, as DOCUMENTATION's attributes do.
type Support string

// Support levels.
const (
	Full    Support = "full"
	Partial Support = "partial"
	None    Support = "none"
)

// Return documents one return value.
type Return struct {
	Name        string
	Description string
	Returned    string // "always", "success", "when changed", ...
	Type        string // str, int, bool, list, dict, ...
	Elements    string
	Sample      any
	Contains    []Return
}

// Doc is what a module's documentation says: its name, prose, options (the argument spec's),
// mode support, examples and return values.
type Doc struct {
	Name             string // e.g. "microvm_info"
	ShortDescription string
	Description      []string
	Notes            []string
	Options          []argspec.Option
	CheckMode        Support // "" is None
	DiffMode         Support
	Examples         string
	Returns          []Return
}

// Write renders m's sidecar documentation (plugins/modules/NAME.yml): DOCUMENTATION,
// EXAMPLES and RETURN.
func Write(w io.Writer, m Doc) error {
	doc := ymap{
		{"module", m.Name},
		{"short_description", m.ShortDescription},
		{"description", m.Description},
		{"version_added", "0.1.0"},
		{"author", []string{"bo.microvm developers"}},
		{"options", optionsDoc(m.Options)},
		{"attributes", ymap{
			{"check_mode", ymap{{"support", supportOr(m.CheckMode)}, {"description", "Can run in check_mode and return changed status prediction without modifying target."}}},
			{"diff_mode", ymap{{"support", supportOr(m.DiffMode)}, {"description", "Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode."}}},
			{"platform", ymap{{"support", "full"}, {"platforms", "posix"}, {"description", "Static Go binary for linux/amd64 and linux/arm64; needs no Python on the target."}}},
		}},
	}
	if len(m.Notes) > 0 {
		doc = append(doc, kv{"notes", m.Notes})
	}
	var b bytes.Buffer
	b.WriteString(Header + "\n")
	b.WriteString("DOCUMENTATION:\n")
	emitMap(&b, 1, doc)
	b.WriteString("EXAMPLES: |\n")
	for _, line := range strings.Split(strings.Trim(m.Examples, "\n"), "\n") {
		if line == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString("  " + line + "\n")
	}
	b.WriteString("RETURN:")
	if len(m.Returns) == 0 {
		b.WriteString(" {}\n")
	} else {
		b.WriteString("\n")
		emitMap(&b, 1, returnsDoc(m.Returns))
	}
	_, err := w.Write(b.Bytes())
	return err
}

func supportOr(s Support) Support {
	if s == "" {
		return None
	}
	return s
}

type kv struct {
	k string
	v any
}

// ymap is an ordered YAML mapping.
type ymap []kv

func optionsDoc(opts []argspec.Option) ymap {
	var out ymap
	for _, o := range opts {
		d := ymap{{"description", nonEmpty(o.Description, "No description.")}, {"type", string(o.EffectiveType())}}
		if o.Required {
			d = append(d, kv{"required", true})
		}
		if o.Default != nil {
			d = append(d, kv{"default", o.Default})
		}
		if o.Choices != nil {
			d = append(d, kv{"choices", o.Choices})
		}
		if len(o.Aliases) > 0 {
			d = append(d, kv{"aliases", o.Aliases})
		}
		if o.Elements != "" {
			d = append(d, kv{"elements", string(o.Elements)})
		}
		if o.NoLog {
			d = append(d, kv{"no_log", true})
		}
		if o.VersionAdded != "" {
			d = append(d, kv{"version_added", o.VersionAdded})
		}
		if len(o.Options) > 0 {
			d = append(d, kv{"suboptions", optionsDoc(o.Options)})
		}
		out = append(out, kv{o.Name, d})
	}
	return out
}

func returnsDoc(rs []Return) ymap {
	var out ymap
	for _, r := range rs {
		d := ymap{{"description", r.Description}, {"returned", r.Returned}, {"type", r.Type}}
		if r.Elements != "" {
			d = append(d, kv{"elements", r.Elements})
		}
		if r.Sample != nil {
			d = append(d, kv{"sample", r.Sample})
		}
		if len(r.Contains) > 0 {
			d = append(d, kv{"contains", returnsDoc(r.Contains)})
		}
		out = append(out, kv{r.Name, d})
	}
	return out
}

func nonEmpty(lines []string, fallback string) []string {
	if len(lines) == 0 {
		return []string{fallback}
	}
	return lines
}

func emitMap(b *bytes.Buffer, depth int, m ymap) {
	pad := strings.Repeat("  ", depth)
	for _, e := range m {
		switch v := e.v.(type) {
		case ymap:
			if len(v) == 0 {
				fmt.Fprintf(b, "%s%s: {}\n", pad, e.k)
				continue
			}
			fmt.Fprintf(b, "%s%s:\n", pad, e.k)
			emitMap(b, depth+1, v)
		case []string:
			if len(v) == 0 {
				fmt.Fprintf(b, "%s%s: []\n", pad, e.k)
				continue
			}
			fmt.Fprintf(b, "%s%s:\n", pad, e.k)
			for _, s := range v {
				fmt.Fprintf(b, "%s  - %s\n", pad, text(s, pad+"    "))
			}
		case string:
			fmt.Fprintf(b, "%s%s: %s\n", pad, e.k, text(v, pad+"  "))
		default:
			fmt.Fprintf(b, "%s%s: %s\n", pad, e.k, scalar(v))
		}
	}
}

// wrapAt keeps rendered lines short (ansible-lint's yaml rule allows 160 characters).
const wrapAt = 100

// text renders a string: JSON-quoted when short, else a folded block scalar whose lines
// (indented by indent) YAML joins back with single spaces into the same string.
func text(s, indent string) string {
	if len(s) <= wrapAt || strings.ContainsAny(s, "\n\t") || strings.Contains(s, "  ") ||
		strings.TrimSpace(s) != s {
		return scalar(s)
	}
	var lines []string
	line := ""
	for _, w := range strings.Split(s, " ") {
		if line != "" && len(line)+1+len(w) > wrapAt {
			lines = append(lines, line)
			line = w
			continue
		}
		if line == "" {
			line = w
		} else {
			line += " " + w
		}
	}
	lines = append(lines, line)
	return ">-\n" + indent + strings.Join(lines, "\n"+indent)
}

// scalar renders a value in YAML flow style with JSON-quoted strings ("[a, b]" spacing, as
// yamllint wants), which YAML reads as the same value.
func scalar(v any) string {
	switch t := v.(type) {
	case Support:
		return scalar(string(t))
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = scalar(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []string:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = scalar(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := slices.Sorted(maps.Keys(t))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = scalar(k) + ": " + scalar(t[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return `""`
	}
	return strings.TrimSuffix(buf.String(), "\n")
}
