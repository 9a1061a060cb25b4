"""playbooks/assess.yml through ansible-runner, AWX's own engine, with a private data dir laid out as AWX lays it
out for a job (project/, inventory/, env/extravars, env/envvars): the job's status, and the set_stats digest where
AWX reads it (the artifact_data of the playbook_on_stats event, artifacts/<ident>/job_events/).

Demo fleet (offline node roots), connection local. The collection is found the way an execution environment
provides it: on ANSIBLE_COLLECTIONS_PATH (here the checkout, linked as kubenode.ipvs_reuse).
"""
import collections
import glob
import json
import os
import shutil
import sys

import ansible_runner

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
from support import fleetgen  # noqa: E402

DEMO = os.path.join(REPO, "demo")


def write_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(data, handle)


def private_data_dir(tmp_path, extravars):
    pdd = tmp_path / "pdd"
    # project/: the repository's playbooks, as AWX checks out a project (it holds no collection)
    shutil.copytree(os.path.join(REPO, "playbooks"), str(pdd / "project" / "playbooks"))
    # inventory/: the demo fleet with absolute node roots (AWX writes the inventory it syncs as a file here)
    with open(os.path.join(DEMO, "inventory.yml")) as handle:
        inventory = json.loads(handle.read().split("\n", 3)[3].replace("{{ inventory_dir }}", DEMO))
    write_json(str(pdd / "inventory" / "hosts.json"), inventory)
    # env/: survey answers and AWX's own variables arrive as extra vars; survey answers are strings
    write_json(str(pdd / "env" / "extravars"), extravars)
    write_json(str(pdd / "env" / "envvars"), {
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, ".cache", "collections"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
    })
    return pdd


def run_job(tmp_path, extravars, ident):
    # ansible-runner starts ansible-playbook from PATH: the one of this venv
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    pdd = private_data_dir(tmp_path, extravars)
    runner = ansible_runner.run(private_data_dir=str(pdd), playbook="playbooks/assess.yml", ident=ident,
                                quiet=True)
    return pdd, runner


def stats_event(pdd, ident):
    events = []
    for path in glob.glob(str(pdd / "artifacts" / ident / "job_events" / "*.json")):
        with open(path) as handle:
            events.append(json.load(handle))
    stats = [event for event in events if event.get("event") == "playbook_on_stats"]
    assert len(stats) == 1, sorted(event.get("event") for event in events)
    return stats[0]["event_data"]


def awx_extravars(tmp_path, **survey):
    extravars = {"awx_job_id": 4242, "awx_job_template_name": "ipvs-reuse assess",
                 "awx_inventory_name": "demo fleet (AWX inventory)", "assess_report_dir": str(tmp_path / "report")}
    extravars.update(survey)
    return extravars


def test_assess_job_succeeds_and_publishes_the_digest(tmp_path):
    pdd, runner = run_job(tmp_path, awx_extravars(tmp_path, assess_policy='{"fallback_mitigation": "os_upgrade"}',
                                                  assess_fail_on_verdicts="[]"), "4242")
    assert runner.status == "successful", runner.stdout.read()[-3000:]
    assert runner.rc == 0
    with open(str(pdd / "artifacts" / "4242" / "status")) as handle:
        assert handle.read().strip() == "successful"
    digest = stats_event(pdd, "4242")["artifact_data"]["ipvs_reuse_report"]
    expected = collections.Counter(node["expect"]["verdict"] for node in fleetgen.DEMO_FLEET.values())
    assert {verdict: count for verdict, count in digest["summary"]["verdicts"].items() if count} == dict(expected)
    needing = sorted(entry["node"] for entry in digest["needing_action"])
    assert needing == sorted(name for name, node in fleetgen.DEMO_FLEET.items()
                             if node["expect"]["verdict"] in ("problem1", "problem2", "unknown"))  # unknown needs a look too
    assert (tmp_path / "report" / "fleet.json").exists()
    # which job, which cluster (AWX's inventory name when nothing else names it), when
    assert digest["run"] == {"id": "awx-job-4242", "awx_job_id": 4242, "awx_job_template_name": "ipvs-reuse assess"}
    assert digest["cluster"] == "demo fleet (AWX inventory)"
    with open(str(tmp_path / "report" / "fleet.json")) as handle:
        assert digest["generated_at"] == json.load(handle)["generated_at"] and digest["generated_at"]


def test_bad_survey_answer_fails_the_job_and_assesses_nothing(tmp_path):
    pdd, runner = run_job(tmp_path, awx_extravars(tmp_path, assess_fail_on_verdicts="problem1"), "4243")
    assert runner.status == "failed"
    assert "assess_fail_on_verdicts must be a list, got the plain text 'problem1'" in runner.stdout.read()
    assert not (tmp_path / "report").exists()
    assert not stats_event(pdd, "4243").get("artifact_data")  # no digest from a job that assessed nothing
