"""The assess role reads kube-proxy's mode and version from the Kubernetes API TEST DOUBLE (not kube-apiserver).

tests/k8s_api_double/server.py serves the real paths and shapes of ConfigMap, DaemonSet (apps/v1) and Node and
records every request; the nodes are offline roots (connection local) without any kube-proxy signal of their own,
so the mode and version can only come from the cluster.
"""
import json

import test_roles_api_double as api_double

cluster = api_double.cluster  # the double's fixture (pytest finds it under this name)
run = api_double.run


def write_play(api, **extra):
    play = {"hosts": "all", "gather_facts": False, "vars": dict({
        "assess_node_root": str(api["tmp"] / "roots") + "/{{ inventory_hostname }}",
        "assess_metrics_url": "", "assess_report": False, "assess_publish_stats": False,
    }, **extra), "tasks": [
        {"name": "Assess", "ansible.builtin.include_role": {"name": "kubenode.ipvs_reuse.assess"}},
        {"name": "Save the facts", "ansible.builtin.copy": {
            "content": "{{ ansible_facts.ipvs_reuse | to_json }}",
            "dest": str(api["tmp"]) + "/facts-{{ inventory_hostname }}.json"}, "delegate_to": "localhost"},
    ]}
    path = api["tmp"] / "assess-cluster.json"
    path.write_text(json.dumps([play]))
    return str(path)


def requests(api):
    log = api["state"] / "requests.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_mode_and_version_from_the_cluster_once_per_run(cluster):  # noqa: F811
    run(cluster, write_play(cluster, assess_kubeconfig=str(cluster["state"] / "kubeconfig")))
    for node in ("node-old", "node-new"):
        facts = json.loads((cluster["tmp"] / ("facts-%s.json" % node)).read_text())
        proxy = facts["kube_proxy"]
        assert (proxy["mode"], proxy["version"]) == ("ipvs", "v1.30.0")
        assert proxy["mode_source"] == ("kube-proxy ConfigMap (ConfigMap kube-system/kube-proxy config.conf)")
        assert proxy["version_source"].startswith("kube-proxy DaemonSet image (DaemonSet kube-system/kube-proxy image")
        assert proxy["configured_mode"] == "ipvs"
        assert facts["classification"]["verdict"] != "unknown"
    api_reads = [(r["method"], r["path"]) for r in requests(cluster)]
    # one read of each object for the whole run, whatever the number of nodes; nothing written
    assert api_reads.count(("GET", "/api/v1/namespaces/kube-system/configmaps/kube-proxy")) == 1
    assert api_reads.count(("GET", "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy")) == 1
    assert api_reads.count(("GET", "/api/v1/nodes")) == 1
    assert [r for r in requests(cluster) if r["method"] != "GET"] == []


def test_forbidden_stops_before_any_node_is_assessed(cluster):  # noqa: F811
    from urllib.request import Request, urlopen
    urlopen(Request(cluster["url"] + "/_double/faults", method="POST",
                    data=b'[{"code": 403, "verb": "get", "resource": "daemonsets"}]')).read()
    out = run(cluster, write_play(cluster, assess_kubeconfig=str(cluster["state"] / "kubeconfig")), expect_rc=2)
    assert "assess: cannot read kube-proxy's ConfigMap, DaemonSet or Nodes" in out and "forbidden" in out.lower()
    assert "No node was assessed" in out
    assert not list(cluster["tmp"].glob("facts-*.json"))
    assert "Gather and classify the node in one module call" not in out


def test_unreachable_stops_with_a_clear_message(cluster):  # noqa: F811
    config = json.loads((cluster["state"] / "kubeconfig").read_text())
    config["clusters"][0]["cluster"]["server"] = "http://127.0.0.1:9"  # discard port: nothing listens
    (cluster["tmp"] / "unreachable.kubeconfig").write_text(json.dumps(config))
    out = run(cluster, write_play(cluster, assess_kubeconfig=str(cluster["tmp"] / "unreachable.kubeconfig")),
              expect_rc=2)
    assert "assess: cannot read" in out and not list(cluster["tmp"].glob("facts-*.json"))


def test_no_kubeconfig_no_request(cluster):  # noqa: F811
    run(cluster, write_play(cluster))
    facts = json.loads((cluster["tmp"] / "facts-node-old.json").read_text())
    assert facts["kube_proxy"]["mode"] is None and "configured_mode" not in facts["kube_proxy"]
    assert requests(cluster) == []
