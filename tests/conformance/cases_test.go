package conformance

// Case is one task argument set, run with the Python and the Go module of the same spec.
type Case struct {
	Name   string
	Module string // one of Modules
	// Args is pasted as YAML after the module name: a flow mapping such as {i: "7"}, or a
	// quoted free-form string such as 'i=7 b=yes' (which the controller turns into strings).
	Args  string
	Check bool              // run the task in check mode
	Diff  bool              // run the task in diff mode
	Env   map[string]string // the task's environment: keyword
	// Deviation, when set, says why internal/ansible is allowed to differ from
	// ansible-core here. The test fails if the two then agree, to keep this list honest.
	Deviation string
}

// cases are the inputs. The play defines n: 3, word: 'yes', numbers: [1, 2],
// mapping: {a: 1, b: two} and nothing: null for templated values.
var cases = []Case{
	// str
	{Name: "a str option keeps a string", Module: "conf_types", Args: `{s: hello}`},
	{Name: "a str option turns an int into its digits", Module: "conf_types", Args: `{s: 42}`},
	{Name: "a str option turns floats into Python's repr", Module: "conf_types", Args: `{s: 1.0, ls: [1.5, 1.0e+20, 0.0001]}`},
	{Name: "a str option turns YAML yes into True", Module: "conf_types", Args: `{s: yes}`},
	{Name: "a str option turns a list into Python's repr", Module: "conf_types", Args: `{s: [a, 1, true, null, "it's"]}`},
	{Name: "a str option turns a dict into Python's repr", Module: "conf_types", Args: `{s: {a: 1, b: [x]}}`},
	{Name: "a str option keeps the task's key order in a dict's repr", Module: "conf_types", Args: `{s: {b: 1, a: 2}}`,
		Deviation: "Go maps keep no key order: internal/ansible renders a dict's keys sorted where Python keeps the task's order (str() and jsonarg of a dict)"},
	// int
	{Name: "an int option parses a quoted number", Module: "conf_types", Args: `{i: "7"}`},
	{Name: "an int option strips blanks and reads underscores and a sign", Module: "conf_types", Args: `{i: " +1_000 "}`},
	{Name: "an int option rejects the string 1.0", Module: "conf_types", Args: `{i: "1.0"}`},
	{Name: "an int option rejects a float", Module: "conf_types", Args: `{i: 1.5}`},
	{Name: "an int option passes a bool through", Module: "conf_types", Args: `{i: true}`},
	{Name: "an int option rejects a word", Module: "conf_types", Args: `{i: seven}`},
	{Name: "an int option reads Unicode digits", Module: "conf_types", Args: `{i: "١٢"}`},
	// float
	{Name: "a float option parses strings and ints", Module: "conf_types", Args: `{f: " 1e3 "}`},
	{Name: "a float option turns an int into a float", Module: "conf_types", Args: `{f: 2}`},
	{Name: "a float option turns a bool into 1.0", Module: "conf_types", Args: `{f: true}`},
	{Name: "a float option reads inf", Module: "conf_types", Args: `{f: "-Infinity"}`},
	{Name: "a float option keeps YAML's .inf and a raw option its .nan", Module: "conf_types", Args: `{f: .inf, r: [.nan, -.inf]}`},
	{Name: "a float option rejects a word", Module: "conf_types", Args: `{f: abc}`},
	// bool
	{Name: "a bool option reads On", Module: "conf_types", Args: `{b: "On"}`},
	{Name: "a bool option reads ' no ' with blanks", Module: "conf_types", Args: `{b: " no "}`},
	{Name: "a bool option reads the number 0", Module: "conf_types", Args: `{b: 0}`},
	{Name: "a bool option reads the float 1.0", Module: "conf_types", Args: `{b: 1.0}`},
	{Name: "a bool option strips what Python counts as whitespace", Module: "conf_types", Args: `{b: "\x1cyes\x1f"}`},
	{Name: "a bool option rejects the string 2 and lists the valid booleans", Module: "conf_types", Args: `{b: "2"}`},
	{Name: "a bool option rejects the number 2", Module: "conf_types", Args: `{b: 2}`},
	{Name: "a bool option rejects a list", Module: "conf_types", Args: `{b: [1]}`},
	// list
	{Name: "a list option splits a string on commas without stripping", Module: "conf_types", Args: `{l: "a, b,,c"}`},
	{Name: "a list option wraps numbers as strings", Module: "conf_types", Args: `{l: 3, ls: 1.5}`},
	{Name: "a list option rejects a dict", Module: "conf_types", Args: `{l: {a: 1}}`},
	{Name: "list elements are converted to int", Module: "conf_types", Args: `{li: ["1", 2, " 3", true]}`},
	{Name: "list elements that are no int are reported", Module: "conf_types", Args: `{li: "1,2,x"}`},
	{Name: "list elements are converted to str", Module: "conf_types", Args: `{ls: [1, 2.5, true, null, [a]]}`},
	// dict
	{Name: "a dict option parses a JSON string", Module: "conf_types", Args: `{d: '{"a": 1, "b": [true, null, 1.5]}'}`},
	{Name: "a dict option parses a Python literal", Module: "conf_types", Args: `{d: "{'a': 1, 'b': [True, None, (1, 2)], 3: 'x'}"}`},
	{Name: "a dict option parses key=value pairs with quotes and escapes", Module: "conf_types", Args: `{d: "a=1 b='x y',c=\"q\\\" r\" e=f=g"}`},
	{Name: "a dict option rejects a string that is neither JSON nor key=value", Module: "conf_types", Args: `{d: garbage}`},
	{Name: "a dict option rejects a key=value field without =", Module: "conf_types", Args: `{d: "a=1 b"}`},
	{Name: "a dict option rejects a broken literal", Module: "conf_types", Args: `{d: "{bad"}`},
	{Name: "a dict option rejects a number", Module: "conf_types", Args: `{d: 5}`},
	{Name: "a dict option keeps a string that safe_eval declines to evaluate", Module: "conf_types", Args: `{d: "{'a': os.path.join('x')}"}`},
	{Name: "a dict option reads Python literals: bases, signs, tuples, escapes, adjacent strings", Module: "conf_types", Args: `{d: "{'a': 0x1F, 'b': -1.5e3, 'c': 'x' \"y\", 'd': '\\x41\\u00e9\\101\\d', 'e': (1,), 'f': 0o17, 'g': r'\\n'}"}`},
	{Name: "a dict option writes True, None and number keys as JSON does", Module: "conf_types", Args: `{d: "{True: 1, None: 2, 1.5: 3, 2: 4}"}`},
	{Name: "a dict option rejects names in a literal", Module: "conf_types", Args: `{d: "{'a': inf}"}`},
	{Name: "a dict option given a set literal keeps it, as a list", Module: "conf_types", Args: `{d: "{1, 2}"}`},
	{Name: "a dict option rejects leading zeros in a literal", Module: "conf_types", Args: `{d: "{'a': 007}"}`},
	// path, raw, jsonarg, bytes, bits
	{Name: "a path option expands ~ and $HOME", Module: "conf_types", Args: `{p: "~/x/../y"}`},
	{Name: "a path option expands variables and keeps unknown ones", Module: "conf_types", Args: `{p: "$HOME/a/${HOME}b/$NO_SUCH_VAR/${NO_SUCH}/$$"}`},
	{Name: "a path option keeps ~user of an unknown user", Module: "conf_types", Args: `{p: "~no_such_user/q"}`},
	{Name: "a raw option keeps any value", Module: "conf_types", Args: `{r: [1, {a: b}, 2.0]}`},
	{Name: "a jsonarg option strips a string", Module: "conf_types", Args: `{j: ' {"a": 1} '}`},
	{Name: "a jsonarg option serializes a dict as Python's json.dumps", Module: "conf_types", Args: `{j: {a: 1, b: [1, 2.5, "é"], c: null}}`},
	{Name: "a jsonarg option rejects a number", Module: "conf_types", Args: `{j: 5}`},
	{Name: "bytes and bits read units", Module: "conf_types", Args: `{by: "10MB", bi: "1Mb"}`},
	{Name: "bytes round half to even and accept a unit spelled out", Module: "conf_types", Args: `{by: "2.5", bi: "1 Kbits"}`},
	{Name: "bytes reject bits units", Module: "conf_types", Args: `{by: "10Mb"}`},
	{Name: "bytes reject a bool", Module: "conf_types", Args: `{by: true}`},
	{Name: "bytes reject a negative number", Module: "conf_types", Args: `{by: -5}`},
	// choices
	{Name: "a choice is accepted", Module: "conf_types", Args: `{state: absent}`},
	{Name: "a value outside the choices is reported with the choices", Module: "conf_types", Args: `{state: bogus}`},
	{Name: "YAML no becomes the choice no", Module: "conf_types", Args: `{state: no}`},
	{Name: "int choices compare after conversion", Module: "conf_types", Args: `{level: "2"}`},
	{Name: "an int outside int choices is reported", Module: "conf_types", Args: `{level: 5}`},
	{Name: "list choices accept a subset", Module: "conf_types", Args: `{features: "a,c"}`},
	{Name: "list choices report the items that match no choice", Module: "conf_types", Args: `{features: [a, x, y]}`},
	// aliases, defaults, no_log, fallbacks
	{Name: "an alias sets its option and stays in the arguments", Module: "conf_types", Args: `{n: foo}`},
	{Name: "the alias wins over its option, with a warning", Module: "conf_types", Args: `{name: a, vm: b}`},
	{Name: "absent options get their defaults or null", Module: "conf_types", Args: `{}`},
	{Name: "a no_log value is masked everywhere, exactly and inside strings", Module: "conf_types", Args: `{token: s3cr3t, s: "xs3cr3tx", ls: [s3cr3t, a]}`},
	{Name: "a numeric no_log value masks numbers", Module: "conf_types", Args: `{token: 12345, i: 12345, f: 123456.5}`},
	{Name: "a no_log value masks the None of absent options when 'None' contains it", Module: "conf_types", Args: `{token: one, s: "someone"}`},
	{Name: "a password-like option without no_log gets ansible-core's warning", Module: "conf_types", Args: `{api_password: x}`},
	{Name: "a password-like option with no_log False gets no warning and is shown", Module: "conf_types", Args: `{db_password: x}`},
	{Name: "env fallbacks fill absent options and no_log ones are masked", Module: "conf_types", Args: `{s: "hidden-value"}`, Env: map[string]string{"CONF_FROM_ENV": "from-env", "CONF_SECRET_ENV": "hidden-value"}},
	// unsupported parameters
	{Name: "an unknown option is reported with the supported ones and aliases", Module: "conf_types", Args: `{bogus: 1, aaa: 2}`},
	// free-form and templated arguments
	{Name: "free-form key=value arguments arrive as strings and are converted", Module: "conf_types", Args: `'s=3 i=4 b=yes l=a,b f=1.5 state=no'`},
	{Name: "a free-form 1.0 is no int", Module: "conf_types", Args: `'i=1.0'`},
	{Name: "a free-form quoted value keeps its blanks and becomes a dict", Module: "conf_types", Args: `'d="a=1 b=2" s="x y"'`},
	{Name: "an omitted templated value leaves the option to its default", Module: "conf_types", Args: `{mode: "{{ undefined_thing | default(omit) }}", s: "{{ nothing | default('d', true) }}"}`},
	{Name: "templated values keep their type or arrive as strings", Module: "conf_types", Args: `{i: "{{ n }}", s: "{{ n + 1 }}", li: "{{ numbers }}", b: "{{ word }}", d: "{{ mapping }}", r: "{{ nothing }}"}`},
	{Name: "a templated sum is a string an int option converts", Module: "conf_types", Args: `{i: "{{ n + 1 }}", f: "{{ n / 2 }}"}`},
	// check mode
	{Name: "a module without check mode support is skipped in check mode", Module: "conf_types", Args: `{s: x}`, Check: true},
	{Name: "validation errors fail even in check mode", Module: "conf_types", Args: `{i: x}`, Check: true},
	{Name: "a module with check mode support runs in check mode", Module: "conf_check", Args: `{name: a}`, Check: true},
	{Name: "a module's warnings and deprecations reach the controller", Module: "conf_check", Args: `{name: a}`},
	{Name: "a module's diff is returned in diff mode only", Module: "conf_check", Args: `{name: b}`, Diff: true},
	{Name: "check and diff mode together", Module: "conf_check", Args: `{name: c}`, Check: true, Diff: true},

	// rules
	{Name: "valid arguments pass every rule", Module: "conf_rules", Args: `{name: x, e: 1}`},
	{Name: "a missing required option is reported", Module: "conf_rules", Args: `{e: 1}`},
	{Name: "a required option given as null counts as present", Module: "conf_rules", Args: `{name: null, e: 1}`},
	{Name: "mutually exclusive options are reported, every group at once", Module: "conf_rules", Args: `{name: x, e: 1, a: 1, b: 2, src: s, content: c}`},
	{Name: "mutually exclusive is checked before required", Module: "conf_rules", Args: `{e: 1, a: 1, b: 1}`},
	{Name: "options required together are reported", Module: "conf_rules", Args: `{name: x, e: 1, c: 1}`},
	{Name: "one of a group is required", Module: "conf_rules", Args: `{name: x}`},
	{Name: "required_if with all reports what is missing", Module: "conf_rules", Args: `{name: x, e: 1, state: absent}`},
	{Name: "required_if with any reports when all are missing", Module: "conf_rules", Args: `{name: x, e: 1, size: "0"}`},
	{Name: "required_if with any is satisfied by one", Module: "conf_rules", Args: `{name: x, e: 1, size: 0, src: a}`},
	{Name: "required_by reports the missing options", Module: "conf_rules", Args: `{name: x, e: 1, fs: ext4}`},
	{Name: "a type error comes before the rules checked after types", Module: "conf_rules", Args: `{name: x, size: abc}`},
	{Name: "missing required arguments come before unsupported parameters", Module: "conf_rules", Args: `{bogus: 1}`},

	// sub-options
	{Name: "sub-options get defaults and apply_defaults makes a dict", Module: "conf_nested", Args: `{vm: {name: a, net: {mac: "02:00"}}}`},
	{Name: "a missing required sub-option names its parent", Module: "conf_nested", Args: `{vm: {mem: 1}}`},
	{Name: "a missing sub-sub-option names the whole path", Module: "conf_nested", Args: `{vm: {name: a, net: {}}}`},
	{Name: "a sub-option type error names its parent", Module: "conf_nested", Args: `{vm: {name: a, mem: x}}`},
	{Name: "a sub-option outside its choices names its parent", Module: "conf_nested", Args: `{vm: {name: a, role: boss}}`},
	{Name: "sub-option rules name their parent", Module: "conf_nested", Args: `{vm: {name: a, role: worker, key: k}}`},
	{Name: "an unknown sub-option is reported as parent.key", Module: "conf_nested", Args: `{vm: {name: a, extra: 1}}`},
	{Name: "a sub-option alias wins with a warning naming the parent", Module: "conf_nested", Args: `{vm: {name: a, vm_name: b}}`},
	{Name: "a dict with sub-options may be given as key=value", Module: "conf_nested", Args: `{vm: "name=a mem=3"}`},
	{Name: "a dict with sub-options given garbage fails as ansible-core does", Module: "conf_nested", Args: `{vm: garbage}`},
	{Name: "a list of dicts checks each element's rules", Module: "conf_nested", Args: `{volumes: [{path: "~/a"}, {path: b, fs_type: xfs}]}`},
	{Name: "a list of dicts reports a missing sub-option", Module: "conf_nested", Args: `{volumes: [{size: 1}]}`},
	{Name: "list elements given as key=value become dicts", Module: "conf_nested", Args: `{volumes: ["path=/x size=2"]}`},
	{Name: "a list of dicts with a number in it fails as ansible-core does", Module: "conf_nested", Args: `{volumes: [5]}`},
	{Name: "a free-form list of dicts is read from key=value elements", Module: "conf_nested", Args: `'volumes=path=/x'`},
	{Name: "apply_defaults converts given sub-options", Module: "conf_nested", Args: `{opts: {retries: "5"}}`},
	{Name: "apply_defaults turns null into the defaults", Module: "conf_nested", Args: `{opts: null}`},
	{Name: "nested no_log values are masked everywhere", Module: "conf_nested", Args: `{vm: {name: a, key: sekrit}, volumes: [{path: "/sekrit/x"}]}`},
	{Name: "a number for a dict with sub-options", Module: "conf_nested", Args: `{vm: 5}`,
		Deviation: "ansible-core (2.14 and 2.19) crashes with a traceback (TypeError in set_fallbacks) where the Go module reports the error"},
	// an option both required and with a default (a spec error ansible-core reports)
	{Name: "required and default fail the task at the top level", Module: "conf_reqdefault", Args: `{}`},
	{Name: "required and default fail even with the option given", Module: "conf_reqdefault", Args: `{name: x, a: 1}`},
	{Name: "required and default: aliases after the option are unsupported", Module: "conf_reqdefault", Args: `{x: 1, y: 2}`},
	{Name: "required and default fail the task in a sub-option", Module: "conf_reqdefault_sub", Args: `{vm: {size: "1"}}`},
	{Name: "required and default fail the task in a sub-sub-option of each element", Module: "conf_reqdefault_sub", Args: `{vols: [{disk: {}}, {disk: {name: n}}]}`},
	{Name: "required and default in sub-options of an absent dict pass", Module: "conf_reqdefault_sub", Args: `{other: x}`},
	{Name: "required and default come after the top level's errors", Module: "conf_reqdefault_sub", Args: `{vm: {}, vols: 5}`},
}
