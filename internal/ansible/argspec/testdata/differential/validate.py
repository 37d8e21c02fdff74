# What ansible-core makes of parameters for the specs of internal/ansible's tests: reads
# ["spec", {params}] lines, writes one JSON line each (errors, params, warnings, nolog, or crash).
import json, sys
from ansible.module_utils.common.arg_spec import ModuleArgumentSpecValidator
from ansible.module_utils.common import warnings as W
RICH = dict(
  argument_spec={
    'name': {'required': True, 'aliases': ['n', 'vm_name']},
    'state': {'choices': ['present', 'absent', 'no'], 'default': 'present'},
    'count': {'type': 'int'},
    'force': {'type': 'bool', 'default': False},
    'tags': {'type': 'list', 'elements': 'str', 'choices': ['a', 'b']},
    'ports': {'type': 'list', 'elements': 'int'},
    'token': {'no_log': True},
    'src': {}, 'content': {}, 'user': {}, 'group': {}, 'fs': {}, 'label': {}, 'path': {'type': 'path'},
    'vm': {'type': 'dict', 'options': {
        'mem': {'type': 'int', 'default': 256},
        'role': {'choices': ['controller', 'worker'], 'required': True},
        'key': {'no_log': True, 'aliases': ['k']},
        'disk': {'type': 'dict', 'options': {'size': {'type': 'int', 'required': True}}},
      }, 'mutually_exclusive': [['key', 'mem']]},
    'volumes': {'type': 'list', 'elements': 'dict', 'options': {
        'path': {'required': True},
        'size': {'type': 'int'},
        'fs_type': {'choices': ['ext4', 'xfs'], 'default': 'ext4'},
      }, 'required_if': [['fs_type', 'xfs', ['size']]]},
    'opts': {'type': 'dict', 'apply_defaults': True, 'options': {'retries': {'type': 'int', 'default': 3}}},
  },
  mutually_exclusive=[['src', 'content'], ['user', 'fs']],
  required_together=[['user', 'group']],
  required_if=[['state', 'absent', ['path']], ['count', 0, ['src', 'content'], True]],
  required_by={'fs': ['label', 'path']},
)
ONE = dict(argument_spec={'a': {}, 'b': {}, 'c': {}, 'd': {}}, required_one_of=[['a', 'b'], ['c', 'd']])
BOOLCH = dict(argument_spec={'yn': {'choices': ['yes', 'no', 'maybe']}, 'tf': {'choices': ['true', 'false', 0]}, 'tf2': {'choices': ['on', 'y']}})
SPECS = {'rich': RICH, 'one': ONE, 'boolch': BOOLCH}
for line in sys.stdin:
    spec, params = json.loads(line)
    s = SPECS[spec]
    v = ModuleArgumentSpecValidator(s['argument_spec'], s.get('mutually_exclusive'), s.get('required_together'), s.get('required_one_of'), s.get('required_if'), s.get('required_by'))
    W._global_warnings.clear()
    try:
        r = v.validate(params)
    except Exception as e:
        print(json.dumps({"in": params, "crash": repr(e)}))
        continue
    print(json.dumps({'in': params, 'errors': r.error_messages, 'params': r.validated_parameters, 'warnings': list(W.get_warning_messages()), 'nolog': sorted(r._no_log_values)}))
