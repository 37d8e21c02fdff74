# -*- coding: utf-8 -*-
# Copyright: bo.microvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin base for bo.microvm's Go binary modules.

Each module ships one static binary per target architecture,
plugins/modules/<name>_linux_<goarch>. This action runs the one that matches the
target host's architecture (``uname -m``, remembered as the fact bo_microvm_arch
for later tasks on the same host) through ansible-core's own _execute_module, so
become, check mode, diff, no_log, async and remote_tmp behave exactly as for any
module.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

COLLECTION = "bo.microvm"
ARCH_FACT = "bo_microvm_arch"
# uname -m -> GOARCH of the binaries we build.
GOARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
}


class GoModuleAction(ActionBase):
    """Runs the per-architecture binary of the module the task names."""

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(GoModuleAction, self).run(tmp, task_vars)
        del tmp
        name = self._task.action.rsplit(".", 1)[-1]

        arch, probed = self._target_arch(task_vars)
        goarch = GOARCH.get(arch)
        if goarch is None:
            raise AnsibleActionFail(
                "%s.%s has no binary for the target's architecture %r (uname -m); "
                "it is built for linux/amd64 (x86_64) and linux/arm64 (aarch64)"
                % (COLLECTION, name, arch))

        wrap_async = self._task.async_val and not self._connection.has_native_async
        result.update(self._execute_module(
            module_name="%s.%s_linux_%s" % (COLLECTION, name, goarch),
            module_args=self._task.args.copy(),
            task_vars=task_vars,
            wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        if probed and not self._task.delegate_to:
            result.setdefault("ansible_facts", {})[ARCH_FACT] = arch
        return result

    def _target_arch(self, task_vars):
        """The target's uname -m, from the fact when known, else probed (one round trip)."""
        if not self._task.delegate_to:
            known = task_vars.get(ARCH_FACT) or task_vars.get("ansible_facts", {}).get(ARCH_FACT)
            if known:
                return known, False
        else:
            host_vars = task_vars.get("hostvars", {}).get(self._task.delegate_to, {})
            known = host_vars.get(ARCH_FACT) or host_vars.get("ansible_facts", {}).get(ARCH_FACT)
            if known:
                return known, False
        res = self._low_level_execute_command("uname -m", sudoable=False)
        if res.get("rc") != 0:
            raise AnsibleActionFail(
                "cannot tell the target's architecture: 'uname -m' failed (rc=%s): %s"
                % (res.get("rc"), to_text(res.get("stderr", "")).strip()))
        return to_text(res.get("stdout", "")).strip().splitlines()[-1].strip(), True
