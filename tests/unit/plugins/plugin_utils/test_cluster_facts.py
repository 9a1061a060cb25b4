"""The cluster as a source: object parsing and the precedence explicit > endpoint > cluster > node files."""
import copy
import os
import sys

import pytest

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.gather import gather
from ansible_collections.kubenode.ipvs_reuse.plugins.plugin_utils.cluster_facts import (
    cluster_facts, configmap_mode, daemonset_version, merge_cluster_facts)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "k8s_api_double"))
import server as double  # noqa: E402  the Kubernetes API TEST DOUBLE's real object shapes


def objects(mode="ipvs", image=None):
    state = double.ClusterState(["node-a"], mode)
    cm = state.objects[("configmaps", "kube-system", "kube-proxy")]
    ds = copy.deepcopy(state.objects[("daemonsets", "kube-system", "kube-proxy")])
    if image:
        ds["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return [cm], [ds], [state.objects[("nodes", None, "node-a")]]


@pytest.mark.parametrize("mode, expected", [
    ("ipvs", "ipvs"), ("iptables", "iptables"), ("nftables", "nftables"),
    ('""', "iptables"), ("", "iptables"),  # empty means iptables
    ("IPVS", "IPVS"), ("ipvs-ng", "ipvs-ng"),  # not a known mode: raw, the engine says unknown
])
def test_configmap_mode(mode, expected):
    cm, _ds, _nodes = objects(mode)
    assert configmap_mode(cm[0])[0] == expected


@pytest.mark.parametrize("text, note", [
    ("mode: [ipvs", "not valid YAML"), ("- ipvs\n", "not a KubeProxyConfiguration"),
])
def test_configmap_mode_bad(text, note):
    mode, why = configmap_mode({"data": {"config.conf": text}})
    assert mode is None and note in why
    assert configmap_mode(None)[0] is None and configmap_mode({"data": {}})[0] is None
    assert configmap_mode({"data": {"config.conf": "mode: 5\n"}})[0] == "5"


@pytest.mark.parametrize("image, version", [
    ("registry.k8s.io/kube-proxy:v1.28.4", "v1.28.4"),
    ("myreg:5000/kube-proxy:v1.21.9@sha256:" + "a" * 64, "v1.21.9"),
    ("602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.27.3-eksbuild.2", "v1.27.3-eksbuild.2"),
    ("myreg:5000/kube-proxy", None), ("kube-proxy:latest", None), ("kube-proxy@sha256:" + "b" * 64, None),
])
def test_daemonset_version(image, version):
    _cm, ds, _nodes = objects(image=image)
    assert daemonset_version(ds[0])[0] == version


def node_facts(endpoint=None, explicit=None, files_mode="ipvs", release="6.1.0", tmp=None):
    """Real gather() output: an offline root with a kube-proxy unit, and a fake live endpoint."""
    root = str(tmp)
    os.makedirs(os.path.join(root, "etc/systemd/system"), exist_ok=True)
    with open(os.path.join(root, "etc/systemd/system/kube-proxy.service"), "w") as handle:
        handle.write("[Service]\nExecStart=/usr/bin/kube-proxy --proxy-mode=%s\n" % files_mode)
    os.makedirs(os.path.join(root, "proc/sys/kernel"), exist_ok=True)
    with open(os.path.join(root, "proc/sys/kernel/osrelease"), "w") as handle:
        handle.write(release + "\n")
    answers = {"/proxyMode": endpoint, "/metrics": 'kubernetes_build_info{git_version="v1.30.2"} 1\n'}
    facts = gather(root=root, proxy_mode=explicit, metrics_url="http://e",
                   http_get=lambda url: answers.get(url[len("http://e"):]) if endpoint else None)
    facts["root"] = "/"  # as on a live node, so that the endpoint counts
    return facts


def live_gather(tmp_path, endpoint=None, explicit=None):
    facts = node_facts(endpoint=endpoint, explicit=explicit, tmp=tmp_path)
    if endpoint:  # gather() only queries the endpoint for root "/": add its signal the same way
        answers = {"/proxyMode": endpoint, "/metrics": 'kubernetes_build_info{git_version="v1.30.2"} 1\n'}
        from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import gather as gather_mod
        signals, missing = [], []
        gather_mod.gather_endpoint("http://e", lambda url: answers.get(url[len("http://e"):]), signals, missing)
        proxy = facts["kube_proxy"]
        at = 1 if explicit else 0
        proxy["signals"][at:at] = signals
    return facts


def cluster(mode="iptables", image="registry.k8s.io/kube-proxy:v1.29.1"):
    cm, ds, nodes = objects(mode, image)
    return cluster_facts(cm, ds, nodes)


def test_cluster_beats_node_files(tmp_path):
    facts = live_gather(tmp_path)
    assert facts["kube_proxy"]["mode"] == "ipvs"  # from the unit file before the merge
    merge_cluster_facts(facts, cluster("iptables"))
    proxy = facts["kube_proxy"]
    assert (proxy["mode"], proxy["version"]) == ("iptables", "v1.29.1")
    assert proxy["mode_source"].startswith("kube-proxy ConfigMap (ConfigMap kube-system/kube-proxy config.conf")
    assert proxy["configured_mode"] == "iptables" and "ConfigMap" in proxy["configured_mode_source"]


def test_endpoint_beats_cluster(tmp_path):
    facts = live_gather(tmp_path, endpoint="ipvs")
    merge_cluster_facts(facts, cluster("iptables"))
    proxy = facts["kube_proxy"]
    assert (proxy["mode"], proxy["version"]) == ("ipvs", "v1.30.2")  # the live endpoint, for now
    assert proxy["mode_source"].startswith("kube-proxy /proxyMode endpoint")
    assert proxy["configured_mode"] == "iptables"  # the next start: the ConfigMap's


def test_explicit_beats_everything(tmp_path):
    facts = live_gather(tmp_path, endpoint="iptables", explicit="ipvs")
    warnings = merge_cluster_facts(facts, cluster("nftables"))
    proxy = facts["kube_proxy"]
    assert proxy["mode"] == "ipvs" and proxy["mode_source"].startswith("given by the caller")
    assert proxy["configured_mode"] == "ipvs"
    assert any("nftables" in w for w in warnings)


def test_unknown_cluster_mode_goes_through_raw(tmp_path):
    facts = live_gather(tmp_path)
    merge_cluster_facts(facts, cluster("IPVS"))
    assert facts["kube_proxy"]["mode"] == "IPVS" and facts["kube_proxy"]["configured_mode"] == "IPVS"


def test_no_configmap_keeps_node_files_and_says_so(tmp_path):
    facts = live_gather(tmp_path)
    warnings = merge_cluster_facts(facts, cluster_facts([], [], None))
    assert facts["kube_proxy"]["mode"] == "ipvs" and "configured_mode" not in facts["kube_proxy"]
    assert any("no ConfigMap" in w for w in warnings)


def test_kernel_cross_check(tmp_path):
    facts = live_gather(tmp_path)
    facts["kernel"]["release"] = "5.4.0-150-generic"
    warnings = merge_cluster_facts(facts, cluster(), "node-a")
    assert any("reports kernel 6.1.0" in w and "5.4.0-150-generic" in w for w in warnings)
    facts = live_gather(tmp_path)
    facts["kernel"]["release"] = "6.1.0"
    assert not any("kernel" in w for w in merge_cluster_facts(facts, cluster(), "node-a"))
    assert any("no Node named node-z" in w for w in merge_cluster_facts(live_gather(tmp_path), cluster(), "node-z"))


def test_hostile_inputs_do_not_crash():
    assert merge_cluster_facts({}, {"configured_mode": None}) == []
    assert merge_cluster_facts({"kube_proxy": "x"}, "not a dict") == []
    assert cluster_facts([None], ["x"], [1, {"metadata": None}])["configured_mode"] is None
