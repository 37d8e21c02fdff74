# -*- coding: utf-8 -*-
# Copyright: bo.microvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin base for bo.microvm's Go binary modules.

Each module ships one static binary per target architecture,
plugins/modules/<name>_linux_<goarch>. Two ways to run it:

Fast path (default): the target keeps a content-addressed copy of each binary in
a private cache (``${XDG_CACHE_HOME:-$HOME/.cache}/bo-microvm``, mode 0700, owned
by the user the module runs as, so root's is root-owned). One remote command
picks the binary for ``uname -m``, checks the cache's owner and mode, verifies
the copy's sha256 and runs it with the arguments file read from stdin
(``/dev/stdin``): one round trip per task. A missing or out-of-date copy is sent
once (over stdin, verified again before it is renamed into place); a copy whose
sha256 does not match is never executed, and is replaced. A cache directory that
another user owns or can write is refused: the task then takes the plain path.

Plain path (``bo_microvm_fast_path: false``, async tasks, ``su`` become, kept
remote files, connections without stdin): ansible-core's own _execute_module
copies the binary and the args file on every task.

Both paths pass the same ``_ansible_*`` arguments (_update_module_args), parse
the output with the same code (_parse_returned_data), and run through the
become plugin, so check mode, diff, no_log and become behave the same.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

try:
    from ansible.vars.clean import remove_internal_keys
except ImportError:  # pragma: no cover
    remove_internal_keys = None

try:  # ansible-core 2.19+: arguments and results go through a serialization profile
    from ansible.module_utils.common.json import Direction, get_module_encoder
except ImportError:  # ansible-core 2.14 - 2.18
    Direction = get_module_encoder = None

# Binary modules use the "legacy" profile in 2.19+ (module_common's default metadata).
PROFILE = "legacy"

display = Display()

COLLECTION = "bo.microvm"
ARCH_FACT = "bo_microvm_arch"
FAST_PATH_VAR = "bo_microvm_fast_path"
# uname -m -> GOARCH of the binaries we build.
GOARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
}
UNAMES = {"amd64": "x86_64|amd64", "arm64": "aarch64|arm64"}

MISS = "BO_MICROVM_CACHE_MISS"
REFUSED = "BO_MICROVM_CACHE_REFUSED"
NOARCH = "BO_MICROVM_NO_ARCH"
INSTALLED = "BO_MICROVM_CACHE_INSTALLED"

_CACHE_DIR = 'd="${XDG_CACHE_HOME:-$HOME/.cache}/bo-microvm"'
# The cache dir must be a real directory owned by us, not writable by group or others.
_CACHE_OK = ('[ -d "$d" ] && [ ! -L "$d" ] && [ "$(stat -c %u "$d")" = "$(id -u)" ] '
             '&& case "$(stat -c %a "$d")" in 700|500) true;; *) false;; esac')


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class GoModuleAction(ActionBase):
    """Runs the per-architecture binary of the module the task names."""

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(GoModuleAction, self).run(tmp, task_vars)
        del tmp
        name = self._task.action.rsplit(".", 1)[-1]
        wrap_async = self._task.async_val and not self._connection.has_native_async

        if self._fast_path_allowed(task_vars, wrap_async):
            fast = self._run_fast(name, task_vars)
            if fast is not None:
                result.update(fast)
                return result

        arch, probed = self._target_arch(task_vars)
        goarch = self._goarch(name, arch)
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

    # -- plain path ---------------------------------------------------------

    def _goarch(self, name, arch):
        goarch = GOARCH.get(arch)
        if goarch is None:
            raise AnsibleActionFail(
                "%s.%s has no binary for the target's architecture %r (uname -m); "
                "it is built for linux/amd64 (x86_64) and linux/arm64 (aarch64)"
                % (COLLECTION, name, arch))
        return goarch

    def _target_arch(self, task_vars):
        """The target's uname -m, from the fact when known, else probed (one round trip)."""
        if self._task.delegate_to:
            task_vars = task_vars.get("hostvars", {}).get(self._task.delegate_to, {})
        known = task_vars.get(ARCH_FACT) or task_vars.get("ansible_facts", {}).get(ARCH_FACT)
        if known:
            return known, False
        res = self._low_level_execute_command("uname -m", sudoable=False)
        if res.get("rc") != 0:
            raise AnsibleActionFail(
                "cannot tell the target's architecture: 'uname -m' failed (rc=%s): %s"
                % (res.get("rc"), to_text(res.get("stderr", "")).strip()))
        return to_text(res.get("stdout", "")).strip().splitlines()[-1].strip(), True

    # -- fast path ----------------------------------------------------------

    def _fast_path_allowed(self, task_vars, wrap_async):
        setting = task_vars.get(FAST_PATH_VAR, os.environ.get("BO_MICROVM_FAST_PATH", True))
        try:
            if not boolean(setting, strict=False):
                return False
        except TypeError:
            return False
        become = self._connection.become
        return (self._connection.has_pipelining
                and not wrap_async
                and not self._task.async_val
                and not C.DEFAULT_KEEP_REMOTE_FILES
                and (become is None or become.name != "su"))

    def _binaries(self, name):
        """{goarch: (local path, sha256)} of the module's binaries in this collection."""
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        out = {}
        for goarch in UNAMES:
            path = os.path.join(here, "modules", "%s_linux_%s" % (name, goarch))
            if os.path.exists(path):
                out[goarch] = (path, _sha256(path))
        return out

    def _run_fast(self, name, task_vars):
        """Runs the module in one round trip; None means: take the plain path."""
        binaries = self._binaries(name)
        if not binaries:
            return None
        module_args = self._task.args.copy()
        self._update_module_args("%s.%s" % (COLLECTION, name), module_args, task_vars)
        module_args["_ansible_tmpdir"] = None
        if get_module_encoder is not None:
            args_json = to_bytes(json.dumps(module_args, cls=get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)))
        else:
            args_json = to_bytes(json.dumps(module_args))

        res = self._low_level_execute_command(self._run_cmd(name, binaries), sudoable=True, in_data=args_json)
        marker, detail = self._marker(res)
        if marker == NOARCH:
            self._goarch(name, detail)  # raises with the architecture named
        if marker == REFUSED:
            display.warning("bo.microvm: not using the module cache: %s; running %s by plain transfer" % (detail, name))
            return None
        if marker == MISS:
            goarch = GOARCH.get(detail)
            if goarch not in binaries:
                return None
            path, sha = binaries[goarch]
            with open(path, "rb") as f:
                data = f.read()
            ins = self._low_level_execute_command(self._install_cmd(name, sha), sudoable=True, in_data=data)
            imarker, idetail = self._marker(ins)
            if imarker != INSTALLED:
                display.vvv("bo.microvm: cache install failed (%s %s); plain transfer" % (imarker, idetail or to_text(ins.get("stderr", ""))))
                if imarker == REFUSED:
                    display.warning("bo.microvm: not using the module cache: %s" % idetail)
                return None
            res = self._low_level_execute_command(self._run_cmd(name, binaries), sudoable=True, in_data=args_json)
            marker, detail = self._marker(res)
            if marker is not None:
                return None
        elif marker is not None:
            return None
        if "{" not in to_text(res.get("stdout", "")):
            # Not even a JSON object: the shell side failed (no sha256sum, sudo requiretty, ...).
            display.vvv("bo.microvm: fast path gave no result (rc=%s, stderr=%s); plain transfer"
                        % (res.get("rc"), to_text(res.get("stderr", "")).strip()))
            return None
        self._used_interpreter = None
        if get_module_encoder is not None:
            return self._finish(self._parse_returned_data(res, PROFILE))
        return self._finish(self._parse_returned_data(res))

    def _run_cmd(self, name, binaries):
        cases = " ".join('%s) s=%s;;' % (UNAMES[a], sha) for a, (_, sha) in sorted(binaries.items()))
        env = self._compute_environment_string().strip()
        return (
            'umask 077; %(dir)s; a="$(uname -m)"; case "$a" in %(cases)s *) echo "%(noarch)s $a"; exit 0;; esac; '
            'if [ -e "$d" ] && ! { %(ok)s; }; then echo "%(refused)s $d is not a directory of $(id -un) with mode 0700"; exit 0; fi; '
            'f="$d/%(name)s-$s"; '
            'if [ -f "$f" ] && [ ! -L "$f" ] && [ "$(stat -c %%u "$f")" = "$(id -u)" ] && [ "$(sha256sum < "$f")" = "$s  -" ]; '
            'then %(env)s "$f" /dev/stdin; exit $?; fi; echo "%(miss)s $a"'
        ) % {"dir": _CACHE_DIR, "cases": cases, "noarch": NOARCH, "ok": _CACHE_OK, "refused": REFUSED,
             "name": name, "env": env, "miss": MISS}

    def _install_cmd(self, name, sha):
        return (
            'umask 077; %(dir)s; '
            'if [ -e "$d" ] || [ -L "$d" ]; then { %(ok)s; } || { echo "%(refused)s $d is not a directory of $(id -un) with mode 0700"; exit 1; }; '
            'else mkdir -p "$d" && chmod 0700 "$d" || exit 1; fi; '
            't="$d/.%(name)s.$$"; '
            'if cat > "$t" && [ "$(sha256sum < "$t")" = "%(sha)s  -" ] && chmod 0700 "$t"; then '
            'for o in "$d"/%(name)s-*; do [ "$o" = "$d/%(name)s-%(sha)s" ] || rm -f "$o"; done; '
            'mv -f "$t" "$d/%(name)s-%(sha)s" && echo "%(installed)s"; else rm -f "$t"; echo "copy failed"; exit 1; fi'
        ) % {"dir": _CACHE_DIR, "ok": _CACHE_OK, "refused": REFUSED, "name": name, "sha": sha,
             "installed": INSTALLED}

    @staticmethod
    def _marker(res):
        for line in to_text(res.get("stdout", "")).splitlines():
            line = line.strip()
            for m in (MISS, REFUSED, NOARCH, INSTALLED):
                if line.startswith(m):
                    return m, line[len(m):].strip()
        return None, None

    def _finish(self, data):
        """The post-processing _execute_module applies to a parsed module result."""
        if "results" in data and not isinstance(data["results"], list):
            data["ansible_module_results"] = data.pop("results")
            display.warning("Found internal 'results' key in module return, renamed to 'ansible_module_results'.")
        if remove_internal_keys is not None:
            remove_internal_keys(data)
        for key in ("stdout", "stderr"):
            if key in data and key + "_lines" not in data:
                data[key + "_lines"] = (data.get(key) or u"").splitlines()
        return data
