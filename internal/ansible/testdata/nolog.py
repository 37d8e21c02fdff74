# What AnsibleModule's _log_invocation warns about password-like option names, by the three
# states of no_log in the spec (unset, True, False): prints the module's JSON result for
# each case, one line each (ansible's TestPasswordWarnings replays them).
#   python3 nolog.py > nolog-2.14.jsonl                              # ansible-core 2.14 (Debian 12)
#   tests/lab/controller 2.19 python3 nolog.py > nolog-2.19.jsonl    # ansible-core 2.19 (Debian 13 root)
import io, json, sys
from ansible.module_utils import basic
from ansible.release import __version__
CASES = [
    ('no_log False: no warning, value shown', {'arg_pass': {'no_log': False}}, {'arg_pass': 'testing'}),
    ('no_log unset: warning', {'arg_pass': {}}, {'arg_pass': 'testing'}),
    ('no_log unset and absent: warning still', {'arg_pass': {}}, {}),
    ('no_log True: no warning, value masked', {'arg_pass': {'no_log': True}}, {'arg_pass': 'testing'}),
    ('alias of a no_log False option', {'other_pass': {'no_log': False, 'aliases': ['pass']}}, {'pass': 'testing'}),
    ('alias of a no_log unset option', {'other_pass': {'aliases': ['pass']}}, {'pass': 'testing'}),
    ('a name that is no password', {'passage': {}, 'bypass_cache': {}}, {'passage': 'x', 'bypass_cache': 'y'}),
    ('task no_log: no warnings at all', {'arg_pass': {}}, {'arg_pass': 'testing', '_ansible_no_log': True}),
]
if len(sys.argv) == 1:  # one process per case: warnings are process-global in module_utils
    import subprocess
    for i in range(len(CASES)):
        subprocess.run([sys.executable, __file__, str(i)], check=True)
    sys.exit(0)
name, spec, args = CASES[int(sys.argv[1])]
a = dict(args)
a.setdefault('_ansible_version', __version__)
basic._ANSIBLE_ARGS = json.dumps({'ANSIBLE_MODULE_ARGS': a}).encode()
if hasattr(basic, '_ANSIBLE_PROFILE'):  # 2.19: the controller names the JSON profile
    basic._ANSIBLE_PROFILE = 'legacy'
real_stdout, buf = sys.stdout, io.StringIO()
sys.stdout = buf
try:
    basic.AnsibleModule(argument_spec=spec).exit_json(changed=False)
except SystemExit:
    pass
finally:
    sys.stdout = real_stdout
print(json.dumps({'version': __version__, 'case': name, 'result': json.loads(buf.getvalue())}, sort_keys=True))
