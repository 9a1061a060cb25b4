"""kube_proxy_mode takes where kube-proxy's mode is set from the assessment (kube_proxy.mode_files) and stops,
changing nothing, where those facts cannot say which file to edit. The nodes are offline node roots classified by
the real ipvs_facts module (connection local); every case stops before any API call or file edit."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
from support import fleetgen  # noqa: E402

OLD = {"kernel": "5.4.0-42-generic", "os": {"ID": "ubuntu", "VERSION_ID": "20.04"},
       "vs": {"conn_reuse_mode": 1, "conntrack": 1, "expire_nodest_conn": 1, "expire_quiescent_template": 1},
       "modules": ["ip_vs"]}
K3S = {"etc/rancher/k3s/config.yaml": "kube-proxy-arg: [proxy-mode=ipvs]\n",
       "etc/rancher/k3s/config.yaml.d/50-proxy.yaml": "kube-proxy-arg: [proxy-mode=ipvs]\n"}
NODES = {
    # the files are right, but they were read below a fixture root, not on the node the role would edit
    "k3s-image": (K3S, "its assessment read the files below"),
    "k3s-and-unit": (dict(K3S, **{"etc/systemd/system/kube-proxy.service":
                                  "[Service]\nExecStart=/usr/bin/kube-proxy --proxy-mode=ipvs\n"}),
                     "files that belong to different services"),
    "static-pod": ({"etc/kubernetes/manifests/kube-proxy.yaml":
                    "spec:\n  containers:\n  - command: [kube-proxy, --proxy-mode=ipvs]\n"},
                   "kube-proxy runs as a static pod from /etc/kubernetes/manifests/kube-proxy.yaml"),
}


def test_refuses_where_the_facts_cannot_say_which_file_to_edit(tmp_path):
    for name, (files, _message) in NODES.items():
        fleetgen.write_node(str(tmp_path / "roots" / name), dict(OLD, files=files))
    inventory = {"all": {"hosts": dict((name, {}) for name in NODES), "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    play = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "Classify the offline node (real ipvs_facts module)", "kubenode.ipvs_reuse.ipvs_facts": {
            "root": str(tmp_path / "roots") + "/{{ inventory_hostname }}", "proxy_mode": "ipvs",
            "kube_proxy_version": "v1.28.4", "metrics_url": "", "policy": {"fallback_mitigation": "switch_iptables"}}},
        {"name": "Run the role", "ansible.builtin.include_role": {"name": "kubenode.ipvs_reuse.kube_proxy_mode"},
         "vars": {"kube_proxy_mode_confirm_switch": True, "kube_proxy_mode_api_host": "nowhere.invalid",
                  "kube_proxy_mode_metrics_url": "http://127.0.0.1:9"}},
    ]}]
    (tmp_path / "play.json").write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                             str(tmp_path / "inventory.json"), str(tmp_path / "play.json")], env=env,
                            cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, check=False)
    out = result.stdout
    assert result.returncode == 2, out[-5000:]
    for name, (files, message) in NODES.items():
        failed = [line for line in out.splitlines() if line.startswith("fatal: [%s]" % name)]
        assert len(failed) == 1 and message in failed[0] and "Nothing was changed" in failed[0], out[-5000:]
        for relative, text in files.items():  # nothing was edited, no copy was kept
            assert (tmp_path / "roots" / name / relative).read_text() == text
            assert not (tmp_path / "roots" / name / (relative + ".kubenode-ipvs-reuse.orig")).exists()
    assert "PLAY RECAP" in out and "kube-proxy mode comes from" not in out


def rollback(tmp_path, extra_vars):
    """The role's rollback entry point on one local host, with the node record's paths moved into tmp_path."""
    inventory = {"all": {"hosts": {"node": {}}, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    play = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "Roll back",
         "ansible.builtin.include_role": {"name": "kubenode.ipvs_reuse.kube_proxy_mode", "tasks_from": "rollback"},
         "vars": {"kube_proxy_mode_api_host": "nowhere.invalid", "kube_proxy_mode_metrics_url": "http://127.0.0.1:9",
                  "kube_proxy_mode_backup_dir": str(tmp_path / "backup")}}]}]
    (tmp_path / "play.json").write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                           str(tmp_path / "inventory.json"), str(tmp_path / "play.json"),
                           "-e", json.dumps(extra_vars)], env=env, cwd=str(tmp_path), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)


def test_rollback_takes_the_source_from_the_node_record(tmp_path):
    """A k3s record: no ConfigMap step (the API host does not exist), nothing left to restore, the record removed."""
    record = tmp_path / "record.json"
    record.write_text(json.dumps({"source": "k3s", "service": "k3s", "target": "iptables", "files": [
        {"path": str(tmp_path / "config.yaml"), "kind": "k3s", "syntax": "rancher", "mode": "ipvs"}]}))
    result = rollback(tmp_path, {"__kube_proxy_mode_node_record": str(record),
                                 "__kube_proxy_mode_unrecorded_copies": []})
    assert result.returncode == 0, result.stdout[-5000:]
    assert "tasks/configmap.yml" not in result.stdout and "tasks/node_files.yml for node" in result.stdout
    assert not record.exists()


def test_rollback_stops_on_copies_without_a_record(tmp_path):
    (tmp_path / "config.yaml.kubenode-ipvs-reuse.orig").write_text("kube-proxy-arg: [proxy-mode=ipvs]\n")
    result = rollback(tmp_path, {"__kube_proxy_mode_node_record": str(tmp_path / "none.json"),
                                 "__kube_proxy_mode_unrecorded_copies": [str(tmp_path / "config.yaml")]})
    assert result.returncode == 2, result.stdout[-5000:]
    assert "config.yaml.kubenode-ipvs-reuse.orig, copies kept" in result.stdout
    assert "Nothing was changed" in result.stdout
    assert (tmp_path / "config.yaml.kubenode-ipvs-reuse.orig").exists()
