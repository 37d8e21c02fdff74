# -*- coding: utf-8 -*-
# Copyright: bo.microvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bo.microvm.microvm_known_hosts: put the VMs' SSH host keys into a known_hosts file on the
controller (an action without a module: it only touches the controller's file system).

Arguments: path (the file), keys (bo.microvm.microvm_host_keys of the microvm_install
results), replace (take a VM's names off lines with another key instead of stopping),
forget (names to take off every line first: the destroy role's, for VMs whose host keys a
purge deleted; bo.microvm.microvm_ssh_names).
The read, the change (filter bo.microvm.microvm_known_hosts) and the write run under a
lock on the file's directory (plugin_utils/known_hosts.py), so two deploys writing the
same file at once both keep their lines. A key that differs from the known one fails the
task, naming both fingerprints, and leaves the file as it was. Check mode and diff mode
as usual; changed only when the file's content changes.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.bo.microvm.plugins.filter.microvm import (
    microvm_known_hosts,
    microvm_known_hosts_conflicts,
    microvm_known_hosts_forget,
)
from ansible_collections.bo.microvm.plugins.plugin_utils.known_hosts import update


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("path", "keys", "replace", "forget"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        path = args.get("path")
        if not path:
            raise AnsibleActionFail("path is required")
        keys = args.get("keys") or []
        if not isinstance(keys, list):
            raise AnsibleActionFail("keys must be a list (bo.microvm.microvm_host_keys)")
        for i, k in enumerate(keys):
            if not (isinstance(k, dict) and k.get("vm") and isinstance(k.get("names"), list) and k["names"]
                    and len(str(k.get("key", "")).split()) == 2):
                raise AnsibleActionFail("keys[%d] must be a dict with vm, names (a non-empty list) and key ('type base64'), "
                                        "as the filter bo.microvm.microvm_host_keys makes them; got %r" % (i, k))
        keys = [dict(k, host=k.get("host") or "") for k in keys]
        try:
            replace = boolean(args.get("replace", False), strict=True)
        except TypeError as e:
            raise AnsibleActionFail("replace: %s" % e)
        forget = args.get("forget") or []
        if not (isinstance(forget, list) and all(isinstance(n, str) and n.strip() for n in forget)):
            raise AnsibleActionFail("forget must be a list of host names (bo.microvm.microvm_ssh_names); got %r" % (forget,))

        def compute(text):
            gone = microvm_known_hosts_forget(text, forget)
            if keys:
                res = microvm_known_hosts(gone["content"], keys, replace)
            else:
                res = dict(gone, added=[], replaced=[])
            res.update(rewrite=res["content"] != text, forgotten=gone["forgotten"])
            return res

        try:
            res = update(path, compute, check=self._task.check_mode)
        except (IOError, OSError, UnicodeDecodeError) as e:
            raise AnsibleActionFail("known_hosts %s: %s" % (path, e))
        result.update(path=res["path"], added=res["added"], replaced=res["replaced"], conflicts=res["conflicts"],
                      forgotten=res["forgotten"])
        if res["conflicts"]:
            result["failed"] = True
            result["msg"] = (
                ["The SSH host key of a VM differs from the one %s knows (not accepted):" % path]
                + microvm_known_hosts_conflicts(res["conflicts"], path)
                + ["If the VM was given a new key on purpose (e.g. destroyed with purge and deployed again), rerun with "
                   "-e microvm_known_hosts_replace=true; otherwise find out who answers for that address before you do."])
            result["changed"] = False
            return result
        result["changed"] = bool(res["rewrite"])
        if result["changed"] and self._task.diff:
            result["diff"] = {"before": res["before"], "after": res["content"],
                              "before_header": res["path"], "after_header": res["path"]}
        return result
