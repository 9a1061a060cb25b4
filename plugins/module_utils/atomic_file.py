# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way a node-side module of this collection writes a file (standard library and AnsibleModule only).

As ansible.posix's sysctl module does: the new content goes to a temporary file in the target's own directory,
is flushed to disk, then ``module.atomic_move`` renames it over the target (keeping the SELinux context, and
falling back where a rename cannot work). A reader sees the old file or the new one, never a part.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile


def write_atomically(module, path, content, mode=None, owner=None):
    """Replace path with content (bytes, or text written as UTF-8).

    The temporary file is hidden (``.<name>.<random>.tmp``): a reader that takes every file of a pattern in the
    directory (node_exporter's ``*.prom``, systemd's ``*.conf``) never takes it.

    Without mode and owner, the file keeps the mode and owner of the file it replaces (a new one gets the umask's
    mode), as ``atomic_move`` does; the caller may set its own afterwards. A mode (int) is the file's exact mode,
    owner (uid, gid) its exact owner: both are set on the temporary file before the rename, and for a new file the
    umask is narrowed during the rename, so the content is never readable by more than mode allows.
    """
    if not isinstance(content, bytes):
        content = content.encode("utf-8")
    directory, name = os.path.split(path)
    handle, temp = tempfile.mkstemp(prefix="." + name + ".", suffix=".tmp", dir=directory or ".")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        if mode is None and owner is None:
            module.atomic_move(temp, path)
            return
        if owner is not None:
            os.chown(temp, owner[0], owner[1])
        umask = None
        if mode is not None:
            os.chmod(temp, mode)
            # a file atomic_move creates gets the umask's mode: no wider than mode meanwhile
            umask = os.umask(0o777 & ~mode)
        try:
            module.atomic_move(temp, path, keep_dest_attrs=False)
        finally:
            if umask is not None:
                os.umask(umask)
        # and a file it creates belongs to the module's user; chown first, as it clears setuid and setgid bits
        if owner is not None:
            os.chown(path, owner[0], owner[1])
        if mode is not None:
            os.chmod(path, mode)
    finally:
        if os.path.lexists(temp):
            os.unlink(temp)
