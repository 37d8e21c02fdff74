# conformance_jsonl: writes every task result, invocation included, as one JSON line to
# $CONFORMANCE_LOG, for tests/conformance (which compares the Python and the Go module of
# each case). Works with ansible-core 2.14 and 2.19. Enabled by the test with
# ANSIBLE_CALLBACK_PLUGINS=<this dir> and ANSIBLE_CALLBACKS_ENABLED=conformance_jsonl.
from __future__ import annotations

DOCUMENTATION = """
    name: conformance_jsonl
    type: aggregate
    short_description: write task results as JSON lines to $CONFORMANCE_LOG
    description:
      - For bo.microvm's conformance test. Does nothing when CONFORMANCE_LOG is unset.
"""

import json
import math
import os

from ansible.plugins.callback import CallbackBase


def _plain(value):
    """Copy value into plain JSON types; non-finite floats become {"float": "inf"} etc."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            return {"float": repr(float(value))}
        return float(value)
    return str(value)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "conformance_jsonl"
    CALLBACK_NEEDS_ENABLED = True

    def _record(self, result, status):
        path = os.environ.get("CONFORMANCE_LOG")
        if not path:
            return
        data = {k: v for k, v in result._result.items() if not k.startswith("_ansible")}
        line = json.dumps({"task": result._task.get_name(), "status": status, "result": _plain(data)})
        with open(path, "a") as f:
            f.write(line + "\n")

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record(result, "unreachable")
