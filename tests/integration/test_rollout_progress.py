"""The kube_proxy_mode rollout's per-batch progress line (roles/kube_proxy_mode/tasks/progress.yml) over several
serial batches with a node failing in the middle: real ipvs_facts classifications of demo nodes (the fallback
mitigation switch_iptables), the role's own decision expression, and a forced failure on one node."""
import json
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
from support import fleetgen  # noqa: E402

HOSTS = ["amzn2-static-pod", "centos7-kp118", "rhel8-crm1", "ubuntu2004-old-kernel", "debian12-k3s"]
FAILING = "rhel8-crm1"


def test_each_batch_says_where_the_rollout_is(tmp_path):
    for name in HOSTS:
        fleetgen.write_node(str(tmp_path / "roots" / name), fleetgen.DEMO_FLEET[name])
    inventory = {"all": {"hosts": dict((name, fleetgen.DEMO_FLEET[name].get("inventory", {})) for name in HOSTS), "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    play = [{"hosts": "all", "gather_facts": False, "serial": 2, "tasks": [
        {"name": "Classify (real ipvs_facts)", "kubenode.ipvs_reuse.ipvs_facts": {
            "root": str(tmp_path / "roots") + "/{{ inventory_hostname }}", "metrics_url": "",
            "proxy_mode": "{{ assess_proxy_mode | default(omit) }}",
            "kube_proxy_version": "{{ assess_kube_proxy_version | default(omit) }}",
            "policy": {"fallback_mitigation": "switch_iptables"}}},
        {"name": "Say the mitigation", "ansible.builtin.debug": {
            "msg": "mitigation {{ ansible_facts.ipvs_reuse.classification.mitigation }}"}},
        {"name": "Decide as the role does", "ansible.builtin.set_fact": {
            "__kube_proxy_mode_act": "{{ ansible_facts.ipvs_reuse.classification.mitigation == 'switch_iptables' }}"}},
        {"name": "One node fails its switch", "ansible.builtin.fail": {"msg": "kube-proxy did not come back"},
         "when": "inventory_hostname == '%s'" % FAILING},
        {"name": "Progress",
         "ansible.builtin.include_role": {"name": "kubenode.ipvs_reuse.kube_proxy_mode", "tasks_from": "progress"}},
    ]}]
    (tmp_path / "play.json").write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                             str(tmp_path / "inventory.json"), str(tmp_path / "play.json")], env=env, cwd=str(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert result.returncode == 2, result.stdout[-3000:]  # the failed node fails the run

    # what the lines must say, from the classifications the run itself made
    mitigations = dict(re.findall(r'ok: \[([\w.-]+)\] => \{\s*"msg": "mitigation (\w+)"', result.stdout))
    assert sorted(mitigations) == sorted(HOSTS), result.stdout[-3000:]
    to_switch = [name for name in HOSTS if mitigations[name] == "switch_iptables"]
    assert FAILING in to_switch and len(to_switch) >= 3, to_switch
    expected, done = [], []
    for number, batch in enumerate((HOSTS[0:2], HOSTS[2:4], HOSTS[4:]), 1):
        done += batch  # classified in this serial play: the later batches are not assessed yet
        known = [name for name in done if name in to_switch]
        switched = [name for name in known if name != FAILING]
        failed = [name for name in done if name == FAILING]
        later = len(HOSTS) - len(done)
        expected.append("batch %d of 3, %d of %d nodes switched, %s%d failed%s" % (
            number, len(switched), len(known), ("%d not assessed yet, " % later) if later else "", len(failed),
            (": " + ", ".join(failed)) if failed else ""))
    assert re.findall(r'"msg": "kube_proxy_mode rollout: ([^"]*)"', result.stdout) == expected, result.stdout[-3000:]
