# -*- coding: utf-8 -*-
# Copyright: bo.microvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read, change and write a known_hosts file on the controller under a lock.

Two deploys that write the same file at once (two terminals, two AWX jobs on one node)
would each read it, add their VMs' lines and write it back, and the one that wrote last
would drop the other's lines. So the read, the change and the write happen in one
process while it holds an exclusive flock(2) on the file's directory (a directory keeps
its inode while the file is replaced by a rename, and no lock file is left beside it);
the kernel drops the lock when the process ends, however it ends. Plain Python: the
action plugin microvm_known_hosts uses it, and tests/filters loads it by path.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import stat
import tempfile


def update(path, compute, check=False):
    """Apply compute to the text of known_hosts file path and write the result back.

    compute(text) returns a dict with at least "content" (the new text), "rewrite"
    (whether it differs) and "conflicts" (a non-empty list stops the write). path is
    followed if it is a symlink. A missing file reads as "" and is created with mode 0644;
    an existing file keeps its mode. With check, nothing is written (and no lock taken
    when nothing exists to lock). Returns compute's result plus "before", "path" (the file
    written) and "written"."""
    path = os.path.realpath(os.path.expanduser(path))
    parent = os.path.dirname(path) or "."
    try:
        dfd = os.open(parent, os.O_RDONLY)
    except OSError as e:
        if check and e.errno == errno.ENOENT:
            res = dict(compute(""))
            res.update(before="", path=path, written=False)
            return res
        raise
    try:
        fcntl.flock(dfd, fcntl.LOCK_EX)
        try:
            with open(path, "rb") as f:
                before = f.read().decode("utf-8")
                mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)
        except IOError as e:
            if e.errno != errno.ENOENT:
                raise
            before, mode = "", 0o644
        res = dict(compute(before))
        res.update(before=before, path=path, written=False)
        if check or res["conflicts"] or not res["rewrite"]:
            return res
        fd, tmp = tempfile.mkstemp(prefix=".known_hosts.", dir=parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(res["content"].encode("utf-8"))
                f.flush()
                os.fchmod(f.fileno(), mode)
                os.fsync(f.fileno())
            os.rename(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        res["written"] = True
        return res
    finally:
        os.close(dfd)  # releases the lock
