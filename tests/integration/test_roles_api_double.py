"""os_upgrade_flag and kube_proxy_mode from the controller against the Kubernetes API TEST DOUBLE.

kube-apiserver cannot be installed here: tests/k8s_api_double/server.py is a TEST DOUBLE that serves
the real paths and JSON shapes of Node, ConfigMap, DaemonSet and Pod, validates what it receives and
records every request. The nodes are offline node roots (connection local) classified by the real
ipvs_facts module; kube-proxy's /proxyMode is a stand-in (molecule/kube_proxy_mode/files) that reports
the mode of the double's kube-proxy pod on the node. Node-side steps that need IPVS (the cleanup) run
in the molecule scenarios on real guests; here they are switched off.
The tests assert on the requests the double recorded, not only on "changed".
"""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
from support import fleetgen  # noqa: E402

DOUBLE = os.path.join(REPO, "tests", "k8s_api_double", "server.py")
STAND_IN = os.path.join(REPO, "molecule", "kube_proxy_mode", "files", "kube-proxy-mode-stand-in.py")
NODES = {
    # kernel without either fix by version, crm=1, conntrack=1: problem2, no safe pin
    "node-old": {"kernel": "5.4.0-42-generic", "os": {"ID": "ubuntu", "VERSION_ID": "20.04"},
                 "vs": {"conn_reuse_mode": 1, "conntrack": 1, "expire_nodest_conn": 1,
                        "expire_quiescent_template": 1}, "modules": ["ip_vs"]},
    # 6.1 carries both fixes: safe
    "node-new": {"kernel": "6.1.0-50-cloud-amd64", "os": {"ID": "debian", "VERSION_ID": "12"},
                 "vs": {"conn_reuse_mode": 1, "conntrack": 1, "expire_nodest_conn": 1,
                        "expire_quiescent_template": 1}, "modules": ["ip_vs"]},
}


def free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def cluster(tmp_path):
    """The API test double with one Node per fixture node, plus a /proxyMode stand-in for node-old."""
    state = tmp_path / "double"
    procs = [subprocess.Popen([sys.executable, DOUBLE, "--state-dir", str(state)]
                              + ["--node=%s" % name for name in NODES]
                              + ["--configmap-label=argocd.argoproj.io/instance=addons"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)]
    for _attempt in range(300):
        if (state / "port").exists():
            break
        time.sleep(0.1)
    port = int((state / "port").read_text())
    metrics_port = free_port()
    env = dict(os.environ, DOUBLE_URL="http://127.0.0.1:%d" % port, NODE="node-old",
               MODE_FILE=str(tmp_path / "no-mode-file"), PORT=str(metrics_port))
    procs.append(subprocess.Popen([sys.executable, STAND_IN, "serve"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
    for name, spec in NODES.items():
        fleetgen.write_node(str(tmp_path / "roots" / name), spec)
    inventory = {"all": {"hosts": dict((name, {}) for name in NODES), "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    api = {"url": "http://127.0.0.1:%d" % port, "token": (state / "token").read_text(),
           "state": state, "metrics": "http://127.0.0.1:%d" % metrics_port, "tmp": tmp_path}
    yield api
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def write_play(api, role, entry="main", serial=None, extra_vars=None):
    play = {"hosts": "all", "gather_facts": False, "vars": dict({
        "os_upgrade_flag_kubeconfig": str(api["state"] / "kubeconfig"),
        "os_upgrade_flag_api_host": "localhost",
        "os_upgrade_flag_fact_file": str(api["tmp"]) + "/facts/{{ inventory_hostname }}/ipvs_reuse.fact",
        "kube_proxy_mode_kubeconfig": str(api["state"] / "kubeconfig"),
        "kube_proxy_mode_backup_dir": str(api["tmp"] / "backup"),
        "kube_proxy_mode_metrics_url": api["metrics"],
        "kube_proxy_mode_cleanup": False,
        "kube_proxy_mode_verify_delay": 1,
        "ansible_python_interpreter": sys.executable,
    }, **(extra_vars or {})), "tasks": [
        {"name": "Classify the offline node (real ipvs_facts module)",
         "kubenode.ipvs_reuse.ipvs_facts": {
             "root": str(api["tmp"] / "roots") + "/{{ inventory_hostname }}", "proxy_mode": "ipvs",
             "kube_proxy_version": "v1.28.4", "metrics_url": "",
             "policy": {"fallback_mitigation": "switch_iptables" if role == "kube_proxy_mode" else "os_upgrade"}}},
        {"name": "Run the role", "ansible.builtin.include_role": {
            "name": "kubenode.ipvs_reuse." + role, "tasks_from": entry}},
    ]}
    if serial:
        play["serial"] = serial
    path = api["tmp"] / ("play-%s-%s.json" % (role, entry))
    path.write_text(json.dumps([play]))
    return str(path)


def run(api, playbook, *extra, expect_rc=0):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    bindir = os.path.dirname(sys.executable)
    result = subprocess.run([os.path.join(bindir, "ansible-playbook"), "-i", str(api["tmp"] / "inventory.json"),
                             playbook] + list(extra), env=env, cwd=str(api["tmp"]), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert result.returncode == expect_rc, result.stdout[-5000:]
    assert api["token"] not in result.stdout  # the bearer token never reaches the output
    return result.stdout


def writes(api):
    entries = [json.loads(line) for line in (api["state"] / "requests.jsonl").read_text().splitlines()]
    return [e for e in entries if e["method"] != "GET" and e["code"] == 200]


def get(api, path):
    from urllib.request import Request, urlopen
    req = Request(api["url"] + path, headers={"Authorization": "Bearer " + api["token"]})
    with urlopen(req) as resp:
        return json.loads(resp.read().decode())


def test_os_upgrade_flag(cluster):
    before = get(cluster, "/api/v1/nodes/node-old")
    play = write_play(cluster, "os_upgrade_flag")
    run(cluster, play, "-v")
    real = writes(cluster)
    assert [(w["method"], w["path"]) for w in real] == [("PATCH", "/api/v1/nodes/node-old")]
    reason = json.loads(real[0]["body"]["metadata"]["annotations"]["kubenode.io/ipvs-reuse-os-upgrade-reason"])
    assert real[0]["body"]["metadata"]["labels"] == {"kubenode.io/ipvs-reuse-os-upgrade": "true"}
    assert (reason["verdict"], reason["mitigation"], reason["kernel"]) == ("problem2", "os_upgrade", "5.4.0-42-generic")
    fact = json.loads((cluster["tmp"] / "facts" / "node-old" / "ipvs_reuse.fact").read_text())
    assert fact["flagged_at"] == reason["flagged_at"] and fact["verdict"] == "problem2"
    assert not (cluster["tmp"] / "facts" / "node-new" / "ipvs_reuse.fact").exists()

    run(cluster, play)  # second run: nothing written
    assert len(writes(cluster)) == 1

    out = run(cluster, play, "--check", "--diff", "-e", "os_upgrade_flag_cordon=true", "-e", "os_upgrade_flag_taint=true")
    preview = writes(cluster)[1:]
    assert [w["query"].get("dryRun") for w in preview] == ["All"] and preview[0]["body"]["spec"] == {"unschedulable": True}
    assert "changed: [node-old" in out
    assert get(cluster, "/api/v1/nodes/node-old")["spec"] == before["spec"]

    run(cluster, play, "-e", "os_upgrade_flag_cordon=true", "-e", "os_upgrade_flag_taint=true")
    node = get(cluster, "/api/v1/nodes/node-old")
    assert node["spec"]["unschedulable"] is True
    assert node["spec"]["taints"] == [{"key": "kubenode.io/ipvs-reuse-os-upgrade", "value": "true",
                                       "effect": "PreferNoSchedule"}]

    run(cluster, write_play(cluster, "os_upgrade_flag", entry="rollback"))
    after = get(cluster, "/api/v1/nodes/node-old")
    for key in ("labels", "annotations"):
        assert after["metadata"][key] == before["metadata"][key]
    assert after["spec"] == before["spec"]
    assert not (cluster["tmp"] / "facts" / "node-old" / "ipvs_reuse.fact").exists()


def test_os_upgrade_flag_refuses_without_permission(cluster):
    from urllib.request import Request, urlopen
    urlopen(Request(cluster["url"] + "/_double/faults", data=b'[{"code": 403, "verb": "patch", "resource": "nodes"}]',
                    method="POST")).read()
    out = run(cluster, write_play(cluster, "os_upgrade_flag"), expect_rc=2)
    assert "forbidden" in out.lower()
    assert writes(cluster) == []
    assert not (cluster["tmp"] / "facts" / "node-old" / "ipvs_reuse.fact").exists()  # nothing half-applied


def test_kube_proxy_mode(cluster):
    cm_before = get(cluster, "/api/v1/namespaces/kube-system/configmaps/kube-proxy")
    play = write_play(cluster, "kube_proxy_mode", serial=1)
    out = run(cluster, play, expect_rc=2)  # no opt-in
    assert "kube_proxy_mode_confirm_switch=true" in out and writes(cluster) == []

    confirm = ("-e", "kube_proxy_mode_confirm_switch=true")
    out = run(cluster, play, "--check", "--diff", *confirm)
    assert [(w["method"], w["path"], w["query"].get("dryRun")) for w in writes(cluster)][:2] == [
        ("POST", "/api/v1/namespaces/kube-system/configmaps", "All"),  # the record, previewed
        ("PATCH", "/api/v1/namespaces/kube-system/configmaps/kube-proxy", "All")]
    assert [w["method"] for w in writes(cluster)] == ["POST", "PATCH", "DELETE"]
    assert get(cluster, "/api/v1/namespaces/kube-system/configmaps/kube-proxy")["data"] == cm_before["data"]
    assert missing(cluster, RECORDS)  # a dry run stores nothing

    out = run(cluster, play, *confirm)
    real = [w for w in writes(cluster) if "dryRun" not in w["query"]]
    assert [(w["method"], w["path"].split("/")[5]) for w in real] == [
        ("POST", "configmaps"), ("PATCH", "configmaps"), ("DELETE", "pods")]
    assert real[0]["path"] == "/api/v1/namespaces/kube-system/configmaps"  # the records ConfigMap is created
    assert real[1]["body"]["metadata"]["resourceVersion"] == cm_before["metadata"]["resourceVersion"]
    assert "mode: iptables\n" in real[1]["body"]["data"]["config.conf"]
    assert "argocd.argoproj.io/instance=addons" in out  # the GitOps owner is named in a warning
    state = json.loads(subprocess.check_output(["curl", "-s", cluster["url"] + "/_double/state"]).decode())
    assert state["proxyModes"] == {"node-old": "iptables", "node-new": "ipvs"}
    record = read_record(cluster)
    assert record["before"] == cm_before["data"]["config.conf"] and record["mode"] == "ipvs"
    assert record["written"] == real[1]["body"]["data"]["config.conf"]
    assert not (cluster["tmp"] / "backup").exists()  # nothing on the controller with the cluster store

    count = len(writes(cluster))
    run(cluster, play, *confirm)
    assert len(writes(cluster)) == count  # second run: nothing written

    run(cluster, write_play(cluster, "kube_proxy_mode", entry="rollback"))
    assert get(cluster, "/api/v1/namespaces/kube-system/configmaps/kube-proxy")["data"] == cm_before["data"]
    state = json.loads(subprocess.check_output(["curl", "-s", cluster["url"] + "/_double/state"]).decode())
    assert state["proxyModes"]["node-old"] == "ipvs"


RECORDS = "/api/v1/namespaces/kube-system/configmaps/kubenode-ipvs-reuse-records"
KUBE_PROXY_CM = "/api/v1/namespaces/kube-system/configmaps/kube-proxy"


def missing(api, path):
    from urllib.error import HTTPError
    try:
        get(api, path)
    except HTTPError as exc:
        return exc.code == 404
    return False


def read_record(api):
    records = get(api, RECORDS)
    assert records["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubenode.ipvs_reuse"
    return json.loads(records["data"]["kube-proxy-mode.kube-system.kube-proxy"])


def operator_edit(api, edit):
    """An operator's edit of config.conf (kubectl edit): a merge patch of the ConfigMap."""
    from urllib.request import Request, urlopen
    current = get(api, KUBE_PROXY_CM)
    body = json.dumps({"data": {"config.conf": edit(current["data"]["config.conf"])}}).encode()
    req = Request(api["url"] + KUBE_PROXY_CM, data=body, method="PATCH", headers={
        "Authorization": "Bearer " + api["token"], "Content-Type": "application/merge-patch+json"})
    with urlopen(req) as resp:
        return json.loads(resp.read().decode())["data"]["config.conf"]


def fresh_job(api, name, role_entry):
    """A play as a new AWX job runs it: its own, empty working directory, no controller backup directory."""
    job = api["tmp"] / name
    job.mkdir()
    play = write_play(api, "kube_proxy_mode", entry=role_entry, serial=1,
                      extra_vars={"kube_proxy_mode_backup_dir": str(job / "ipvs-reuse-backup")})
    moved = job / "play.json"
    os.rename(play, str(moved))
    return str(moved), job


def run_in(api, job, playbook, *extra, expect_rc=0):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                             str(api["tmp"] / "inventory.json"), playbook] + list(extra), env=env, cwd=str(job),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert result.returncode == expect_rc, result.stdout[-5000:]
    return result.stdout


CONFIRM = ("-e", "kube_proxy_mode_confirm_switch=true")


def test_kube_proxy_mode_cycle_keeps_operator_edit_and_rolls_back_from_fresh_job(cluster):
    """mitigate, rollback, operator edit, mitigate, rollback: each from a new job with an empty directory."""
    original = get(cluster, KUBE_PROXY_CM)["data"]
    play, job = fresh_job(cluster, "job1", "main")
    run_in(cluster, job, play, *CONFIRM)
    play, job = fresh_job(cluster, "job2", "rollback")
    run_in(cluster, job, play)
    assert get(cluster, KUBE_PROXY_CM)["data"] == original
    assert "restored_at" in read_record(cluster)

    edited = operator_edit(cluster, lambda text: text.replace("metricsBindAddress: \"\"", "metricsBindAddress: 127.0.0.1:10249")
                           if "metricsBindAddress" in text else text + "# operator: edited\n")
    assert edited != original["config.conf"] and "mode: ipvs" in edited

    play, job = fresh_job(cluster, "job3", "main")
    run_in(cluster, job, play, *CONFIRM)
    record = read_record(cluster)
    assert record["before"] == edited and "restored_at" not in record  # the newer state replaced the older record
    play, job = fresh_job(cluster, "job4", "rollback")
    run_in(cluster, job, play)
    assert get(cluster, KUBE_PROXY_CM)["data"]["config.conf"] == edited  # the operator's edit is kept
    state = json.loads(subprocess.check_output(["curl", "-s", cluster["url"] + "/_double/state"]).decode())
    assert state["proxyModes"]["node-old"] == "ipvs"
    for name in ("job1", "job2", "job3", "job4"):
        assert not (cluster["tmp"] / name / "ipvs-reuse-backup").exists()

    count = len(writes(cluster))
    play, job = fresh_job(cluster, "job5", "rollback")
    run_in(cluster, job, play)  # a second rollback applies the restored record never again
    assert len(writes(cluster)) == count


def test_kube_proxy_mode_rollback_merges_only_the_mode_line(cluster):
    """Someone edits another line after the switch: rollback sets only the mode line back."""
    original = get(cluster, KUBE_PROXY_CM)["data"]["config.conf"]
    play, job = fresh_job(cluster, "job1", "main")
    run_in(cluster, job, play, *CONFIRM)
    edited = operator_edit(cluster, lambda text: text + "# operator: edited after the switch\n")
    play, job = fresh_job(cluster, "job2", "rollback")
    run_in(cluster, job, play)
    assert get(cluster, KUBE_PROXY_CM)["data"]["config.conf"] == original + "# operator: edited after the switch\n"
    assert edited.replace("mode: iptables\n", "mode: ipvs\n") == original + "# operator: edited after the switch\n"


def test_kube_proxy_mode_rollback_refuses_when_mode_changed_since(cluster):
    """Someone sets another mode after the switch: rollback refuses clearly and writes nothing."""
    play, job = fresh_job(cluster, "job1", "main")
    run_in(cluster, job, play, *CONFIRM)
    edited = operator_edit(cluster, lambda text: text.replace("mode: iptables\n", "mode: nftables\n"))
    count = len(writes(cluster))
    play, job = fresh_job(cluster, "job2", "rollback")
    out = run_in(cluster, job, play, expect_rc=2)
    assert "is now 'mode: nftables'" in out and "someone changed it since" in out and "Nothing was changed" in out
    assert len(writes(cluster)) == count
    assert get(cluster, KUBE_PROXY_CM)["data"]["config.conf"] == edited


def test_kube_proxy_mode_controller_store(cluster):
    """The controller store keeps the record in kube_proxy_mode_backup_dir and writes no records ConfigMap."""
    original = get(cluster, KUBE_PROXY_CM)["data"]
    store = ("-e", "kube_proxy_mode_record_store=controller")
    run(cluster, write_play(cluster, "kube_proxy_mode", serial=1), *(CONFIRM + store))
    record = json.loads((cluster["tmp"] / "backup" / "configmap-kube-system-kube-proxy.json").read_text())
    assert record["before"] == original["config.conf"] and record["data"] == original
    assert all("kubenode-ipvs-reuse-records" not in w["path"] and w["method"] != "POST" for w in writes(cluster))
    run(cluster, write_play(cluster, "kube_proxy_mode", entry="rollback"), *store)
    assert get(cluster, KUBE_PROXY_CM)["data"] == original


def test_os_upgrade_flag_kured_sentinel(cluster):
    """The sentinel (in a temporary root) is written on the flagged node only, and unflagging removes only the role's."""
    sentinels = cluster["tmp"] / "run"
    for name in NODES:
        (sentinels / name).mkdir(parents=True)
    options = {"os_upgrade_flag_kured_sentinel": True,
               "os_upgrade_flag_kured_sentinel_path": str(sentinels) + "/{{ inventory_hostname }}/reboot-required"}
    run(cluster, write_play(cluster, "os_upgrade_flag", extra_vars=options))
    written = (sentinels / "node-old" / "reboot-required").read_text()
    assert written.startswith("kubenode.ipvs_reuse.os_upgrade_flag:")
    assert not (sentinels / "node-new" / "reboot-required").exists()  # safe node: no sentinel
    assert get(cluster, "/api/v1/nodes/node-old")["metadata"]["labels"]["kubenode.io/ipvs-reuse-os-upgrade"] == "true"

    run(cluster, write_play(cluster, "os_upgrade_flag", entry="rollback"), "-e", json.dumps(options))
    assert not (sentinels / "node-old" / "reboot-required").exists()
    assert "kubenode.io/ipvs-reuse-os-upgrade" not in get(cluster, "/api/v1/nodes/node-old")["metadata"]["labels"]

    # a sentinel someone else wrote (a package upgrade) is neither overwritten nor removed
    (sentinels / "node-old" / "reboot-required").write_text("*** System restart required ***\n")
    run(cluster, write_play(cluster, "os_upgrade_flag", extra_vars=options))
    assert (sentinels / "node-old" / "reboot-required").read_text() == "*** System restart required ***\n"
    run(cluster, write_play(cluster, "os_upgrade_flag", entry="rollback"), "-e", json.dumps(options))
    assert (sentinels / "node-old" / "reboot-required").read_text() == "*** System restart required ***\n"
