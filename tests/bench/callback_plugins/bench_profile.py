# -*- coding: utf-8 -*-
# make bench only: each task's share of a playbook's wall time.
from __future__ import annotations

DOCUMENTATION = r"""
name: bench_profile
type: aggregate
short_description: write each task's wall time to a JSON file (make bench)
description:
  - Records, for every task of the play, the wall time from its start to the start of the next
    task (or the end of the play), over all hosts at once, and writes the list to the file named
    by E(BO_BENCH_PROFILE) when the playbook ends. Used by tests/bench only.
requirements:
  - the environment variable BO_BENCH_PROFILE
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_profile"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._tasks = []  # [name, start]
        self._t0 = time.monotonic()

    def _start(self, name):
        self._tasks.append([name, time.monotonic()])

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task.get_name())

    def v2_playbook_on_handler_task_start(self, task):
        self._start("handler: " + task.get_name())

    def v2_playbook_on_stats(self, stats):
        end = time.monotonic()
        rows = []
        for i, (name, start) in enumerate(self._tasks):
            stop = self._tasks[i + 1][1] if i + 1 < len(self._tasks) else end
            rows.append({"task": name, "seconds": round(stop - start, 4)})
        path = os.environ.get("BO_BENCH_PROFILE")
        if path:
            with open(path, "w") as f:
                json.dump({"total": round(end - self._t0, 4), "tasks": rows}, f)
