"""fleet_report_files' action plugin through a play (the set publishing itself is in test_fleet_report_set.py):
the first run writes the three files, the same report again changes nothing, a new time over the same fleet is a
refresh (published, not a change), check mode previews a change without writing, and a wrong report, a missing
option or an unwritable destination fail with a message."""
import base64
import json
import os

from support import demo
from ansible_collections.kubenode.ipvs_reuse.plugins.action import fleet_report_files as action
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import fleet_report

from .test_ipvs_facts_lean import run_playbook

NAMES = ("fleet.html", "fleet.json", "summary.md")  # the order of files and changed_files


def report(nodes, generated_at, run=None):
    return fleet_report(dict((name, demo.node_facts(name)) for name in nodes), generated_at=generated_at,
                        cluster="prod", run=run)


FIRST = report(["centos7-kp118", "elrepo-5.4"], "2026-12-01T10:00:00Z", {"id": "r1"})
RESTAMPED = report(["centos7-kp118", "elrepo-5.4"], "2026-12-02T10:00:00Z", {"awx_job_id": 7})
GROWN = report(["centos7-kp118", "elrepo-5.4", "garbled-sysctl"], "2026-12-03T10:00:00Z", {"id": "r3"})


def published(dest):
    return dict((name, open(os.path.join(dest, name), encoding="utf-8").read()) for name in NAMES)


def test_runs_of_the_report_task(tmp_path):
    dest = str(tmp_path / "ipvs-reuse-report")
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {"controller": {}}}}))

    def task(name, report_value, target=dest, **extra):
        args = {"dest": target} if report_value is None else {"report": report_value, "dest": target}
        return dict({"name": name, "kubenode.ipvs_reuse.fleet_report_files": args}, **extra)
    tasks = [task("first", FIRST), task("same", FIRST), task("restamped", RESTAMPED),
             task("preview", GROWN, check_mode=True),
             {"name": "read after the preview", "ansible.builtin.slurp": {"src": os.path.join(dest, "fleet.json")}},
             task("grown", GROWN),
             task("not a report", {"summary": {}, "nodes": "garbage"}, ignore_errors=True),
             task("no report", None, ignore_errors=True),
             task("unwritable", FIRST, target=str(blocked / "report"), ignore_errors=True)]
    played = run_playbook(tmp_path, tasks, inventory=inventory, limit="controller")
    results = dict((name, hosts["controller"]) for name, hosts in played.items())
    paths = [os.path.join(dest, name) for name in NAMES]

    def outcome(name):
        result = results[name]
        return result["changed"], result["changed_files"], result["refreshed"], result["files"], result["dest"]
    assert outcome("first") == (True, paths, False, paths, dest)
    assert outcome("same") == (False, [], False, paths, dest)
    assert outcome("restamped") == (False, [], True, paths, dest)
    assert outcome("preview") == (True, paths, False, paths, dest)
    assert outcome("grown") == (True, paths, False, paths, dest)
    assert all(not results[name].get("failed") for name in ("first", "same", "restamped", "preview", "grown"))
    # the refresh was published; the preview wrote nothing
    after_preview = json.loads(base64.b64decode(results["read after the preview"]["content"]).decode("utf-8"))
    assert after_preview == json.loads(action.render(RESTAMPED)["fleet.json"])

    # what is published is the last report, rendered as the plugin renders it, through the `current` set
    assert published(dest) == action.render(GROWN)
    assert json.loads(published(dest)["fleet.json"])["generated_at"] == "2026-12-03T10:00:00Z"
    assert len(os.listdir(os.path.join(dest, action.RUNS_DIR))) == action.KEEP_SETS

    assert results["not a report"]["failed"] is True
    assert results["not a report"]["msg"].startswith("kubenode.ipvs_reuse.fleet_report_files: not a fleet report (")
    assert results["no report"]["failed"] is True
    assert "missing required arguments: report" in results["no report"]["msg"]
    assert results["unwritable"]["failed"] is True
    assert results["unwritable"]["msg"].startswith("cannot write the fleet report in %s: " % (blocked / "report"))
    assert blocked.read_text() == "not a directory"
