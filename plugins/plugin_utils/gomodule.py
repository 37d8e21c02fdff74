# -*- coding: utf-8 -*-
# Copyright: bo.microvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin base for bo.microvm's Go binary modules.

Every module is in one static binary per target architecture,
plugins/modules/.bin/bo_microvm_linux_<goarch> (a multi-call binary: the module that runs
is the one named by the ``_ansible_module_name`` argument), with its sha256, computed when
it was built, beside it in plugins/modules/.bin/bo_microvm_linux_<goarch>.sha256, and one
link per module, plugins/modules/<name>_linux_<goarch>, for ansible-core's plain path.
Two ways to run it:

Fast path (default): the target keeps one copy of the binary per build in a private
cache, ``${XDG_CACHE_HOME:-$HOME/.cache}/bo-microvm/bo_microvm-<sha256>``, so a new host
costs one transfer for the whole collection. A task is one remote command: it opens the
cached copy once (fd 3), checks the cache and everything it rests on, and executes
exactly that open file (``/proc/self/fd/3``) with the arguments on stdin. Checked on
every run:
  - the cache directory (resolved, ``cd -P``) is owned by the user the module runs as,
    mode 0700; each of its ancestors up to ``/`` is owned by root or that user and is not
    writable by group or others unless sticky (so no other user can rename, replace or
    add anything on the way: a root cache under a user-writable directory, as become
    with ``-E``/``keepenv`` keeping the user's XDG_CACHE_HOME makes it, is refused);
  - the open file is owned by that user, not writable by group or others, and is the
    inode that was verified when installed: device, inode, size, mtime and ctime (to the
    nanosecond where stat(1) prints it) equal the ``.seal`` written at install.
The sha256 is checked once, at install. A miss (no copy, or one that fails its seal)
answers with the target's ``uname -m`` and which of gzip and zstd it has; the next command
then both installs and runs: its stdin is the module's arguments (one line of JSON, read by
the shell's read builtin, which reads byte by byte and stops at the newline in busybox ash,
dash and bash) followed by the binary's stream (zstd -6 of it when the target and the
controller have zstd, else gzip -1 when the target has gzip, else the binary itself), read
to its end. The stream is unpacked through tee into a temporary file in the checked cache
and into sha256sum at once, the file opened once, renamed into place and sealed from that
fd (under flock(1), so two first tasks at once leave a copy and seal that match) while the
module is executed from that fd: a first task is two round trips. A stream that does not
unpack or hashes to anything else is never executed and leaves no cache entry. The
controller keeps its compressed copy of each build in ``$ANSIBLE_HOME/bo.microvm/``
(compressing 9 MB costs about as much as sending it); the target's check is what trusts it, and a copy the
target refuses is replaced. Hashing the 9 MB binary on every task would cost more than
the task, so a cached copy is checked by its seal, not re-hashed. A copy that fails its
seal is never executed: the task reports a miss and the copy is replaced.
A cache that fails the ownership checks is refused with a warning; the task then takes
the plain path.

Plain path (``bo_microvm_fast_path: false``, async tasks, ``su`` become, kept remote
files, connections without pipelining): ansible-core's own _execute_module copies the
module's link target (the same binary) and an args file on every task.

Both paths pass the same ``_ansible_*`` arguments (_update_module_args), parse the output
with the same code (_parse_returned_data), and run through the become plugin, so check
mode, diff, no_log and become behave the same.

Hiding a result: ansible-core strips every ``_ansible_*`` key a module returns (and
prints it in a warning), so a module cannot set ``_ansible_no_log`` itself. A module
that returns a secret sets ``bo_microvm_no_log: true`` in its result instead; on both
paths this plugin removes that key and sets the task result's ``_ansible_no_log``, which
the callbacks honour (TaskResult.clean_copy: "the output has been hidden"), and which a
registered variable keeps (the values stay usable, e.g. ``token``). While the module's
commands run, this plugin also sets the play context's no_log, so the ssh connection's
-vvv line prints ``rc=N, stdout and stderr censored due to no log`` instead of the
module's raw output (which would show the secret before the result is parsed).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
    from ansible.module_utils.common.json import Direction, get_module_decoder, get_module_encoder
except ImportError:  # ansible-core 2.14 - 2.18
    Direction = get_module_decoder = get_module_encoder = None

# Binary modules use the "legacy" profile in 2.19+ (module_common's default metadata).
PROFILE = "legacy"

if get_module_encoder is not None:
    # The profile's encoder and decoder are modules that get_module_encoder/decoder import on
    # first use. Each task runs in a worker process forked from the main one, so an import made
    # in a worker is made again by the next task's: 2 ms per task here (cProfile of run() over
    # 18 tasks, 2.19). The main process imports this file (the linear and free strategies load
    # the task's action class there: ansible-core 2.19 plugins/strategy/linear.py
    # "action_loader.get(task_action, class_only=True, ...)"), so importing them here, once, is
    # inherited by every worker.
    get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)
    get_module_decoder(PROFILE, Direction.MODULE_TO_CONTROLLER)

display = Display()

COLLECTION = "bo.microvm"
BINARY = "bo_microvm"
ARCH_FACT = "bo_microvm_arch"
FAST_PATH_VAR = "bo_microvm_fast_path"
# The result key a module sets to have its result hidden (see the module docstring).
NO_LOG_KEY = "bo_microvm_no_log"
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
BAD_STREAM = "BO_MICROVM_BAD_STREAM"
# Where a controller keeps the gzip of each build it has sent ($ANSIBLE_HOME/<STREAM_DIR>).
STREAM_DIR = "bo.microvm"
GZIP_LEVEL = 1
# zstd -6: 3.5 MB for the 9.2 MB amd64 binary against gzip -1's 4.1, unpacked in 16 ms against
# gzip's 60 (measured here); -19 saves 0.4 MB more but compresses for 3.3 s instead of 0.13 s,
# which a controller pays once per build (an AWX job: once per job that meets a new host).
ZSTD_LEVEL = 6
# codec -> (suffix of the controller's copy, the target's unpacker)
CODECS = {"zstd": (".zst", "zstd -dcq"), "gzip": (".gz", "gzip -dc")}

_CACHE_DIR = 'd="${XDG_CACHE_HOME:-$HOME/.cache}/bo-microvm"'

# tree DIR FILE: one stat(1) of /proc/self (its owner is the stat process's, i.e. our,
# effective uid), FILE and DIR (resolved with cd -P) with every ancestor up to /. DIR must be
# owned by us with mode 0700, each ancestor owned by root or us and not writable by group or
# others unless sticky; else it prints REFUSED and fails. It leaves me (our uid) and fu, fm,
# fid: FILE's owner, mode and identity (device:inode:size:mtime:ctime, the seal's format).
_TREE = (
    'tree() { r=""; if cd -P -- "$1" 2>/dev/null; then r=$PWD; cd "$OLDPWD" 2>/dev/null; fi; '
    '[ -n "$r" ] || { echo "%(refused)s cannot resolve $1"; return 1; }; '
    'x=$2; set -- "$r"; q="$r"; while [ -n "$q" ]; do q="${q%%/*}"; set -- "$@" "${q:-/}"; done; '
    'o=$(stat -L -c "%%u %%a %%d:%%i:%%s:%%.9Y:%%.9Z" /proc/self "$x" "$@") || return 1; set -- $o; '
    'me=$1; fu=$4; fm=$5; fid=$6; shift 6; '
    'if [ "$1" != "$me" ] || [ $((0$2 & 077)) -ne 0 ]; then echo "%(refused)s $r is not a directory of uid $me with mode 0700"; return 1; fi; '
    'shift 3; p="${r%%/*}"; p="${p:-/}"; '
    'while [ $# -gt 0 ]; do '
    'if [ "$1" != 0 ] && [ "$1" != "$me" ]; then echo "%(refused)s $p (above $r) is owned by uid $1, neither root nor uid $me"; return 1; fi; '
    'if [ $((0$2 & 022)) -ne 0 ] && [ $((0$2 & 01000)) -eq 0 ]; then echo "%(refused)s $p (above $r) is writable by others (mode $2)"; return 1; fi; '
    'shift 3; p="${p%%/*}"; p="${p:-/}"; done; }; '
) % {"refused": REFUSED}

# The identity of the file open on fd 3, in the format tree leaves in fid: the seal.
_IDENT = "stat -L -c '%d:%i:%s:%.9Y:%.9Z' /proc/self/fd/3"


def _codec(unpackers):
    """The stream's codec for a target whose PATH has these unpackers ("gzip", "zstd"); None: as built.

    zstd needs the CLI on this controller as well (Python has no zstd before 3.14); both
    are NixOS core packages (system-path.nix corePackageNames, cited in _install_run_cmd)."""
    if "zstd" in unpackers:
        import shutil

        if shutil.which("zstd"):
            return "zstd"
    if "gzip" in unpackers:
        return "gzip"
    return None


def _read_sum(path):
    with open(path) as f:
        return f.read().split()[0]


class GoModuleAction(ActionBase):
    """Runs the multi-call binary for the module the task names."""

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(GoModuleAction, self).run(tmp, task_vars)
        del tmp
        name = self._task.action.rsplit(".", 1)[-1]
        wrap_async = self._task.async_val and not self._connection.has_native_async

        # The ssh connection prints each command's raw stdout at -vvv unless its play context
        # says no_log (plugins/connection/ssh.py _ssh_retry); the connection has its own copy
        # of the play context (executor/task_executor.py: "self._connection._play_context =
        # self._play_context.set_task_and_variable_override(...)", ansible/ansible c9ac477e).
        # The module's output is shown once parsed, by the callback, which honours NO_LOG_KEY.
        contexts = [pc for pc in (self._play_context, getattr(self._connection, "_play_context", None)) if pc is not None]
        saved = [pc.no_log for pc in contexts]
        for pc in contexts:
            pc.no_log = True
        try:
            out = None
            if self._fast_path_allowed(task_vars, wrap_async):
                out = self._run_fast(name, task_vars)
            probed = False
            if out is None:
                out, arch, probed = self._run_plain(name, task_vars, wrap_async)
        finally:
            for pc, v in zip(contexts, saved):
                pc.no_log = v
        hide = out.pop(NO_LOG_KEY, False)
        result.update(out)
        if hide:
            result["_ansible_no_log"] = True
        if probed and not self._task.delegate_to:
            result.setdefault("ansible_facts", {})[ARCH_FACT] = arch
        return result

    # -- plain path ---------------------------------------------------------

    def _run_plain(self, name, task_vars, wrap_async):
        arch, probed = self._target_arch(task_vars)
        goarch = self._goarch(name, arch)
        # plugins/modules/NAME_linux_GOARCH links to the multi-call binary; ansible-core passes
        # this name as _ansible_module_name, which picks the module.
        out = self._execute_module(
            module_name="%s.%s_linux_%s" % (COLLECTION, name, goarch),
            module_args=self._task.args.copy(),
            task_vars=task_vars,
            wrap_async=wrap_async)
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return out, arch, probed

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

    @staticmethod
    def _binaries():
        """{goarch: (local path, sha256)} of the multi-call binaries, sha256 as built."""
        here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "modules", ".bin")
        out = {}
        for goarch in UNAMES:
            path = os.path.join(here, "%s_linux_%s" % (BINARY, goarch))
            try:
                out[goarch] = (path, _read_sum(path + ".sha256"))
            except (IOError, OSError, IndexError):
                continue
        return out

    def _run_fast(self, name, task_vars):
        """Runs the module: one round trip on a hit, two on a miss; None means: take the plain path."""
        binaries = self._binaries()
        if not binaries:
            return None
        module_args = self._task.args.copy()
        self._update_module_args("%s.%s" % (COLLECTION, name), module_args, task_vars)
        module_args["_ansible_tmpdir"] = None
        if get_module_encoder is not None:
            args_json = to_bytes(json.dumps(module_args, cls=get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)))
        else:
            args_json = to_bytes(json.dumps(module_args))

        run_cmd = self._run_cmd(binaries)
        res = self._low_level_execute_command(run_cmd, sudoable=True, in_data=args_json)
        marker, detail = self._marker(res)
        if marker == REFUSED:
            display.warning("bo.microvm: not using the module cache: %s; running %s by plain transfer" % (detail, name))
            return None
        if marker == MISS:
            res = self._install_and_run(name, binaries, detail, args_json)
            if res is None:
                return None
        elif marker is not None:
            return None
        if "{" not in to_text(res.get("stdout", "")):
            # Not even a JSON object: the shell side failed (no /proc, sudo requiretty, ...).
            display.vvv("bo.microvm: fast path gave no result (rc=%s); plain transfer" % res.get("rc"))
            return None
        self._used_interpreter = None
        if get_module_encoder is not None:
            return self._finish(self._parse_returned_data(res, PROFILE))
        return self._finish(self._parse_returned_data(res))

    def _install_and_run(self, name, binaries, detail, args_json):
        """After a miss: one command installs the binary from its stream and runs the module.

        detail is the miss line's rest, "<uname -m> [gzip] [zstd]": the unpackers on the
        target's PATH. The stream is zstd of the binary when both the target and this
        controller have zstd, else gzip when the target has gzip, else the binary as built
        (_codec); the module's arguments come before it on the same stdin. None means: take
        the plain path."""
        words = detail.split()
        uname = words[0] if words else ""
        goarch = GOARCH.get(uname)
        if goarch is None:
            self._goarch(name, uname)  # raises with the architecture named
        if goarch not in binaries:
            return None
        path, sha = binaries[goarch]
        if b"\n" in args_json or b"\0" in args_json:
            # Cannot happen with json.dumps (it escapes both); the framing relies on it.
            return None
        codec = _codec(words[1:])
        for cached in (True, False):
            stream, from_cache = self._stream(path, sha, goarch, codec, cached)
            res = self._low_level_execute_command(
                self._install_run_cmd(sha, codec), sudoable=True, in_data=args_json + b"\n" + stream)
            marker, mdetail = self._marker(res)
            if marker is None:
                return res
            if marker == REFUSED:
                display.warning("bo.microvm: not using the module cache: %s; running %s by plain transfer" % (mdetail, name))
                return None
            if marker == BAD_STREAM and from_cache:
                # The controller's compressed copy did not give the binary the build's sha256
                # names: drop it and send a fresh one (the target never ran the bad one).
                display.warning("bo.microvm: the compressed binary cached on this controller (%s) failed "
                                "verification on the target (%s); compressing it again"
                                % (self._stream_path(sha, goarch, codec), mdetail))
                self._drop_stream(sha, goarch, codec)
                continue
            display.vvv("bo.microvm: cache install failed (%s %s); plain transfer"
                        % (marker, mdetail or to_text(res.get("stderr", "")).strip()))
            return None
        return None

    @staticmethod
    def _stream_path(sha, goarch, codec):
        home = os.path.expanduser(getattr(C, "ANSIBLE_HOME", None) or "~/.ansible")
        return os.path.join(home, STREAM_DIR, "%s_linux_%s-%s%s" % (BINARY, goarch, sha, CODECS[codec][0]))

    def _drop_stream(self, sha, goarch, codec):
        try:
            os.unlink(self._stream_path(sha, goarch, codec))
        except OSError:
            pass

    def _stream(self, path, sha, goarch, codec, cached):
        """The bytes that carry the binary to the target, and whether they came from the cache.

        Without an unpacker on the target (codec None): the binary as built. Else the binary
        compressed (zstd -6: 3.5 of 9.2 MB for amd64; gzip -1: 4.1), kept in
        $ANSIBLE_HOME/bo.microvm/ under the build's sha256 so a controller compresses each
        build once, not once per host. That copy is not trusted: the target checks the sha256
        of what it decompresses before it keeps or runs anything."""
        if codec is None:
            with open(path, "rb") as f:
                return f.read(), False
        spath = self._stream_path(sha, goarch, codec)
        if cached:
            try:
                with open(spath, "rb") as f:
                    return f.read(), True
            except (IOError, OSError):
                pass
        # Imported here, not at the top: only a first task on a host compresses, and every
        # task (a hit is one command) imports this module.
        import tempfile

        if codec == "zstd":
            import subprocess

            # Python has no zstd before 3.14; _codec chose zstd only where the CLI is on PATH.
            data = subprocess.run(["zstd", "-%d" % ZSTD_LEVEL, "-q", "-c", "--", path],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True).stdout
        else:
            import gzip

            with open(path, "rb") as f:
                data = gzip.compress(f.read(), GZIP_LEVEL, mtime=0)
        try:
            os.makedirs(os.path.dirname(spath), mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(spath))
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, spath)
            except BaseException:
                os.unlink(tmp)
                raise
        except (IOError, OSError) as e:
            display.vvv("bo.microvm: cannot keep the compressed binary in %s: %s" % (spath, e))
        return data, False

    def _run_cmd(self, binaries):
        """Run the cached copy if it passes every check, else print MISS (uname -m, the unpackers) or REFUSED."""
        env = self._compute_environment_string().strip()
        found = " ".join(sha for _, sha in sorted(binaries.values()))
        return (
            'umask 077; %(dir)s; %(tree)s'
            'f=""; for s in %(found)s; do if [ -f "$d/%(bin)s-$s" ]; then f="$d/%(bin)s-$s"; break; fi; done; '
            'if [ -n "$f" ]; then { tree "$d" /proc/self/fd/3 || exit 0; read -r seal < "$f.seal" && '
            '[ "$fu" = "$me" ] && [ $((0$fm & 022)) -eq 0 ] && [ "$fid" = "$seal" ] && { %(env)s exec /proc/self/fd/3 /dev/stdin; }; '
            '} 3< "$f"; fi; g=; z=; command -v gzip >/dev/null && g=gzip; command -v zstd >/dev/null && z=zstd; '
            'echo "%(miss)s $(uname -m) $g $z"'
        ) % {"dir": _CACHE_DIR, "tree": _TREE, "found": found, "bin": BINARY, "env": env, "miss": MISS}

    def _install_run_cmd(self, sha, codec):
        """Install the binary from stdin's stream and run the module; stdin is ARGS\\nSTREAM.

        The module's arguments come first, one line of JSON (json.dumps escapes every newline
        inside a value, and _run_fast sends nothing else), read by the shell's read builtin.
        That read is exact on a pipe or socket in every shell this runs under: busybox ash reads
        one byte per read(2) and stops at the newline (mirror/busybox 01ccdd1d,
        shell/shell_common.c shell_builtin_read: "read(fd, &buffer[bufpos], 1)"), dash reads
        its stdin one byte at a time (herbertx/dash 1d072e9c, src/input.c preadfd: "read(0,
        buf, 1)" until "\\n"), bash reads unbuffered when lseek says ESPIPE (bminor/bash
        0628567a, builtins/read.def: input_is_pipe, unbuffered_read, zread(fd, &c, 1)). So
        nothing of the stream is consumed with the arguments, and the stream, which is all
        that is left, is read to its end: no tool has to stop at a length. (The first version
        put the stream first and cut it with head -c: busybox's head -c reads stdio blocks
        and ate the arguments, so the module got none.) The arguments reach the module on a
        pipe from printf, a builtin of busybox ash, dash and bash, so they are in no argv.

        The stream (zstd or gzip of the binary, or the binary itself) is unpacked through
        tee(1) into a temporary file in the checked cache (made executable before the stream
        is read, while the stream is still arriving) and into sha256sum at once: hashed
        on the way in, where hashing the file afterwards cost 30 ms more here. The cache
        directory was checked first (ours, 0700, no ancestor writable by anyone else), so no
        other user can touch the file between that write and its open. An unpacker that fails
        prints U beside the hash, and a tee that fails (disk full) adds T to the hashed bytes,
        so neither passes. The file is then opened once (fd 3), renamed into place and sealed
        from that fd, and the module is executed from it (/proc/self/fd/3), so what runs is
        the file that was written and hashed. A stream that does not unpack, or unpacks to
        anything but the build's bytes, is never executed and leaves nothing in the cache
        (BAD_STREAM). Renaming and sealing hold flock(1) on the cache's .lock,
        so two first tasks at once leave a copy and a seal that belong together. They run in
        the background, beside the module, which needs neither (it runs from fd 3, the file
        whose hash matched) and is started once the hash matched; the command waits for them
        before it exits, so the next task finds the copy sealed (6 ms less per first task
        here: the rename, the seal's stat(1) and mv took 7-12 ms before the module started).
        A seal that is not written (the connection dropped in those ms) leaves a copy that
        the next try reads as a miss and replaces. None of the background's commands reads
        stdin (flock, mv, stat, rm). Every exit
        reads stdin to its end: the ssh connection writes in_data in one write and then
        closes (ansible/ansible c9ac477e, lib/ansible/plugins/connection/ssh.py
        _send_initial_data), and a closed pipe under that write can fail the task as
        unreachable. The target's zstd, gzip, sha256sum, tee, stat and flock are NixOS core packages
        (NixOS/nixpkgs 0354e8b7, nixos/modules/config/system-path.nix corePackageNames), and
        busybox applets on the lab's guests (all but zstd, which busybox does not have)."""
        env = self._compute_environment_string().strip()
        unpack = CODECS[codec][1] if codec else "cat"
        return (
            'umask 077; IFS= read -r a || { echo "%(bad)s no arguments before the stream"; cat > /dev/null; exit 1; }; '
            '%(dir)s; %(tree)s'
            'mkdir -p "$d" && tree "$d" "$d" || { cat > /dev/null; exit 1; }; '
            'f="$d/%(bin)s-%(sha)s"; t="$d/.%(bin)s.$$"; '
            ': > "$t" && chmod 0700 "$t" || { rm -f "$t"; cat > /dev/null; exit 1; }; '
            'h=$( { { %(unpack)s || echo U >&5; } | { tee "$t" || echo T; } | sha256sum; } 5>&1 ); '
            'case "$h" in *U*) echo "%(bad)s the stream did not unpack";; "%(sha)s  -") { '
            '{ if command -v flock >/dev/null; then flock -w 30 4; fi; '
            'mv -f "$t" "$f" && %(ident)s > "$t.seal" && mv -f "$t.seal" "$f.seal" && '
            'for o in "$d"/%(bin)s-*; do case "$o" in "$f"|"$f.seal") ;; *) rm -f "$o";; esac; done; } 4> "$d/.lock" & s=$!; '
            'printf %%s "$a" | %(env)s /proc/self/fd/3 /dev/stdin; r=$?; wait $s; cat > /dev/null; exit $r; '
            '} 3< "$t";; *) echo "%(bad)s the stream unpacked to other bytes than the build (sha256 differs)";; esac; '
            'rm -f "$t"; cat > /dev/null; exit 1'
        ) % {"dir": _CACHE_DIR, "tree": _TREE, "bin": BINARY,
             "sha": sha, "ident": _IDENT, "unpack": unpack, "env": env, "bad": BAD_STREAM}

    @staticmethod
    def _marker(res):
        for line in to_text(res.get("stdout", "")).splitlines():
            line = line.strip()
            for m in (MISS, REFUSED, BAD_STREAM):
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
