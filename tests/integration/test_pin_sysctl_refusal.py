"""pin_sysctl refuses, before any change, a pin_sysctls set it cannot apply (the TencentOS-style switch).

Guests cannot carry the TencentOS sysctl (net.ipv4.vs.conn_reuse_old_conntrack), so this runs the role's decision
on the controller (connection local, check mode) with a classification shaped as the engine returns it; the
role stops in its decide step, before its first task that touches the node.
"""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLASSIFICATION = {"verdict": "problem2", "mitigation": "pin_sysctl", "kernel_fix": True, "weight0_fix": False,
                  "pin_value": 1, "pin_needs_keeper": True, "states": {}, "reasons": [], "warnings": []}


def run_role(tmp_path, pin_sysctls):
    facts = {"kernel": {"release": "4.14.105-19-0019"}, "sysctl": {"conn_reuse_mode": 1, "conn_reuse_old_conntrack": 0},
             "persisted": {}, "pin": {}, "kube_proxy": {"mode": "ipvs", "version": "v1.28.4"},
             "classification": dict(CLASSIFICATION, pin_sysctls=pin_sysctls)}
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Facts as the engine returns them", "ansible.builtin.set_fact": {"ansible_facts": {"ipvs_reuse": facts}}},
        {"name": "Run the decision only", "ansible.builtin.include_role": {
            "name": "kubenode.ipvs_reuse.pin_sysctl", "tasks_from": "decide"}}]}]
    (tmp_path / "play.json").write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "--check",
                           "-e", "ansible_python_interpreter=" + sys.executable, str(tmp_path / "play.json")],
                          env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)


def test_refuses_the_switch_it_cannot_pin(tmp_path):
    result = run_role(tmp_path, {"conn_reuse_mode": 1, "conn_reuse_old_conntrack": 1})
    assert result.returncode == 2, result.stdout[-3000:]
    assert "net.ipv4.vs.conn_reuse_old_conntrack=1" in result.stdout
    assert "conn_reuse_old_conntrack must be pinned too" in result.stdout and "Nothing was changed" in result.stdout


@pytest.mark.parametrize("pin_sysctls", [{"conn_reuse_mode": 1}, None])
def test_conn_reuse_mode_alone_passes_the_decision(tmp_path, pin_sysctls):
    result = run_role(tmp_path, pin_sysctls)
    assert result.returncode == 0, result.stdout[-3000:]
