"""ipvs_facts' RETURN documents every key the module returns, nested: the real results of a run over every node of
the demo fleet (through ansible and the action plugin, as the assess role runs it), plain, with the cluster's facts
and a kernel probe result merged on the controller, past the gathering deadline, and with a kube-proxy version
without patch number (the engine's branches), are walked against RETURN.

A key the gatherer, the engine, the plan or the controller-side merges start to return fails here until RETURN
documents it; a key RETURN documents that no run returns fails too (a renamed or removed key)."""
import json

import pytest

from support import fleetgen
from support.demo_playbook import run_playbook
from support.return_docs import check_result, documented_paths
from ansible_collections.kubenode.ipvs_reuse.plugins.modules import ipvs_facts
from ansible_collections.kubenode.ipvs_reuse.plugins.plugin_utils.cluster_facts import cluster_facts

# Dicts keyed by names (of sysctls, of roles' values), not by fields; RETURN describes their keys in words.
KEYED_BY_DATA = (
    "ansible_facts.ipvs_reuse.sysctl_errors",
    "ansible_facts.ipvs_reuse.persisted",
    "ansible_facts.ipvs_reuse.kernel_probe",
    "ansible_facts.ipvs_reuse.classification.pin_sysctls",
    "ansible_facts.ipvs_reuse.classification.plan.pin_sysctl.sysctls",
)

# What the assess role passes from the cluster (kube_proxy_cluster_facts filter) and from ipvs_kernel_probe.
CLUSTER = cluster_facts(
    configmap=[{"data": {"config.conf": "mode: ipvs\n"}}],
    daemonset=[{"spec": {"template": {"spec": {"containers": [{"name": "kube-proxy",
                                                               "image": "registry.k8s.io/kube-proxy:v1.28.4"}]}}}}],
    nodes=[{"metadata": {"name": "elrepo-5.4"}, "status": {"nodeInfo": {"kernelVersion": "5.4.0-1"}}}])
KERNEL_PROBE = {"probed": True, "node": "lab-1", "measured_at": "2026-12-01T10:00:00Z",
                "kernel": {"release": "5.4.0-1", "build": "#1 SMP"}, "syn_drop_fix": True,
                "syn_drop_fix_reason": "5 of 5 fast", "drained_backend_fix": None,
                "drained_backend_fix_reason": "not measured"}


def facts_task(name, **args):
    options = dict({"root": "{{ assess_node_root }}", "metrics_url": "",
                    "proxy_mode": "{{ assess_proxy_mode | default(omit) }}",
                    "kube_proxy_version": "{{ assess_kube_proxy_version | default(omit) }}"}, **args)
    return {"name": name, "kubenode.ipvs_reuse.ipvs_facts": options}


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory):
    """{task name: {host: result}} of one playbook over the demo fleet."""
    return run_playbook(tmp_path_factory.mktemp("ipvs_facts_return"), [
        facts_task("gathered"),
        facts_task("with the cluster and a kernel probe", cluster=CLUSTER, cluster_node_name="{{ inventory_hostname }}",
                   kernel_probe=KERNEL_PROBE),
        facts_task("past the deadline", gather_timeout=0.000001),
        # a minor release whose patch ranges behave differently: the engine's branches
        facts_task("kube-proxy v1.21 without patch number", kube_proxy_version="v1.21")])


def test_the_runs_cover_every_demo_node(demo_results):
    for task, hosts in demo_results.items():
        assert sorted(hosts) == sorted(fleetgen.DEMO_FLEET), task
        for host, result in hosts.items():
            assert not result.get("failed"), (task, host, result.get("msg"))
            facts = result["ansible_facts"]["ipvs_reuse"]
            assert ("gather_error" in facts) == (task == "past the deadline"), (task, host)
            assert ("cluster" in facts) == (task == "with the cluster and a kernel probe"), (task, host)


def test_every_returned_key_is_documented(demo_results):
    problems = []
    for task, hosts in sorted(demo_results.items()):
        for host, result in sorted(hosts.items()):
            found, _seen = check_result(result, ipvs_facts.RETURN, KEYED_BY_DATA)
            problems.extend("%s, %s: %s" % (task, host, problem) for problem in found)
    assert problems == []


def test_every_documented_key_is_returned_by_some_run(demo_results):
    seen = set()
    for hosts in demo_results.values():
        for result in hosts.values():
            seen |= check_result(result, ipvs_facts.RETURN, KEYED_BY_DATA)[1]
    assert sorted(documented_paths(ipvs_facts.RETURN) - seen) == []


def test_the_walk_finds_an_undocumented_key(demo_results):
    """The check itself: a key added to a real result, at the top and deep down, is reported."""
    result = json.loads(json.dumps(demo_results["gathered"]["ubuntu2004-kp121"]))
    facts = result["ansible_facts"]["ipvs_reuse"]
    facts["kube_proxy"]["signals"][0]["added_later"] = 1
    facts["classification"]["plan"]["pin_sysctl"]["added_later"] = True
    result["added_later"] = "x"
    problems = check_result(result, ipvs_facts.RETURN, KEYED_BY_DATA)[0]
    assert sorted(problems) == [
        "added_later: returned but not documented in RETURN",
        "ansible_facts.ipvs_reuse.classification.plan.pin_sysctl.added_later: returned but not documented in RETURN",
        "ansible_facts.ipvs_reuse.kube_proxy.signals[].added_later: returned but not documented in RETURN",
    ]
