#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: undo_record
short_description: Record files as they are before a role changes them, and put them back byte for byte
version_added: 1.0.0
description:
  - With O(state=present), writes a record (JSON) of each file in O(files) as it is now (whether it exists, its
    bytes, mode, owner and group, or its symlink target) plus any O(data) given, unless a record already exists.
    An existing record is never overwritten, so it keeps the state from before the first change, also across
    interrupted and repeated runs. The one addition made to an existing record is a key of O(data) it does not hold
    yet is added (a value the caller starts to change only now, such as a sysctl newly pinned); keys it holds keep
    their recorded value.
  - With O(state=restored), puts every recorded file back as it was (byte for byte, same mode and owner) and
    removes the files that did not exist. It does not delete the record; do that once everything else has been
    undone (for example with M(ansible.builtin.file)), so that an interrupted undo can be run again.
  - Files are written atomically. Check mode reports exactly what would change; diff mode shows text files.
author:
  - kubenode.ipvs_reuse contributors (@kubenode)
options:
  path:
    description: Where the record lives on the node. Its directory is created with mode C(0700) if needed.
    type: path
    required: true
  files:
    description:
      - Absolute paths of the files to record (O(state=present)); with O(state=present) or O(state=query), the
        module also reports in RV(current) whether each of them exists now.
    type: list
    elements: path
    default: []
  marker:
    description:
      - Text that the files written by the caller carry (for example in a header comment). When set, the module
        also reports in RV(current_marked) which of O(files) exist now and contain it, so that a caller whose
        record is gone can tell its own files from ones it never wrote.
    type: str
  data:
    description: Extra values to keep in the record, for example a live sysctl value before the change.
    type: dict
    default: {}
  state:
    description:
      - V(present) records (once); V(restored) puts the recorded files back; V(query) only reads the record and
        reports which of O(files) exist now.
    type: str
    choices: [present, restored, query]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - kubenode.ipvs_reuse.attributes
  - kubenode.ipvs_reuse.node_module
notes:
  - The P(kubenode.ipvs_reuse.pin_sysctl#role) role uses this module.
  - Meant for small configuration files; the whole content is kept in the record.
"""

EXAMPLES = r"""
- name: Record the files the role manages, once, before the first change
  kubenode.ipvs_reuse.undo_record:
    path: /var/lib/kubenode-ipvs-reuse/pin_sysctl.json
    files:
      - /etc/sysctl.d/90-kubenode-ipvs-reuse.conf
    data:
      conn_reuse_mode: 0

- name: Put them back
  kubenode.ipvs_reuse.undo_record:
    path: /var/lib/kubenode-ipvs-reuse/pin_sysctl.json
    state: restored
"""

RETURN = r"""
record:
  description:
    - The record (as written now, as found, or in check mode as it would be written); V(null) when
      O(state=restored) finds none.
    - C(files) maps each path to C(exists), and for existing files C(type) (V(file) or V(link)), C(content_b64),
      C(mode), C(uid), C(gid) or C(target).
  returned: always
  type: dict
  sample:
    version: 1
    recorded_at: "2026-11-26T05:00:00Z"
    data: {conn_reuse_mode: 0}
    files:
      /etc/sysctl.d/90-kubenode-ipvs-reuse.conf: {exists: false}
added:
  description: The keys of O(data) added to an existing record (O(state=present)); absent when none were.
  returned: when a record existed and O(data) held keys it did not
  type: list
  elements: str
  sample: [conn_reuse_old_conntrack]
existed:
  description: Whether a record existed before the module ran.
  returned: always
  type: bool
current:
  description: For each path in O(files), whether it exists now (before the module changes anything).
  returned: when O(state=present) or O(state=query)
  type: dict
  sample: {/etc/sysctl.d/90-kubenode-ipvs-reuse.conf: true}
current_marked:
  description: For each path in O(files), whether it exists now and contains O(marker) (in its first 64 KiB).
  returned: when O(marker) is set and O(state=present) or O(state=query)
  type: dict
  sample: {/etc/sysctl.d/90-kubenode-ipvs-reuse.conf: false}
restored:
  description: The paths that were (or in check mode would be) written back or removed.
  returned: when O(state=restored)
  type: list
  elements: str
"""

import base64
import json
import os
import stat
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.atomic_file import write_atomically

RECORD_MODE = 0o600  # the record holds the recorded files' content


def describe(path):
    """The file at path as it is now."""
    try:
        info = os.lstat(path)
    except OSError:
        return {"exists": False}
    if stat.S_ISLNK(info.st_mode):
        return {"exists": True, "type": "link", "target": os.readlink(path)}
    if not stat.S_ISREG(info.st_mode):
        return {"exists": True, "type": "other"}
    with open(path, "rb") as handle:
        content = handle.read()
    return {"exists": True, "type": "file", "content_b64": to_text(base64.b64encode(content)),
            "mode": "%04o" % stat.S_IMODE(info.st_mode), "uid": info.st_uid, "gid": info.st_gid}


def write_record(module, path, record):
    write_atomically(module, path, to_bytes(json.dumps(record, indent=2, sort_keys=True) + "\n"), mode=RECORD_MODE)


def as_text(entry):
    if not entry.get("exists"):
        return ""
    if entry.get("type") == "link":
        return "symlink to %s\n" % entry["target"]
    try:
        return to_text(base64.b64decode(entry["content_b64"]), errors="strict")
    except (UnicodeError, ValueError):
        return "(binary content)\n"


def load_record(module, path):
    try:
        with open(path, "rb") as handle:
            record = json.loads(to_text(handle.read()))
    except (IOError, OSError):
        return None
    except ValueError as exc:
        module.fail_json(msg="the undo record %s is not valid JSON (%s): fix or remove it by hand; nothing was "
                             "changed" % (path, exc))
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
        module.fail_json(msg="the undo record %s has an unexpected shape; nothing was changed" % path)
    return record


def restore_one(module, path, wanted):
    """Put one file back; return True when something was (or would be) changed."""
    now = describe(path)
    if not wanted.get("exists"):
        if not now["exists"]:
            return False
        if not module.check_mode:
            os.unlink(path)
        return True
    kind = wanted.get("type")
    if kind == "link":
        if now.get("type") == "link" and now["target"] == wanted["target"]:
            return False
        if not module.check_mode:
            if now["exists"]:
                os.unlink(path)
            os.symlink(wanted["target"], path)
        return True
    if kind != "file":
        module.fail_json(msg="%s was recorded as neither a file nor a symlink; restore it by hand" % path)
    same = (now.get("type") == "file" and now["content_b64"] == wanted["content_b64"]
            and now["mode"] == wanted["mode"] and now["uid"] == wanted["uid"] and now["gid"] == wanted["gid"])
    if same:
        return False
    if not module.check_mode:
        if now["exists"] and now.get("type") != "file":
            os.unlink(path)
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path), 0o755)
        write_atomically(module, path, base64.b64decode(wanted["content_b64"]), mode=int(wanted["mode"], 8),
                         owner=(wanted["uid"], wanted["gid"]))
    return True


def carries(path, marker):
    """Whether the regular file at path contains marker in its first 64 KiB (False when unreadable)."""
    if not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as handle:
            return to_bytes(marker) in handle.read(65536)
    except (IOError, OSError):
        return False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            files=dict(type="list", elements="path", default=[]),
            data=dict(type="dict", default={}),
            marker=dict(type="str"),
            state=dict(type="str", choices=["present", "restored", "query"], default="present"),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    record = load_record(module, path)
    existed = record is not None

    state = module.params["state"]
    for name in module.params["files"]:
        if not os.path.isabs(name):
            module.fail_json(msg="files must be absolute paths, got %s" % name)
    current = dict((name, os.path.lexists(name)) for name in module.params["files"])
    facts = dict(current=current)
    if module.params["marker"]:
        facts["current_marked"] = dict((name, carries(name, module.params["marker"])) for name in module.params["files"])
    if state == "query":
        module.exit_json(changed=False, record=record, existed=existed, **facts)

    if state == "present":
        if existed:
            recorded_data = record.get("data") if isinstance(record.get("data"), dict) else {}
            added = dict((key, value) for key, value in module.params["data"].items() if key not in recorded_data)
            if not added:
                module.exit_json(changed=False, record=record, existed=True, **facts)
            before_text = json.dumps(recorded_data, indent=2, sort_keys=True) + "\n"
            record = dict(record, data=dict(recorded_data, **added))
            result = dict(changed=True, record=record, existed=True, added=sorted(added), **facts)
            if module._diff:
                result["diff"] = {"before_header": path + " (data)", "after_header": path + " (data)",
                                  "before": before_text, "after": json.dumps(record["data"], indent=2, sort_keys=True) + "\n"}
            if not module.check_mode:
                try:
                    write_record(module, path, record)
                except (IOError, OSError) as exc:
                    module.fail_json(msg="cannot add %s to the undo record %s: %s; nothing was changed"
                                     % (", ".join(sorted(added)), path, to_native(exc)))
            module.exit_json(**result)
        record = {"version": 1, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "data": module.params["data"],
                  "files": dict((name, describe(name)) for name in module.params["files"])}
        result = dict(changed=True, record=record, existed=False, **facts)
        if module._diff:
            result["diff"] = {"before_header": path, "after_header": path, "before": "",
                              "after": "record of %s\n" % ", ".join(sorted(record["files"]))}
        if not module.check_mode:
            try:
                if not os.path.isdir(os.path.dirname(path)):
                    os.makedirs(os.path.dirname(path), 0o700)
                write_record(module, path, record)
            except (IOError, OSError) as exc:
                module.fail_json(msg="cannot write the undo record %s: %s; nothing was changed"
                                 % (path, to_native(exc)))
        module.exit_json(**result)

    if not existed:
        module.exit_json(changed=False, record=None, existed=False, restored=[])
    restored = []
    diffs = []
    for name in sorted(record["files"]):
        wanted = record["files"][name]
        before = describe(name)
        try:
            if restore_one(module, name, wanted):
                restored.append(name)
                diffs.append({"before_header": name, "after_header": name,
                              "before": as_text(before), "after": as_text(wanted)})
        except (IOError, OSError) as exc:
            module.fail_json(msg="cannot restore %s: %s (restored so far: %s); run again after fixing the cause"
                             % (name, to_native(exc), ", ".join(restored) or "nothing"))
    result = dict(changed=bool(restored), record=record, existed=True, restored=restored)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
