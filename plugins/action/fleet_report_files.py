# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the fleet report files on the controller (documented in plugins/modules/fleet_report_files.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile

from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import fleet_markdown
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report_html import fleet_html

ARGUMENT_SPEC = {
    "report": {"type": "dict", "required": True},
    "dest": {"type": "path", "required": True},
}


def render(report):
    """{file name: text} for the report: the same text for the same report, so reruns change nothing."""
    return {
        "fleet.json": json.dumps(report, indent=2, sort_keys=True, separators=(",", ": "), ensure_ascii=False) + "\n",
        "summary.md": fleet_markdown(report),
        "fleet.html": fleet_html(report),
    }


def current_content(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def write_atomically(path, data):
    directory = os.path.dirname(path)
    handle, partial = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(path))
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(partial, 0o644)
        os.rename(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        dest = args["dest"]
        try:
            wanted = dict((name, to_bytes(text)) for name, text in render(args["report"]).items())
        except (KeyError, TypeError, ValueError) as exc:
            result.update(failed=True, msg="kubenode.ipvs_reuse.fleet_report_files: not a fleet report (%s)" % exc)
            return result
        paths = [os.path.join(dest, name) for name in sorted(wanted)]
        changed = [path for path in paths if current_content(path) != wanted[os.path.basename(path)]]
        result.update(dest=dest, files=paths, changed_files=changed, changed=bool(changed))
        if changed and not self._task.check_mode:
            try:
                if not os.path.isdir(dest):
                    os.makedirs(dest, 0o755)
                for path in changed:
                    write_atomically(path, wanted[os.path.basename(path)])
            except (IOError, OSError) as exc:
                result.update(failed=True, msg="cannot write the fleet report in %s: %s" % (dest, to_text(exc)))
        return result
