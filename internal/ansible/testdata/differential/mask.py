# What ansible-core's remove_values makes of [value, secrets] lines.
import json, sys
from ansible.module_utils.common.parameters import remove_values
for line in sys.stdin:
    v, secrets = json.loads(line)
    print(json.dumps({"in": v, "secrets": secrets, "out": remove_values(v, secrets)}))
