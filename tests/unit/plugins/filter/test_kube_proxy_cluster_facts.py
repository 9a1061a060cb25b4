"""kubenode.ipvs_reuse.kube_proxy_cluster_facts: the reads of the assess role (k8s_info's resources lists, as the
Kubernetes API double serves kubeadm's objects) turned into the cluster option of ipvs_facts; anything else in
gives a result with nothing known and notes that say why, never an error."""
import copy
import os
import sys

import pytest

from ansible_collections.kubenode.ipvs_reuse.plugins.filter.kube_proxy_cluster_facts import FilterModule

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "k8s_api_double"))
import server as double  # noqa: E402  the Kubernetes API TEST DOUBLE's real object shapes

CLUSTER_FACTS = FilterModule().filters()["kube_proxy_cluster_facts"]
CONFIGMAP = ("configmaps", "kube-system", "kube-proxy")
DAEMONSET = ("daemonsets", "kube-system", "kube-proxy")
NOTHING_KNOWN = {"configured_mode": None, "configured_mode_source": "ConfigMap kube-system/kube-proxy config.conf",
                 "version": None, "version_source": "DaemonSet kube-system/kube-proxy image (none)",
                 "notes": ["no ConfigMap (not a kubeadm-style cluster)", "no DaemonSet"], "node_kernels": None}


def reads(mode="ipvs", nodes=("node-a", "node-b")):
    """What roles/assess/tasks/cluster.yml passes: {'configmap': ..., 'daemonset': ..., 'nodes': ...resources}."""
    state = double.ClusterState(list(nodes), mode)
    return {"configmap": [state.objects[CONFIGMAP]], "daemonset": [state.objects[DAEMONSET]],
            "nodes": [state.objects[("nodes", None, name)] for name in nodes]}


def test_a_kubeadm_cluster_gives_mode_version_and_node_kernels():
    assert CLUSTER_FACTS(reads()) == {
        "configured_mode": "ipvs", "configured_mode_source": "ConfigMap kube-system/kube-proxy config.conf",
        "version": "v1.30.0", "version_source": "DaemonSet kube-system/kube-proxy image registry.k8s.io/kube-proxy:v1.30.0",
        "notes": [], "node_kernels": {"node-a": "6.1.0", "node-b": "6.1.0"}}


def test_an_empty_mode_is_iptables_and_says_so():
    objects = reads('""')
    del objects["nodes"]  # the Nodes are read only when asked for: no cross-check then
    result = CLUSTER_FACTS(objects)
    assert result["configured_mode"] == "iptables"
    assert result["configured_mode_source"] == ("ConfigMap kube-system/kube-proxy config.conf (config.conf mode is "
                                                "empty: kube-proxy's default, iptables)")
    assert result["node_kernels"] is None and result["notes"] == []


def test_an_image_without_a_tag_leaves_the_version_unknown_with_a_note():
    objects = reads()
    daemonset = copy.deepcopy(objects["daemonset"][0])
    daemonset["spec"]["template"]["spec"]["containers"][0]["image"] = "myreg:5000/kube-proxy"
    result = CLUSTER_FACTS(dict(objects, daemonset=[daemonset]))
    assert (result["configured_mode"], result["version"]) == ("ipvs", None)
    assert result["version_source"] == "DaemonSet kube-system/kube-proxy image myreg:5000/kube-proxy"
    assert result["notes"] == ["image myreg:5000/kube-proxy has no version tag"]


@pytest.mark.parametrize("objects", [None, "kube-proxy", [], {}, {"configmap": None, "daemonset": None},
                                     {"configmap": [], "daemonset": ["not an object"]}])
def test_no_objects_mean_nothing_known(objects):
    assert CLUSTER_FACTS(objects) == NOTHING_KNOWN


def test_nodes_read_but_none_listed_is_an_empty_cross_check():
    assert CLUSTER_FACTS({"nodes": []}) == dict(NOTHING_KNOWN, node_kernels={})
    assert CLUSTER_FACTS({"nodes": ["garbage", {"metadata": {"name": "n1"}}]}) == dict(NOTHING_KNOWN, node_kernels={})
