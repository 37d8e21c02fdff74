# What ansible-core's ModuleArgumentSpecValidator makes of specs where an option is both
# required and has a default, at each level (argspec's TestRequiredAndDefault*): prints one
# JSON line per case (errors, params, warnings; or the exception a crash raises).
#   python3 reqdefault.py                          # ansible-core 2.14 (Debian 12)
#   tests/lab/controller 2.19 python3 reqdefault.py  # ansible-core 2.19 (Debian 13 root)
import json
from ansible.module_utils.common.arg_spec import ModuleArgumentSpecValidator
from ansible.release import __version__
RD = {'default': 'ray', 'required': True}
CASES = [
    ('top level', {'name': RD}, {}),
    ('top level, given', {'name': RD}, {'name': 'x'}),
    ('top level, later aliases not handled and counted unsupported',
     {'a': {'aliases': ['x']}, 'name': RD, 'b': {'aliases': ['y']}, 'c': {'type': 'int'}},
     {'x': 'ax', 'y': 'by', 'c': 'nope'}),
    ('top level, first in spec order', {'b': dict(RD), 'a': {'default': 1, 'required': True, 'type': 'int'}}, {}),
    ('sub-option of a dict', {'vm': {'type': 'dict', 'options': {'name': RD, 'size': {'type': 'int'}}}}, {'vm': {'size': '1'}}),
    ('sub-option of each list element', {'vols': {'type': 'list', 'elements': 'dict', 'options': {'name': RD}}}, {'vols': [{}, {'name': 'n'}]}),
    ('sub-sub-option', {'vm': {'type': 'dict', 'options': {'disk': {'type': 'dict', 'options': {'name': RD}}}}}, {'vm': {'disk': {}}}),
    ('sub-option with apply_defaults and the dict absent', {'vm': {'type': 'dict', 'apply_defaults': True, 'options': {'name': RD}}}, {}),
    ('sub-option, dict absent', {'vm': {'type': 'dict', 'options': {'name': RD}}}, {}),
    ('after a top-level error', {'count': {'type': 'int'}, 'vm': {'type': 'dict', 'options': {'name': RD}}}, {'count': 'x', 'vm': {}}),
    ('sub-option and an unsupported sub-key crashes', {'vm': {'type': 'dict', 'options': {'name': RD}}}, {'vm': {'other': 1}}),
]
for name, spec, params in CASES:
    out = {'version': __version__, 'case': name}
    try:
        r = ModuleArgumentSpecValidator(spec).validate(params)
        out.update(errors=r.error_messages, params=r.validated_parameters, warnings=[w for w in r._warnings])
    except Exception as e:
        out['crash'] = '%s: %s' % (type(e).__name__, e)
    print(json.dumps(out, sort_keys=True))
