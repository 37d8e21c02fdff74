# What ansible-core's type checkers make of values: reads ["type", value] lines, writes
# one JSON line each: {"type", "in", "ok"|"err"}.
import json, sys
from ansible.module_utils.common.parameters import DEFAULT_TYPE_VALIDATORS as V
for line in sys.stdin:
    t, v = json.loads(line)
    try:
        r = V[t](v)
        try:
            json.dumps(r, allow_nan=True)
            print(json.dumps({"type": t, "in": v, "ok": r}))
        except (TypeError, ValueError):
            print(json.dumps({"type": t, "in": v, "crash": "unserializable %s" % type(r).__name__}))
    except (TypeError, ValueError) as e:
        print(json.dumps({"type": t, "in": v, "err": str(e)}))
    except Exception as e:
        print(json.dumps({"type": t, "in": v, "crash": repr(e)}))
