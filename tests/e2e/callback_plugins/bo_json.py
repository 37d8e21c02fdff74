# bo_json: an aggregate callback for the end-to-end harness (tests/e2e).
# ansible-core ships no JSON callback (ansible.posix's is not in Debian 13's
# ansible-core), so this writes one small JSON document to $BO_JSON_RESULT
# when the playbook ends: every task result per host, and the recap.
# Works with ansible-core 2.14 and 2.19. Enabled by the harness with
# ANSIBLE_CALLBACK_PLUGINS=<this dir> and ANSIBLE_CALLBACKS_ENABLED=bo_json;
# the default stdout callback keeps printing for people.
from __future__ import annotations

DOCUMENTATION = """
    name: bo_json
    type: aggregate
    short_description: write task results and the recap as JSON to $BO_JSON_RESULT
    description:
      - For bo.microvm's end-to-end tests. Does nothing when BO_JSON_RESULT is unset.
    requirements:
      - environment variable BO_JSON_RESULT
"""

import json
import os

from ansible.plugins.callback import CallbackBase


def _plain(value):
    """Copy value into plain JSON types (2.19 tags values with subclasses)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bo_json"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("BO_JSON_RESULT")
        self._play = ""
        self._results = []

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()

    def _record(self, result, status):
        task = result._task
        data = dict(result._result)
        for key in list(data):
            if key.startswith("_ansible") and key != "_ansible_no_log":
                del data[key]
        self._results.append(
            {
                "play": self._play,
                "task": task.get_name(),
                "action": task.action,
                "host": result._host.get_name(),
                "status": status,
                "changed": bool(data.get("changed", False)),
                "result": _plain(data),
            }
        )

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        if not self._path:
            return
        recap = {}
        for host in sorted(stats.processed.keys()):
            s = stats.summarize(host)
            recap[host] = {k: int(s.get(k, 0)) for k in ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored")}
        tmp = self._path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"tasks": self._results, "recap": recap}, f, indent=1, default=str)
        os.replace(tmp, self._path)
