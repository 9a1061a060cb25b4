"""The per-batch progress line of the pin plays of playbooks/mitigate.yml and playbooks/rollback.yml (the shared
roles/assess/tasks/progress.yml), over several serial batches with a node failing in the middle.

The plays are the playbooks' own, read from the files, with one change: the pin_sysctl role (which would write
/etc/sysctl.d and /proc/sys on this machine) is replaced by a stand-in that publishes pin_sysctl_result as the role
does, under the same conditions, and fails on one node. The classifications are real ipvs_facts ones of demo nodes.
"""
import copy
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
from support import fleetgen  # noqa: E402

# pin_sysctl nodes and others, so that "X of Y" counts only the ones the play pins
HOSTS = ["tencentos-switch-off", "ubuntu2004-kp121", "debian11-persisted0", "euleros-h686", "ubuntu2004-old-kernel",
         "tencentos-marker"]
FAILING = "euleros-h686"
BATCH = 2


def play_named(playbook, prefix):
    with open(os.path.join(REPO, "playbooks", playbook)) as handle:
        plays = yaml.safe_load(handle)
    return copy.deepcopy(next(play for play in plays if play["name"].startswith(prefix)))


def with_stand_in(play, state, role="pin_sysctl", failing=FAILING):
    """The play with its include of `role` replaced by a stand-in (same `when`) that fails on `failing`; the pin_sysctl
    stand-in publishes pin_sysctl_result as the role does (the flag play marks its nodes itself)."""
    tasks = []
    for task in play["tasks"]:
        include = task.get("ansible.builtin.include_role", {})
        if include.get("name") == "kubenode.ipvs_reuse." + role:
            assert include.get("tasks_from") is None and task["vars"]["%s_state" % role] == state
            conditions = task.get("when", [])
            conditions = conditions if isinstance(conditions, list) else [conditions]
            tasks.append({"name": "The role fails on one node", "ansible.builtin.fail": {"msg": "not writable"},
                          "when": conditions + ["inventory_hostname == '%s'" % failing]})
            stand_in = {"pin_sysctl_result": {"state": state}} if role == "pin_sysctl" else {"stand_in_ran": True}
            tasks.append({"name": "Stand-in for the %s role" % role, "ansible.builtin.set_fact": stand_in,
                          "when": conditions})
        else:
            tasks.append(task)
    assert len(tasks) == len(play["tasks"]) + 1, "the play no longer includes the %s role" % role
    play["tasks"] = tasks
    return play


def run(tmp_path, plays, batch=BATCH, batch_variable="ipvs_reuse_pin_batch"):
    for name in HOSTS:
        fleetgen.write_node(str(tmp_path / "roots" / name), fleetgen.DEMO_FLEET[name])
    inventory = {"all": {"hosts": dict((name, fleetgen.DEMO_FLEET[name].get("inventory", {})) for name in HOSTS), "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    classify = {"name": "Classify", "hosts": "all", "gather_facts": False, "tasks": [
        {"name": "Classify (real ipvs_facts)", "kubenode.ipvs_reuse.ipvs_facts": {
            "root": str(tmp_path / "roots") + "/{{ inventory_hostname }}", "metrics_url": "",
            "proxy_mode": "{{ assess_proxy_mode | default(omit) }}",
            "kube_proxy_version": "{{ assess_kube_proxy_version | default(omit) }}"}},
        {"name": "Say the mitigation", "ansible.builtin.debug": {
            "msg": "mitigation {{ ansible_facts.ipvs_reuse.classification.mitigation }}"}},
        {"name": "Say the roles of the plan", "ansible.builtin.debug": {
            "msg": "plan {{ ansible_facts.ipvs_reuse.classification.plan.run | join(',') }}."}}]}
    (tmp_path / "play.json").write_text(json.dumps([classify] + plays))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    # serial is templated before any host exists: the batch size comes as an extra variable (as the playbooks say)
    extra = ["-e", "%s=%d" % (batch_variable, batch)] if batch else []
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                             str(tmp_path / "inventory.json"), str(tmp_path / "play.json")] + extra, env=env, cwd=str(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert result.returncode == 2, result.stdout[-3000:]  # the failed node fails the run
    mitigations = dict(re.findall(r'ok: \[([\w.-]+)\] => \{\s*"msg": "mitigation (\w+)"', result.stdout))
    assert sorted(mitigations) == sorted(HOSTS), result.stdout[-3000:]
    return result, mitigations


def expected_lines(label, verb, in_scope, failing=FAILING):
    lines, done = [], []
    batches = [HOSTS[start:start + BATCH] for start in range(0, len(HOSTS), BATCH)]
    for number, batch in enumerate(batches, 1):
        done += batch
        pinned = [name for name in done if name in in_scope and name != failing]
        failed = [name for name in done if name == failing]
        lines.append("%s: batch %d of %d, %d of %d nodes %s, %d failed%s" % (
            label, number, len(batches), len(pinned), len(in_scope), verb, len(failed),
            (": " + ", ".join(failed)) if failed else ""))
    return lines


@pytest.mark.parametrize("playbook, prefix, state, label, verb", [
    ("mitigate.yml", "Pin the safe conn_reuse_mode", "present", "pin_sysctl", "pinned"),
    ("rollback.yml", "Remove the conn_reuse_mode pin", "absent", "pin_sysctl rollback", "rolled back"),
])
def test_each_pin_batch_says_where_the_run_is(tmp_path, playbook, prefix, state, label, verb):
    play = play_named(playbook, prefix)
    assert play["serial"] == "{{ ipvs_reuse_pin_batch | default('100%') }}"
    result, mitigations = run(tmp_path, [with_stand_in(play, state)])
    if state == "present":
        in_scope = [name for name in HOSTS if mitigations[name] == "pin_sysctl"]
        assert FAILING in in_scope and 2 <= len(in_scope) < len(HOSTS), mitigations
    else:
        in_scope = list(HOSTS)  # the rollback undoes the pin wherever there is one, and needs no assessment
    found = re.findall(r'"msg": "%s: ([^"]*)"' % re.escape(label), result.stdout)
    assert ["%s: %s" % (label, line) for line in found] == expected_lines(label, verb, in_scope), result.stdout[-3000:]


def test_one_batch_by_default_gives_one_line(tmp_path):
    """Without ipvs_reuse_pin_batch the pin play runs every node at once and says so once, at the end."""
    play = with_stand_in(play_named("mitigate.yml", "Pin the safe conn_reuse_mode"), "present")
    result, mitigations = run(tmp_path, [play], batch=None)
    in_scope = [name for name in HOSTS if mitigations[name] == "pin_sysctl"]
    found = re.findall(r'"msg": "pin_sysctl: ([^"]*)"', result.stdout)
    assert found == ["batch 1 of 1, %d of %d nodes pinned, 1 failed: %s" % (len(in_scope) - 1, len(in_scope), FAILING)], \
        result.stdout[-3000:]


def test_each_flag_batch_says_where_the_run_is(tmp_path):
    """The OS upgrade flag play of mitigate.yml: the nodes whose plan runs os_upgrade_flag (flag or unflag), per batch."""
    play = play_named("mitigate.yml", "Flag nodes for an OS upgrade")
    assert play["serial"] == "{{ ipvs_reuse_flag_batch | default('100%') }}"
    # the one node of the three batches that the plan flags (the other in scope is unflagged): it fails
    failing = "ubuntu2004-old-kernel"
    result, _mitigations = run(tmp_path, [with_stand_in(play, "present", role="os_upgrade_flag", failing=failing)],
                               batch_variable="ipvs_reuse_flag_batch")
    plans = dict(re.findall(r'ok: \[([\w.-]+)\] => \{\s*"msg": "plan ([\w,]*)\."', result.stdout))
    in_scope = [name for name in HOSTS if "os_upgrade_flag" in plans[name].split(",")]
    assert failing in in_scope and 2 <= len(in_scope) < len(HOSTS), plans
    found = re.findall(r'"msg": "os_upgrade_flag: ([^"]*)"', result.stdout)
    assert ["os_upgrade_flag: %s" % line for line in found] == expected_lines(
        "os_upgrade_flag", "flagged or unflagged", in_scope, failing), result.stdout[-3000:]
