"""ipvs_facts' live path: the kube-proxy metrics endpoint, served here by a TEST DOUBLE.

The double is a stdlib HTTP server on loopback that answers /proxyMode and /metrics the way kube-proxy's
metrics server does (plain text mode name; Prometheus text with kubernetes_build_info). No kube-proxy
binary can be installed on these machines.
"""
import http.server
import json
import os
import subprocess
import sys
import threading

import pytest

from support.ansiballz import kept_payload_files

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import classify
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.gather import gather
from ansible_collections.kubenode.ipvs_reuse.plugins.modules.ipvs_facts import http_get

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
# a demo node whose default mitigation is pin_sysctl (problem 1 on a kernel that carries the fix: pinning 1 is safe)
PIN_NODE_ROOT = os.path.join(REPO, "demo", "nodes", "debian11-persisted0")
METRICS = ('# HELP kubernetes_build_info [ALPHA] A metric with a constant \'1\' value labeled by major, minor, '
           'git version, git commit, git tree state, build date, Go version, and compiler from which Kubernetes '
           'was built, and platform on which it is running.\n# TYPE kubernetes_build_info gauge\n'
           'kubernetes_build_info{build_date="2023-11-15T16:28:21Z",compiler="gc",git_commit="bae2c62678db2b5053817'
           'bc97181fcc2e8388103",git_tree_state="clean",git_version="v1.28.4",go_version="go1.20.11",major="1",'
           'minor="28",platform="linux/amd64"} 1\n')


class KubeProxyMetricsDouble(http.server.BaseHTTPRequestHandler):
    """TEST DOUBLE of kube-proxy's metrics endpoint (default 127.0.0.1:10249)."""

    mode = "ipvs"
    requests = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.requests.append(self.path)
        body = {"/proxyMode": self.mode, "/metrics": METRICS}.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        self.wfile.write((body or "404 page not found\n").encode())

    def log_message(self, *args):
        pass


@pytest.fixture()
def kube_proxy_double():
    server = http.server.HTTPServer(("127.0.0.1", 0), KubeProxyMetricsDouble)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    KubeProxyMetricsDouble.requests = []
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()


def test_live_endpoint_gives_mode_and_version(kube_proxy_double):
    facts = gather("/", metrics_url=kube_proxy_double, http_get=http_get)
    assert (facts["kube_proxy"]["mode"], facts["kube_proxy"]["version"]) == ("ipvs", "v1.28.4")
    assert facts["kube_proxy"]["mode_source"].startswith("kube-proxy /proxyMode endpoint")
    assert KubeProxyMetricsDouble.requests == ["/proxyMode", "/metrics"]


def test_endpoint_that_does_not_answer_is_listed_as_missing():
    facts = gather("/", metrics_url="http://127.0.0.1:9", http_get=http_get)
    assert any(item["item"] == "kube-proxy /proxyMode" for item in facts["missing"])


def run_ipvs_facts(tmp_path, args):
    """Run kubenode.ipvs_reuse.ipvs_facts through ansible (connection local); return the host's result."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_KEEP_REMOTE_FILES="1",
               ANSIBLE_REMOTE_TMP=str(tmp_path / "remote"))
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
    command = [ansible, "localhost", "-e", "ansible_python_interpreter=%s" % sys.executable,
               "-m", "kubenode.ipvs_reuse.ipvs_facts", "-a", json.dumps(args)]
    run = subprocess.run(command, env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, universal_newlines=True,
                         check=False)
    return json.loads(run.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_module_end_to_end_gathers_on_the_node_and_classifies_on_the_controller(tmp_path, kube_proxy_double):
    """The real module through ansible on the live root: read-only, classified, and the node's payload
    carries the gatherer but not the classification engine (the action plugin classifies)."""
    result = run_ipvs_facts(tmp_path, {"metrics_url": kube_proxy_double, "transport": "module"})
    assert result["changed"] is False
    facts = result["ansible_facts"]["ipvs_reuse"]
    assert facts["kube_proxy"]["mode"] == "ipvs"
    assert facts["classification"] == classify(facts, None)
    payloads = kept_payload_files(tmp_path / "remote")
    assert len(payloads) == 1, payloads
    names = list(payloads.values())[0]
    utils = "ansible_collections/kubenode/ipvs_reuse/plugins/module_utils/"
    assert utils + "gather.py" in names
    assert utils + "classify.py" not in names


def test_bad_policy_fails_before_the_node_is_contacted(tmp_path):
    result = run_ipvs_facts(tmp_path, {"metrics_url": "", "policy": {"allow_pin": "maybe"}})
    assert result["failed"] is True
    assert result["msg"] == "invalid policy: policy.allow_pin must be true or false"
    assert kept_payload_files(tmp_path / "remote") == {}


def test_policy_reaches_the_classification(tmp_path):
    """A policy given to the task changes the mitigation the same way the engine does for those facts."""
    policy = {"allow_pin": False, "fallback_mitigation": "switch_iptables"}
    default = run_ipvs_facts(tmp_path, {"root": PIN_NODE_ROOT, "metrics_url": ""})["ansible_facts"]["ipvs_reuse"]
    assert default["classification"]["mitigation"] == "pin_sysctl"
    facts = run_ipvs_facts(tmp_path, {"root": PIN_NODE_ROOT, "metrics_url": "", "policy": policy})["ansible_facts"]["ipvs_reuse"]
    assert facts["classification"] == classify(facts, policy)
    assert facts["classification"]["mitigation"] == "switch_iptables"


def test_lean_transport_leaves_no_file_on_the_node(tmp_path, kube_proxy_double):
    """The default transport runs the gatherer in one command: nothing is written on the node, even with
    ANSIBLE_KEEP_REMOTE_FILES, and the result is classified as with the module."""
    result = run_ipvs_facts(tmp_path, {"metrics_url": kube_proxy_double})
    facts = result["ansible_facts"]["ipvs_reuse"]
    assert (facts["kube_proxy"]["mode"], facts["kube_proxy"]["version"]) == ("ipvs", "v1.28.4")
    assert facts["classification"] == classify(facts, None)
    assert not (tmp_path / "remote").exists() or os.listdir(str(tmp_path / "remote")) == []
