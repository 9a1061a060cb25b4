"""End-to-end: playbooks/assess.yml over the demo fleet (offline node roots, connection local).

Checks the report against what the demo fleet says each node is, a second run changes nothing,
check mode, gating on verdicts, and that bad input stops with a clear message.
"""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
from support import fleetgen  # noqa: E402

PLAYBOOK = os.path.join(REPO, "playbooks", "assess.yml")
INVENTORY = os.path.join(REPO, "demo", "inventory.yml")


def run_playbook(tmp_path, *extra, check=True):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
               ANSIBLE_LOCALHOST_WARNING="false")
    bindir = os.path.dirname(sys.executable)
    command = [os.path.join(bindir, "ansible-playbook"), "-i", INVENTORY, PLAYBOOK,
               "-e", "assess_report_dir=%s" % (tmp_path / "report")] + list(extra)
    result = subprocess.run(command, env=env, cwd=str(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    if check:
        assert result.returncode == 0, result.stdout[-4000:]
    return result


def recap_changed(output):
    return sum(int(part.split("=")[1]) for line in output.splitlines() if " : ok=" in line
               for part in line.split() if part.startswith("changed="))


def expected_nodes(verdict):
    """The demo nodes whose expected verdict is verdict (tests/support/fleetgen.py)."""
    return sorted(name for name, spec in fleetgen.DEMO_FLEET.items() if spec["expect"]["verdict"] == verdict)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("assess")
    result = run_playbook(tmp_path)
    return tmp_path, result


def test_report_matches_the_demo_fleet(first_run):
    tmp_path = first_run[0]
    report = json.load(open(str(tmp_path / "report" / "fleet.json")))
    assert report["summary"]["nodes"] == len(fleetgen.DEMO_FLEET)
    for record in report["nodes"]:
        expect = fleetgen.DEMO_FLEET[record["node"]]["expect"]
        assert dict((key, record[key]) for key in ("verdict", "mitigation")) == \
            dict((key, expect[key]) for key in ("verdict", "mitigation")), record["reasons"]
        assert record["reasons"] and record["facts"]["kernel"]["release"]
    summary = open(str(tmp_path / "report" / "summary.md")).read()
    assert "| problem1 | %d |" % len(expected_nodes("problem1")) in summary and "euleros-h686" in summary


def test_second_run_changes_nothing(first_run):
    tmp_path = first_run[0]
    assert recap_changed(run_playbook(tmp_path).stdout) == 0


def test_check_mode_predicts_the_same_report(tmp_path):
    result = run_playbook(tmp_path, "--check")
    assert json.load(open(str(tmp_path / "report" / "fleet.json")))["summary"]["verdicts"]["problem2"] == \
        len(expected_nodes("problem2"))
    assert "ok=" in result.stdout


def test_gating_fails_the_run_after_writing_the_report(tmp_path):
    result = run_playbook(tmp_path, "-e", '{"assess_fail_on_verdicts": ["problem2"]}', check=False)
    assert result.returncode != 0
    problem2 = expected_nodes("problem2")
    assert "rhel8-crm1" in problem2
    assert "%d node(s) have a verdict in problem2: " % len(problem2) in result.stdout
    assert all(name in result.stdout for name in problem2)
    assert (tmp_path / "report" / "fleet.json").exists()


def test_bad_gating_input_is_refused_before_anything_runs(tmp_path):
    result = run_playbook(tmp_path, "-e", '{"assess_fail_on_verdicts": ["problem3"]}', check=False)
    assert result.returncode != 0
    assert "problem3" in result.stdout
    assert not (tmp_path / "report").exists()


def test_invalid_policy_stops_with_a_clear_message(tmp_path):
    result = run_playbook(tmp_path, "-e", '{"assess_policy": {"fallback_mitigation": "reboot"}}', check=False)
    assert result.returncode != 0
    assert "invalid policy: policy.fallback_mitigation must be one of os_upgrade, switch_iptables" in result.stdout


def prom_files(directory):
    return sorted(name for name in os.listdir(str(directory)) if name.endswith(".prom"))


def test_prometheus_export_writes_one_file_per_node(tmp_path):
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    extra = '{"assess_prometheus_textfile_dir": "%s", "assess_prometheus_file_name": "{{ inventory_hostname }}.prom"}'
    first = run_playbook(tmp_path, "-e", extra % textfiles)
    assert prom_files(textfiles) == sorted("%s.prom" % name for name in fleetgen.DEMO_FLEET)
    metrics = (textfiles / "rhel8-crm1.prom").read_text()
    assert 'verdict="problem2"' in metrics, metrics
    assert recap_changed(first.stdout) == len(fleetgen.DEMO_FLEET) + 1  # and the report task (3 new files)
    assert recap_changed(run_playbook(tmp_path, "-e", extra % textfiles).stdout) == 0


def test_prometheus_export_for_one_node_only(tmp_path):
    # The export play ends at once only when no node asks for it: a setting on one node (not the first
    # of the play) still writes that node's file, and only that one.
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    last = sorted(fleetgen.DEMO_FLEET)[-1]
    overlay = tmp_path / "overlay.yml"
    overlay.write_text(json.dumps({"all": {"hosts": {last: {"assess_prometheus_textfile_dir": str(textfiles)}}}}))
    run_playbook(tmp_path, "-i", str(overlay))
    assert prom_files(textfiles) == ["ipvs_reuse.prom"]


def test_without_prometheus_export_the_nodes_get_no_task(tmp_path):
    result = run_playbook(tmp_path)
    assert "Write each node's metrics file" not in result.stdout
    assert "End this play when no node has assess_prometheus_textfile_dir set" in result.stdout
