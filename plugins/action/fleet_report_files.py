# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the fleet report files on the controller (documented in plugins/modules/fleet_report_files.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import tempfile
import uuid

from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import RUN_SPECIFIC, fleet_markdown
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report_html import fleet_html

ARGUMENT_SPEC = {
    "report": {"type": "dict", "required": True},
    "dest": {"type": "path", "required": True},
}

# The three files of one run live together in RUNS_DIR/<run>; CURRENT is a symlink to the published run, switched
# with one rename, so the set changes as a unit. The top-level names are symlinks through CURRENT.
RUNS_DIR = "runs"
CURRENT = "current"
# Published sets kept: the current one and the one before it, so a reader that resolved CURRENT just before a
# switch can still finish reading its set.
KEEP_SETS = 2


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


def only_the_run_differs(dest, report, wanted):
    """True when the published set is the same report as the wanted one but for the run-specific parts (the time
    of the assessment and the run's identity): the fleet did not change, only the report's stamp."""
    published = current_content(os.path.join(dest, "fleet.json"))
    if published is None:
        return False
    try:
        previous = json.loads(to_text(published))
    except ValueError:
        return False
    if not isinstance(previous, dict):
        return False
    restamped = dict(report)
    restamped.update((key, previous.get(key)) for key in RUN_SPECIFIC)
    try:
        again = render(restamped)
    except (KeyError, TypeError, ValueError):
        return False
    return all(current_content(os.path.join(dest, name)) == to_bytes(text) for name, text in again.items()) \
        and set(again) == set(wanted)


def replace_with_symlink(path, target):
    """Point path at target with one rename (atomic for readers), whatever path was before (file or link)."""
    if os.path.islink(path) and os.readlink(path) == target:
        return
    directory = os.path.dirname(path)
    partial = os.path.join(directory, ".%s.%s" % (os.path.basename(path), uuid.uuid4().hex))
    os.symlink(target, partial)
    try:
        os.rename(partial, path)
    except BaseException:
        os.unlink(partial)
        raise


def publish_set(dest, files):
    """Write files ({name: bytes}) into a new run directory, then switch CURRENT to it in one rename.

    Until the switch nothing a reader can reach changes; a run killed before it leaves a hidden, unfinished run
    directory (removed by the next publish) and the previous set intact."""
    runs = os.path.join(dest, RUNS_DIR)
    if not os.path.isdir(runs):
        os.makedirs(runs, 0o755)
    run_dir = tempfile.mkdtemp(dir=runs, prefix=".unfinished.")
    try:
        for name, data in files.items():
            with open(os.path.join(run_dir, name), "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(os.path.join(run_dir, name), 0o644)
        os.chmod(run_dir, 0o755)
        final = os.path.join(runs, "set-" + os.path.basename(run_dir)[len(".unfinished."):])
        os.rename(run_dir, final)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    replace_with_symlink(os.path.join(dest, CURRENT), os.path.join(RUNS_DIR, os.path.basename(final)))
    for name in files:
        replace_with_symlink(os.path.join(dest, name), os.path.join(CURRENT, name))
    prune(runs, os.path.basename(final))


def prune(runs, newest):
    """Remove sets older than the last KEEP_SETS and leftovers of killed runs."""
    sets = []
    for entry in os.listdir(runs):
        path = os.path.join(runs, entry)
        if entry.startswith(".unfinished."):
            shutil.rmtree(path, ignore_errors=True)
        elif entry.startswith("set-") and entry != newest and not os.path.islink(path):
            sets.append((os.lstat(path).st_mtime, entry))
    for _mtime, entry in sorted(sets)[:max(0, len(sets) - (KEEP_SETS - 1))]:
        shutil.rmtree(os.path.join(runs, entry), ignore_errors=True)


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
        layout_ok = all(os.path.islink(path) for path in paths)
        # A new time of assessment (or run identity) over an unchanged fleet is published, so the page says when
        # the fleet was last assessed, but it is not a change (as the metrics timestamp: see docs/reports.md).
        refreshed = bool(changed) and layout_ok and only_the_run_differs(dest, args["report"], wanted)
        result.update(dest=dest, files=paths, changed_files=[] if refreshed else changed, refreshed=refreshed,
                      changed=(bool(changed) or not layout_ok) and not refreshed)
        if (result["changed"] or refreshed) and not self._task.check_mode:
            try:
                publish_set(dest, wanted)
            except (IOError, OSError) as exc:
                result.update(failed=True, msg="cannot write the fleet report in %s: %s" % (dest, to_text(exc)))
        return result
