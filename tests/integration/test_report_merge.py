"""Sliced runs, one report: the demo fleet assessed in 3 slices (as an AWX sliced job runs it: one report directory,
assess_report_per_run, each slice with its AWX job id), merged by playbooks/report_merge.yml, gives the report of the
unsliced run; only the run-specific header (time of the assessment, run identity) differs."""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))  # scripts/dev-env links the checkout there
INVENTORY = os.path.join(REPO, "demo", "inventory.yml")
FILES = ("fleet.json", "summary.md", "fleet.html")


def playbook(tmp_path, name, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_LOCALHOST_WARNING="false")
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", INVENTORY,
               os.path.join(REPO, "playbooks", name)] + list(extra)
    return subprocess.run(command, env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("sliced")
    hosts = json.loads(subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", INVENTORY, "--list"],
        stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout)["_meta"]["hostvars"]
    names = sorted(hosts)
    for number in range(3):
        result = playbook(tmp_path, "assess.yml", "--limit", ",".join(names[number::3]),
                          "-e", "assess_report_dir=%s" % (tmp_path / "partials"), "-e", "assess_report_per_run=true",
                          "-e", json.dumps({"awx_job_id": 701 + number, "awx_job_template_name": "ipvs assess",
                                            "awx_workflow_job_id": 700}))
        assert result.returncode == 0, result.stdout[-3000:]
    assert sorted(os.listdir(str(tmp_path / "partials"))) == ["awx-job-701", "awx-job-702", "awx-job-703"]
    result = playbook(tmp_path, "assess.yml", "-e", "assess_report_dir=%s" % (tmp_path / "whole"))
    assert result.returncode == 0, result.stdout[-3000:]
    return tmp_path


def restamped(directory, report):
    """The three files of directory as they read with report's run-specific header (time and run) in place of
    theirs: equal to report's own files when nothing else differs."""
    from ansible_collections.kubenode.ipvs_reuse.plugins.action.fleet_report_files import render
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import RUN_SPECIFIC
    own = json.loads((directory / "fleet.json").read_text())
    assert own["nodes"], own
    own.update((key, report[key]) for key in RUN_SPECIFIC)
    return render(own)


def test_three_slices_merge_into_the_unsliced_report(runs):
    result = playbook(runs, "report_merge.yml", "-e", "report_merge_dir=%s" % (runs / "partials"),
                      "-e", '{"awx_job_id": 704}')
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 partial report(s) merged" in result.stdout
    merged = json.loads((runs / "partials" / "merged" / "fleet.json").read_text())
    assert merged["run"] == {"id": "awx-job-704", "awx_job_id": 704,
                             "partials": ["awx-job-701", "awx-job-702", "awx-job-703"]}
    assert merged["cluster"] == "demo/inventory"
    whole = restamped(runs / "whole", merged)
    for name in FILES:
        partial = (runs / "partials" / "awx-job-701" / name).read_text()
        assert (runs / "partials" / "merged" / name).read_text() == whole[name], name
        assert partial != whole[name]
    # a second merge over the same partials (the earlier merge is not taken as a partial) changes nothing
    again = playbook(runs, "report_merge.yml", "-e", "report_merge_dir=%s" % (runs / "partials"))
    assert again.returncode == 0 and "3 partial report(s) merged" in again.stdout


def test_conflicting_partials_refuse_with_a_clear_message(runs):
    conflicting = runs / "conflicting"
    for number in range(2):
        (conflicting / ("slice-%d" % number)).mkdir(parents=True)
    report = json.loads((runs / "whole" / "fleet.json").read_text())
    (conflicting / "slice-0" / "fleet.json").write_text(json.dumps(report))
    report["nodes"][0]["kernel"] = "9.9.9-other-run"
    (conflicting / "slice-1" / "fleet.json").write_text(json.dumps(report))
    result = playbook(runs, "report_merge.yml", "-e", "report_merge_dir=%s" % conflicting)
    assert result.returncode != 0
    assert "node %s is in" % report["nodes"][0]["node"] in result.stdout
    assert "with different data" in result.stdout
    assert not (conflicting / "merged").exists()
