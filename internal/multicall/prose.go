package multicall

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/business-operations/bo.microvm/internal/ansible"
)

// A module's doc file (modules/NAME/doc.yml, embedded with go:embed) holds its prose, so that
// the Go spec beside it reads in one screen:
//
//	short_description: One line
//	description: [paragraph, ...]
//	notes: [paragraph, ...]                       # optional
//	options:                                      # one entry per spec option, no more, no less
//	  NAME: paragraph, or [paragraph, ...]
//	  NAME: {description: ..., suboptions: {...}} # for an option with sub-options
//	examples: |
//	  - name: ...
//	returns:                                      # as in RETURN, in the order shown
//	  NAME: {description, returned, type, elements, sample, contains}
//
// Markup is ansible-doc's: C(), I(), M(), U(), L(), B(). Not O(), V(), RV(), E() or P():
// ansible-core 2.14 prints those raw.
type proseDoc struct {
	ShortDescription string         `yaml:"short_description"`
	Description      lines          `yaml:"description"`
	Notes            lines          `yaml:"notes"`
	Options          yaml.Node      `yaml:"options"`
	Examples         string         `yaml:"examples"`
	Returns          yaml.Node      `yaml:"returns"`
	Unknown          map[string]any `yaml:",inline"`
}

// lines is a paragraph or a list of paragraphs.
type lines []string

func (l *lines) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = lines{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

func applyProse(m *ansible.Module, doc []byte) error {
	var d proseDoc
	if err := yaml.Unmarshal(doc, &d); err != nil {
		return err
	}
	if len(d.Unknown) > 0 {
		return fmt.Errorf("unknown keys %v", keys(d.Unknown))
	}
	if d.ShortDescription == "" || len(d.Description) == 0 {
		return fmt.Errorf("short_description and description are required")
	}
	m.ShortDescription, m.Description, m.Notes = d.ShortDescription, d.Description, d.Notes
	m.Examples = "\n" + strings.Trim(d.Examples, "\n") + "\n"
	if err := describe(m.Spec.Options, &d.Options, "options"); err != nil {
		return err
	}
	rs, err := returns(&d.Returns, "returns")
	if err != nil {
		return err
	}
	m.Returns = append(m.Returns, rs...)
	return nil
}

// describe sets each option's Description from the doc's mapping, which must name exactly
// the spec's options.
func describe(opts []ansible.Option, n *yaml.Node, where string) error {
	byName := map[string]*yaml.Node{}
	if n.Kind != 0 {
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: a mapping of option names", where)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			byName[n.Content[i].Value] = n.Content[i+1]
		}
	}
	for i := range opts {
		o := &opts[i]
		v, ok := byName[o.Name]
		if !ok {
			return fmt.Errorf("%s: option %s has no description", where, o.Name)
		}
		delete(byName, o.Name)
		var sub yaml.Node
		if v.Kind == yaml.MappingNode {
			var e struct {
				Description lines     `yaml:"description"`
				Suboptions  yaml.Node `yaml:"suboptions"`
			}
			if err := v.Decode(&e); err != nil {
				return fmt.Errorf("%s.%s: %v", where, o.Name, err)
			}
			o.Description, sub = e.Description, e.Suboptions
		} else if err := v.Decode((*lines)(&o.Description)); err != nil {
			return fmt.Errorf("%s.%s: %v", where, o.Name, err)
		}
		if len(o.Description) == 0 {
			return fmt.Errorf("%s.%s: empty description", where, o.Name)
		}
		if len(o.Options) > 0 || sub.Kind != 0 {
			if err := describe(o.Options, &sub, where+"."+o.Name+".suboptions"); err != nil {
				return err
			}
		}
	}
	if len(byName) > 0 {
		return fmt.Errorf("%s: %v are not options of the spec", where, keys(byName))
	}
	return nil
}

func returns(n *yaml.Node, where string) ([]ansible.Return, error) {
	if n.Kind == 0 {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: a mapping of return names", where)
	}
	var out []ansible.Return
	for i := 0; i+1 < len(n.Content); i += 2 {
		name := n.Content[i].Value
		var e struct {
			Description string    `yaml:"description"`
			Returned    string    `yaml:"returned"`
			Type        string    `yaml:"type"`
			Elements    string    `yaml:"elements"`
			Sample      any       `yaml:"sample"`
			Contains    yaml.Node `yaml:"contains"`
		}
		if err := n.Content[i+1].Decode(&e); err != nil {
			return nil, fmt.Errorf("%s.%s: %v", where, name, err)
		}
		if e.Description == "" || e.Returned == "" || e.Type == "" {
			return nil, fmt.Errorf("%s.%s: description, returned and type are required", where, name)
		}
		c, err := returns(&e.Contains, where+"."+name+".contains")
		if err != nil {
			return nil, err
		}
		out = append(out, ansible.Return{Name: name, Description: e.Description, Returned: e.Returned, Type: e.Type,
			Elements: e.Elements, Sample: e.Sample, Contains: c})
	}
	return out, nil
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
