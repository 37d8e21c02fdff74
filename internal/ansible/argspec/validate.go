package argspec

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/business-operations/bo.microvm/internal/ansible/pyvalue"
)

// Validation is the outcome of validating parameters against a Spec, in the order and with
// the messages of ansible-core 2.14's ArgumentSpecValidator.validate.
type Validation struct {
	Params   map[string]any // validated, coerced; every spec key present (absent ones nil)
	Errors   []string       // every error, in ansible-core's order; AnsibleModule reports the first
	Warnings []string
	// Unsupported is true when the first error is the unsupported-parameters one, which
	// AnsibleModule prefixes with "Unsupported parameters for (NAME) module: ".
	Unsupported bool
	noLog       map[string]struct{}
	prof        Profile
	// aborted is set where AnsibleModule's validation raises instead of collecting errors
	// (a traceback): Errors then holds only that exception's message.
	aborted bool
}

// NoLogValues are the strings that must not appear in any output.
func (v *Validation) NoLogValues() []string {
	out := make([]string, 0, len(v.noLog))
	for s := range v.noLog {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Validate checks and coerces params (the task arguments without _ansible_ keys) against spec.
// It never modifies params.
func Validate(spec Spec, params map[string]any) *Validation {
	return validate(Profile{}, spec, params)
}

// checkLevel checks one level of parameters, the top or one dict of sub-options, in the order
// ansible-core checks both (ArgumentSpecValidator.validate in module_utils/common/arg_spec.py
// and _validate_sub_spec in parameters.py, ansible/ansible c9ac477, lines 228-248 and 800-820):
// mutually exclusive groups, the defaults (those not None), required options, types,
// choices, the other rules, then None for every option still absent.
func (v *Validation) checkLevel(opts []Option, rules Rules, p map[string]any, ctx []string) {
	v.check(checkMutuallyExclusive(rules.MutuallyExclusive, p, ctx))
	v.addNoLog(setDefaults(opts, p, false)...)
	v.check(checkRequired(opts, p, ctx))
	v.validateTypes(opts, p, ctx)
	v.validateValues(opts, p, ctx)
	v.additionalChecks(rules, p, ctx)
	v.addNoLog(setDefaults(opts, p, true)...)
}

// validate is Validate as the ansible-core release of prof does it.
func validate(prof Profile, spec Spec, params map[string]any) *Validation {
	p, _ := pyvalue.DeepCopy(params).(map[string]any)
	if p == nil {
		p = map[string]any{}
	}
	v := &Validation{Params: p, noLog: map[string]struct{}{}, prof: prof}
	var unsupported []string
	supported := map[string][2][]string{}

	v.addNoLog(setFallbacks(spec.Options, p)...)
	// ansible-core warns about sub-option aliases as it meets them, and about top-level
	// ones once validation is over: the top-level warnings come last.
	aliases, aliasErr := v.handleAliases(spec.Options, p, "")
	v.check(aliasErr)
	top := v.Warnings
	v.Warnings = nil
	v.noLogValues(spec.Options, p)
	if un := unsupportedParams(spec.Options, p, aliases, nil, supported); len(un) > 0 && aliasErr != nil {
		// Listing the supported parameters handles the aliases again, which raises the
		// same error again, caught as such: the unsupported ones go unreported.
		v.check(aliasErr)
	} else {
		unsupported = append(unsupported, un...)
	}
	v.checkLevel(spec.Options, spec.Rules, p, nil)
	unsupported = append(unsupported, v.validateSubSpecs(spec.Options, p, "", nil, supported)...)
	if v.aborted {
		return v
	}

	v.Warnings = append(v.Warnings, top...)
	if len(unsupported) > 0 {
		unsupported = uniqueSorted(unsupported) // a set in ansible-core: list elements repeat names
		last := unsupported[len(unsupported)-1]
		names, als := supported[last][0], supported[last][1]
		msg := strings.Join(unsupported, ", ") + ". Supported parameters include: " + strings.Join(names, ", ")
		if len(als) > 0 {
			msg += " (" + strings.Join(als, ", ") + ")"
		}
		if len(v.Errors) == 0 {
			v.Unsupported = true
		}
		v.Errors = append(v.Errors, msg+".")
	}
	return v
}

func uniqueSorted(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, e := range s {
		if i == 0 || e != s[i-1] {
			out = append(out, e)
		}
	}
	return out
}

func (v *Validation) check(err error) {
	if err != nil {
		v.Errors = append(v.Errors, err.Error())
	}
}

func (v *Validation) addNoLog(values ...string) {
	for _, s := range values {
		v.noLog[s] = struct{}{}
	}
}

func setFallbacks(opts []Option, p map[string]any) []string {
	var noLog []string
	for _, o := range opts {
		if _, ok := p[o.Name]; ok || len(o.EnvFallback) == 0 {
			continue
		}
		for _, env := range o.EnvFallback {
			if val, ok := os.LookupEnv(env); ok {
				p[o.Name] = val
				if o.NoLog && val != "" {
					noLog = append(noLog, val)
				}
				break
			}
		}
	}
	return noLog
}

// handleAliases copies each alias's value onto its option; the alias wins when both are set.
// As _handle_aliases, it stops at the first option (in spec order) that is both required and
// has a default, with an error and no aliases at all: the options before it had their
// aliases copied, those after it not, and every alias then counts as an unsupported
// parameter. (ansible-core checks this there, "not alias specific but this is a good place":
// module_utils/common/parameters.py, stable-2.14 71a2eba2e6a8 line 237, 2.19.11 line 241.)
func (v *Validation) handleAliases(opts []Option, p map[string]any, prefix string) (map[string]string, error) {
	aliases := map[string]string{}
	for _, o := range opts {
		if o.Required && o.Default != nil {
			return map[string]string{}, fmt.Errorf("internal error: required and default are mutually exclusive for %s", o.Name)
		}
		for _, a := range o.Aliases {
			aliases[a] = o.Name
			if val, ok := p[a]; ok {
				if _, both := p[o.Name]; both {
					v.Warnings = append(v.Warnings, fmt.Sprintf("Both option %s%s and its alias %s%s are set.", prefix, o.Name, prefix, a))
				}
				p[o.Name] = val
			}
		}
	}
	return aliases, nil
}

func unsupportedParams(opts []Option, p map[string]any, aliases map[string]string, context []string, supported map[string][2][]string) []string {
	legal := map[string]bool{}
	var names []string
	for _, o := range opts {
		legal[o.Name] = true
		names = append(names, o.Name)
	}
	var als []string
	for a := range aliases {
		legal[a] = true
		als = append(als, a)
	}
	sort.Strings(names)
	sort.Strings(als)
	var out []string
	for k := range p {
		if legal[k] {
			continue
		}
		name := strings.Join(append(append([]string{}, context...), k), ".")
		out = append(out, name)
		supported[name] = [2][]string{names, als}
	}
	return out
}

// listNoLogValues is _list_no_log_values: the no_log values of opts and of their
// sub-options. Its error is the one ansible-core reports when a sub-options value is a
// string that is no dict or is not a dict at all; unlike ansible-core, the values found are
// still returned, so that they are masked.
func (prof Profile) listNoLogValues(opts []Option, p map[string]any) ([]string, error) {
	var out []string
	var first error
	for _, o := range opts {
		if o.NoLog {
			if val := p[o.Name]; truthy(val) {
				out = append(out, datastructureStrings(val)...)
			}
		}
		if len(o.Options) == 0 {
			continue
		}
		sub := p[o.Name]
		if sub == nil || !(o.typ() == Dict || (o.typ() == List && o.Elements == Dict)) {
			continue
		}
		items, isList := sub.([]any)
		if !isList {
			items = []any{sub}
		}
		for _, it := range items {
			if s, ok := it.(string); ok {
				d, err := prof.convert(Dict, s)
				if err != nil {
					if first == nil {
						first = err
					}
					continue
				}
				it = d
			}
			m, ok := it.(map[string]any)
			if !ok {
				if first == nil {
					verb := "must by a" // sic, until 2.19
					if prof.v219 {
						verb = "must be a"
					}
					first = fmt.Errorf("Value '%s' in the sub parameter field '%s' %s %s, not '%s'", pyvalue.Str(it), o.Name, verb, o.typ(), pyvalue.TypeName(it))
				}
				continue
			}
			vals, err := prof.listNoLogValues(o.Options, m)
			out = append(out, vals...)
			if err != nil && first == nil {
				first = err
			}
		}
	}
	return out, first
}

// noLogValues records the no_log values of opts and reports listNoLogValues's error.
func (v *Validation) noLogValues(opts []Option, p map[string]any) {
	vals, err := v.prof.listNoLogValues(opts, p)
	v.addNoLog(vals...)
	v.check(err)
}

// truthy is Python's bool(v).
func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case string:
		return t != ""
	case []any:
		return len(t) > 0
	case map[string]any:
		return len(t) > 0
	}
	f, _ := pyvalue.Number(v)
	return f != 0
}

func datastructureStrings(v any) []string {
	switch t := v.(type) {
	case string:
		if t == "" {
			return nil
		}
		return []string{t}
	case map[string]any:
		var out []string
		for _, k := range slices.Sorted(maps.Keys(t)) {
			out = append(out, datastructureStrings(t[k])...)
		}
		return out
	case []any:
		var out []string
		for _, e := range t {
			out = append(out, datastructureStrings(e)...)
		}
		return out
	case nil, bool:
		return nil
	}
	return []string{pyvalue.Str(v)}
}

func inContext(msg string, context []string) string {
	if len(context) == 0 {
		return msg
	}
	return msg + " found in " + strings.Join(context, " -> ")
}

func countTerms(terms []string, p map[string]any) int {
	n := 0
	seen := map[string]bool{}
	for _, t := range terms {
		if _, ok := p[t]; ok && !seen[t] {
			n++
		}
		seen[t] = true
	}
	return n
}

func checkMutuallyExclusive(groups [][]string, p map[string]any, context []string) error {
	var hits []string
	for _, g := range groups {
		if countTerms(g, p) > 1 {
			hits = append(hits, strings.Join(g, "|"))
		}
	}
	if len(hits) == 0 {
		return nil
	}
	return fmt.Errorf("%s", inContext("parameters are mutually exclusive: "+strings.Join(hits, ", "), context))
}

func setDefaults(opts []Option, p map[string]any, setNil bool) []string {
	var noLog []string
	for _, o := range opts {
		if _, ok := p[o.Name]; ok {
			continue
		}
		if o.Default == nil && !setNil {
			continue
		}
		if o.NoLog && truthy(o.Default) {
			noLog = append(noLog, pyvalue.Str(o.Default))
		}
		p[o.Name] = pyvalue.DeepCopy(o.Default)
	}
	return noLog
}

func checkRequired(opts []Option, p map[string]any, context []string) error {
	var missing []string
	for _, o := range opts {
		if _, ok := p[o.Name]; o.Required && !ok {
			missing = append(missing, o.Name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return fmt.Errorf("%s", inContext("missing required arguments: "+strings.Join(missing, ", "), context))
}

func (v *Validation) validateTypes(opts []Option, p map[string]any, context []string) {
	for _, o := range opts {
		val, ok := p[o.Name]
		if !ok || val == nil && !v.prof.checksNull(o) {
			continue
		}
		converted, err := v.prof.convert(o.typ(), val)
		if err != nil {
			msg := fmt.Sprintf("argument '%s' is of type %s", o.Name, v.prof.typeName(val))
			if len(context) > 0 {
				msg += fmt.Sprintf(" found in '%s'.", strings.Join(context, " -> "))
			}
			v.Errors = append(v.Errors, msg+fmt.Sprintf(" and we were unable to convert to %s: %s", o.typ(), err))
			continue
		}
		p[o.Name] = converted
		if o.Elements == "" {
			continue
		}
		list, isList := converted.([]any)
		if !isList || o.typ() != List && !v.prof.v219 {
			msg := fmt.Sprintf("Invalid type %s for option '%s'", o.typ(), pyvalue.Str(converted))
			if len(context) > 0 {
				msg += fmt.Sprintf(" found in '%s'.", strings.Join(context, " -> "))
			}
			v.Errors = append(v.Errors, msg+", elements value check is supported only with 'list' type")
			continue
		}
		out := make([]any, 0, len(list))
		for _, e := range list {
			ce, err := v.prof.convert(o.Elements, e)
			if err != nil {
				msg := fmt.Sprintf("Elements value for option '%s'", o.Name)
				if len(context) > 0 {
					msg += fmt.Sprintf(" found in '%s'", strings.Join(context, " -> "))
				}
				v.Errors = append(v.Errors, msg+fmt.Sprintf(" is of type %s and we were unable to convert to %s: %s", v.prof.typeName(e), o.Elements, err))
				continue
			}
			out = append(out, ce)
		}
		p[o.Name] = out
	}
}

func (v *Validation) validateValues(opts []Option, p map[string]any, context []string) {
	for _, o := range opts {
		if o.Choices == nil {
			continue
		}
		val, ok := p[o.Name]
		if !ok {
			continue
		}
		choices := make([]string, len(o.Choices))
		for i, c := range o.Choices {
			choices[i] = pyvalue.Str(c)
		}
		if list, isList := val.([]any); isList {
			var miss []string
			for _, e := range list {
				if !pyvalue.Contains(o.Choices, e) {
					miss = append(miss, pyvalue.Str(e))
				}
			}
			if len(miss) > 0 {
				v.Errors = append(v.Errors, inContext(fmt.Sprintf("value of %s must be one or more of: %s. Got no match for: %s", o.Name, strings.Join(choices, ", "), strings.Join(miss, ", ")), context))
			}
			continue
		}
		if pyvalue.Contains(o.Choices, val) {
			continue
		}
		// YAML turned "no" into False and str() into "False": map back when unambiguous.
		for _, fix := range []struct {
			s   string
			set []any
		}{{"False", booleansFalse}, {"True", booleansTrue}} {
			if val != fix.s {
				continue
			}
			var overlap []any // a set: 0 and False are one element
			for _, c := range o.Choices {
				if pyvalue.Contains(fix.set, c) && !pyvalue.Contains(overlap, c) {
					overlap = append(overlap, c)
				}
			}
			if len(overlap) == 1 {
				val = overlap[0]
				p[o.Name] = val
			}
		}
		if !pyvalue.Contains(o.Choices, val) {
			v.Errors = append(v.Errors, inContext(fmt.Sprintf("value of %s must be one of: %s, got: %s", o.Name, strings.Join(choices, ", "), pyvalue.Str(val)), context))
		}
	}
}

func (v *Validation) additionalChecks(r Rules, p map[string]any, context []string) {
	for _, terms := range r.RequiredTogether {
		n := countTerms(terms, p)
		present := 0
		for _, t := range terms {
			if countTerms([]string{t}, p) > 0 {
				present++
			}
		}
		if n > 0 && present < len(terms) {
			v.Errors = append(v.Errors, inContext("parameters are required together: "+strings.Join(terms, ", "), context))
			break
		}
	}
	for _, terms := range r.RequiredOneOf {
		if countTerms(terms, p) == 0 {
			v.Errors = append(v.Errors, inContext("one of the following is required: "+strings.Join(terms, ", "), context))
			break
		}
	}
	for _, req := range r.RequiredIf {
		val, ok := p[req.Key]
		if !ok || !pyvalue.Equal(val, req.Value) {
			continue
		}
		var missing []string
		for _, t := range req.Requirements {
			if countTerms([]string{t}, p) == 0 {
				missing = append(missing, t)
			}
		}
		need := 1
		requires := "all"
		if req.Any {
			need = len(req.Requirements)
			requires = "any"
		}
		if len(missing) > 0 && len(missing) >= need {
			v.Errors = append(v.Errors, inContext(fmt.Sprintf("%s is %s but %s of the following are missing: %s", req.Key, pyvalue.Str(req.Value), requires, strings.Join(missing, ", ")), context))
			break
		}
	}
	for _, key := range slices.Sorted(maps.Keys(r.RequiredBy)) {
		if val, ok := p[key]; !ok || val == nil {
			continue
		}
		var missing []string
		for _, t := range r.RequiredBy[key] {
			if val, ok := p[t]; !ok || val == nil {
				missing = append(missing, t)
			}
		}
		if len(missing) > 0 {
			v.Errors = append(v.Errors, inContext(fmt.Sprintf("missing parameter(s) required by '%s': %s", key, strings.Join(missing, ", ")), context))
			break
		}
	}
}

func (v *Validation) validateSubSpecs(opts []Option, p map[string]any, prefix string, context []string, supported map[string][2][]string) []string {
	var unsupported []string
	for _, o := range opts {
		if !(o.typ() == Dict || (o.typ() == List && o.Elements == Dict)) {
			continue
		}
		if o.ApplyDefaults {
			if len(o.Options) == 0 {
				continue
			}
			if p[o.Name] == nil {
				p[o.Name] = map[string]any{}
			}
		} else if len(o.Options) == 0 || p[o.Name] == nil {
			continue
		}
		ctx := append(append([]string{}, context...), o.Name)
		items, isList := p[o.Name].([]any)
		if !isList {
			items = []any{p[o.Name]}
		}
		for idx, it := range items {
			sub, ok := it.(map[string]any)
			if !ok {
				v.Errors = append(v.Errors, fmt.Sprintf("value of '%s' must be of type dict or list of dicts", o.Name))
				continue
			}
			v.addNoLog(setFallbacks(o.Options, sub)...)
			newPrefix := prefix + o.Name
			if o.typ() == List {
				newPrefix += fmt.Sprintf("[%d]", idx)
			}
			newPrefix += "."
			aliases, aliasErr := v.handleAliases(o.Options, sub, newPrefix)
			v.check(aliasErr)
			v.noLogValues(o.Options, sub)
			un := unsupportedParams(o.Options, sub, aliases, ctx, supported)
			if len(un) > 0 && aliasErr != nil {
				// ansible-core's _validate_sub_spec does not catch the error that listing the
				// supported parameters raises again: AnsibleModule crashes with it. Stop here
				// and report it, which is the message of that traceback.
				v.Errors, v.aborted = []string{aliasErr.Error()}, true
				return nil
			}
			unsupported = append(unsupported, un...)
			v.checkLevel(o.Options, o.Rules, sub, ctx)
			unsupported = append(unsupported, v.validateSubSpecs(o.Options, sub, newPrefix, ctx, supported)...)
			if v.aborted {
				return nil
			}
		}
	}
	return unsupported
}
