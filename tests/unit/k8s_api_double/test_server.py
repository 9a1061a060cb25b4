# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the TEST DOUBLE of the Kubernetes API (tests/k8s_api_double/server.py).

The double stands in for kube-apiserver, which cannot be installed on the test
machines. These tests check that it answers like kube-apiserver does for the
requests the roles send, and that it rejects what kube-apiserver would reject,
so that a role test passing against it means something.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys
import threading

import pytest

try:
    from urllib.request import Request, urlopen
    from urllib.error import HTTPError
except ImportError:  # pragma: no cover
    pytest.skip("Python 3 only", allow_module_level=True)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "k8s_api_double"))
import server as double  # noqa: E402  pylint: disable=wrong-import-position,import-error


@pytest.fixture
def api(tmp_path):
    state = double.ClusterState(["node-a", "node-b"], "ipvs")
    srv = double.DoubleServer(("127.0.0.1", 0), state, str(tmp_path / "requests.jsonl"), token="s3cret")
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    base = "http://127.0.0.1:%d" % srv.server_address[1]
    double.write_kubeconfig(str(tmp_path / "kubeconfig"), base, "s3cret")

    def call(method, path, body=None, content_type="application/json", token="s3cret"):
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = Request(base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urlopen(req) as resp:
                return resp.status, json.loads(resp.read().decode() or "null")
        except HTTPError as exc:
            return exc.code, json.loads(exc.read().decode())

    call.server = srv
    call.log = tmp_path / "requests.jsonl"
    call.kubeconfig = str(tmp_path / "kubeconfig")
    yield call
    srv.shutdown()
    srv.server_close()


def records(api):
    return [json.loads(line) for line in api.log.read_text().splitlines()]


def test_requires_the_bearer_token(api):
    code, body = api("GET", "/api/v1/nodes/node-a", token=None)
    assert (code, body["reason"]) == (401, "Unauthorized")
    code, _body = api("GET", "/api/v1/nodes/node-a", token="wrong")
    assert code == 401


def test_discovery_shapes(api):
    assert api("GET", "/version")[1]["major"] == "1"
    assert api("GET", "/api")[1]["versions"] == ["v1"]
    kinds = {r["kind"] for r in api("GET", "/api/v1")[1]["resources"]}
    assert {"Node", "ConfigMap", "Pod"} <= kinds
    groups = api("GET", "/apis")[1]["groups"]
    assert groups[0]["preferredVersion"]["groupVersion"] == "apps/v1"
    assert api("GET", "/apis/apps/v1")[1]["resources"][0]["kind"] == "DaemonSet"


def test_kubernetes_dynamic_client_works_against_the_double(api):
    kubernetes = pytest.importorskip("kubernetes")
    from kubernetes.dynamic import DynamicClient

    client = DynamicClient(kubernetes.config.new_client_from_config(config_file=api.kubeconfig))
    nodes = client.resources.get(api_version="v1", kind="Node")
    node = nodes.get(name="node-a")
    assert node.metadata.labels["kubernetes.io/hostname"] == "node-a"
    nodes.patch(name="node-a", body={"metadata": {"labels": {"example.com/flag": "true"}}},
                content_type="application/merge-patch+json")
    assert nodes.get(name="node-a").metadata.labels["example.com/flag"] == "true"
    # the typed client validates every field of the answer: the shapes must be complete
    core = kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(config_file=api.kubeconfig))
    assert core.read_node("node-b").status.node_info.kernel_version


def test_missing_objects_are_404(api):
    code, body = api("GET", "/api/v1/nodes/ghost")
    assert (code, body["reason"], body["details"]["name"]) == (404, "NotFound", "ghost")
    assert api("GET", "/api/v1/namespaces/kube-system/configmaps/nope")[0] == 404
    assert api("GET", "/api/v1/namespaces/kube-system/widgets/x")[0] == 404


def test_patch_content_types_are_checked(api):
    code, body = api("PATCH", "/api/v1/nodes/node-a", {"metadata": {"labels": {"a": "b"}}}, "application/json")
    assert (code, body["reason"]) == (415, "UnsupportedMediaType")
    code, body = api("PATCH", "/api/v1/nodes/node-a", b"{not json", "application/merge-patch+json")
    assert code == 400


def test_invalid_labels_annotations_and_taints_are_422(api):
    bad = [{"metadata": {"labels": {"kubenode.io/flag": "has space"}}},
           {"metadata": {"labels": {"-bad-": "x"}}},
           {"metadata": {"labels": {"ok": True}}},
           {"metadata": {"annotations": {"Not_A_Domain/x": "y"}}},
           {"spec": {"taints": [{"key": "k", "effect": "Sometimes"}]}},
           {"spec": {"unschedulable": "yes"}}]
    for patch in bad:
        code, body = api("PATCH", "/api/v1/nodes/node-a", patch, "application/strategic-merge-patch+json")
        assert (code, body["reason"]) == (422, "Invalid"), patch
    node = api("GET", "/api/v1/nodes/node-a")[1]
    assert "kubenode.io/flag" not in node["metadata"]["labels"]
    assert "taints" not in node["spec"]


def test_strategic_merge_adds_and_null_removes(api):
    path = "/api/v1/nodes/node-a"
    api("PATCH", path, {"metadata": {"labels": {"kubenode.io/x": "true"}, "annotations": {"kubenode.io/why": "r"}}},
        "application/strategic-merge-patch+json")
    node = api("GET", path)[1]
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-a"
    assert node["metadata"]["labels"]["kubenode.io/x"] == "true"
    api("PATCH", path, {"metadata": {"labels": {"kubenode.io/x": None}}}, "application/strategic-merge-patch+json")
    node = api("GET", path)[1]
    assert "kubenode.io/x" not in node["metadata"]["labels"]
    assert node["metadata"]["annotations"]["kubenode.io/why"] == "r"


def test_json_patch(api):
    path = "/api/v1/nodes/node-a"
    code, _body = api("PATCH", path, [{"op": "add", "path": "/metadata/labels/a~1b", "value": "c"}],
                      "application/json-patch+json")
    assert code == 200
    assert api("GET", path)[1]["metadata"]["labels"]["a/b"] == "c"
    code, _body = api("PATCH", path, [{"op": "test", "path": "/metadata/labels/a~1b", "value": "other"}],
                      "application/json-patch+json")
    assert code == 422
    code, _body = api("PATCH", path, [{"op": "remove", "path": "/metadata/labels/missing"}],
                      "application/json-patch+json")
    assert code == 422


def test_resource_version_conflicts_are_409(api):
    path = "/api/v1/namespaces/kube-system/configmaps/kube-proxy"
    cm = api("GET", path)[1]
    stale = json.loads(json.dumps(cm))
    cm["data"]["config.conf"] = cm["data"]["config.conf"].replace("mode: ipvs", "mode: iptables")
    code, new = api("PUT", path, cm)
    assert code == 200 and new["metadata"]["resourceVersion"] != stale["metadata"]["resourceVersion"]
    code, body = api("PUT", path, stale)
    assert (code, body["reason"]) == (409, "Conflict")
    del stale["metadata"]["resourceVersion"]
    code, body = api("PUT", path, stale)
    assert code == 422 and "resourceVersion" in body["message"]
    code, body = api("PATCH", path, {"metadata": {"resourceVersion": "1"}, "data": {"x": "y"}},
                     "application/merge-patch+json")
    assert code == 409


def test_put_checks_name_kind_and_data(api):
    path = "/api/v1/namespaces/kube-system/configmaps/kube-proxy"
    cm = api("GET", path)[1]
    assert api("PUT", path, dict(cm, kind="Secret"))[0] == 400
    assert api("PUT", path, dict(cm, metadata=dict(cm["metadata"], name="other")))[0] == 400
    assert api("PUT", path, dict(cm, data={"config.conf": 5}))[0] == 422


def test_dry_run_changes_nothing(api):
    path = "/api/v1/nodes/node-a"
    before = api("GET", path)[1]
    code, answer = api("PATCH", path + "?dryRun=All", {"metadata": {"labels": {"kubenode.io/x": "true"}}},
                       "application/strategic-merge-patch+json")
    assert code == 200 and answer["metadata"]["labels"]["kubenode.io/x"] == "true"
    assert api("GET", path)[1] == before
    assert api("PATCH", path + "?dryRun=Some", {}, "application/merge-patch+json")[0] == 400


def test_pod_deletion_restarts_kube_proxy_in_the_configured_mode(api):
    pods_path = "/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app%3Dkube-proxy&fieldSelector=spec.nodeName%3Dnode-a"
    pods = api("GET", pods_path)[1]["items"]
    assert len(pods) == 1 and pods[0]["spec"]["nodeName"] == "node-a"
    assert api.server.state.node_proxy_modes == {"node-a": "ipvs", "node-b": "ipvs"}
    cm_path = "/api/v1/namespaces/kube-system/configmaps/kube-proxy"
    cm = api("GET", cm_path)[1]
    conf = cm["data"]["config.conf"].replace("mode: ipvs", 'mode: "iptables"')
    assert api("PATCH", cm_path, {"data": {"config.conf": conf}}, "application/merge-patch+json")[0] == 200
    # changing the ConfigMap alone restarts nothing, as in a real cluster
    assert api.server.state.node_proxy_modes["node-a"] == "ipvs"
    old = pods[0]["metadata"]["name"]
    assert api("DELETE", "/api/v1/namespaces/kube-system/pods/" + old)[0] == 200
    assert api("GET", "/api/v1/namespaces/kube-system/pods/" + old)[0] == 404
    new = api("GET", pods_path)[1]["items"]
    assert len(new) == 1 and new[0]["metadata"]["name"] != old
    assert api.server.state.node_proxy_modes == {"node-a": "iptables", "node-b": "ipvs"}


def test_daemonset_restart_annotation_replaces_every_pod(api):
    ds_path = "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy"
    before = {p["metadata"]["name"] for p in api("GET", "/api/v1/namespaces/kube-system/pods")[1]["items"]}
    stamp = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-26T05:00:00Z"}}}}}
    code, ds = api("PATCH", ds_path, stamp, "application/strategic-merge-patch+json")
    assert code == 200 and ds["metadata"]["generation"] == 2
    after = {p["metadata"]["name"] for p in api("GET", "/api/v1/namespaces/kube-system/pods")[1]["items"]}
    assert len(after) == 2 and not before & after
    # the same annotation again is no change and restarts nothing
    api("PATCH", ds_path, stamp, "application/strategic-merge-patch+json")
    again = {p["metadata"]["name"] for p in api("GET", "/api/v1/namespaces/kube-system/pods")[1]["items"]}
    assert again == after


def test_simulated_forbidden(api):
    api.server.faults.rules = [{"code": 403, "verb": "patch", "resource": "nodes"}]
    code, body = api("PATCH", "/api/v1/nodes/node-a", {"metadata": {"labels": {"a": "b"}}},
                     "application/merge-patch+json")
    assert (code, body["reason"]) == (403, "Forbidden") and "cannot patch" in body["message"]
    assert api("GET", "/api/v1/nodes/node-a")[0] == 200


def test_every_request_is_recorded(api):
    api("PATCH", "/api/v1/nodes/node-b", {"metadata": {"annotations": {"x.io/y": "z"}}},
        "application/merge-patch+json")
    api("GET", "/api/v1/nodes/node-x")
    log = records(api)
    assert [(r["method"], r["path"], r["code"]) for r in log] == [
        ("PATCH", "/api/v1/nodes/node-b", 200), ("GET", "/api/v1/nodes/node-x", 404)]
    assert log[0]["body"] == {"metadata": {"annotations": {"x.io/y": "z"}}}
    assert log[0]["content_type"] == "application/merge-patch+json"


def test_config_mode_parsing():
    assert double.config_mode("mode: ipvs\n") == "ipvs"
    assert double.config_mode('mode: "iptables"\n') == "iptables"
    assert double.config_mode('mode: ""\n') == "iptables"
    assert double.config_mode("kind: KubeProxyConfiguration\n") == "iptables"
