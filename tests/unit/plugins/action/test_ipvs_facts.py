"""ipvs_facts' action plugin on the controller, beyond the transports (test_ipvs_facts_lean.py): the options it
consumes itself. Facts gathered earlier are classified again without contacting the node (its Python here does not
exist), with the policy (a dict or key=value text), a kernel probe and the cluster's facts merged in; wrong values
fail with messages of their own. The option checks are also driven directly."""
import copy
import json

import pytest

from support import demo
from ansible_collections.kubenode.ipvs_reuse.plugins.action import ipvs_facts as action
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import PolicyError, classify
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.knowledge import DEFAULT_POLICY
from ansible_collections.kubenode.ipvs_reuse.plugins.modules.ipvs_facts import ARGUMENT_SPEC
from ansible_collections.kubenode.ipvs_reuse.plugins.plugin_utils.cluster_facts import merge_cluster_facts

from .test_ipvs_facts_lean import run_playbook

NODE = "debian11-persisted0"  # problem1 on a fixed kernel: pin_sysctl by default
# the cluster's objects as kube_proxy_cluster_facts makes them: kube-proxy configured for iptables mode
CLUSTER = {"configured_mode": "iptables", "configured_mode_source": "ConfigMap kube-system/kube-proxy config.conf",
           "version": "v1.30.0", "version_source": "DaemonSet kube-system/kube-proxy image registry.k8s.io/kube-proxy:v1.30.0",
           "notes": [], "node_kernels": {NODE: "6.1.0"}}
PROBE = {"probed": True, "node": NODE, "measured_at": "2026-12-02T12:00:00Z",
         "kernel": {"release": "5.10.0-9-amd64", "build": None}}


def earlier_facts():
    """The node's facts as a run before returned them, with a classification that is out of date."""
    facts = demo.node_facts(NODE)
    facts["classification"] = {"verdict": "safe", "mitigation": "none"}
    return facts


def without_classification(facts):
    facts = copy.deepcopy(facts)
    del facts["classification"]
    return facts


def test_checked_policy_takes_a_dict_or_text_and_merges_over_the_default():
    assert action.checked_policy(None) == DEFAULT_POLICY
    assert action.checked_policy("") == action.checked_policy("  ") == DEFAULT_POLICY
    for given in ({"allow_pin": False}, '{"allow_pin": false}'):
        assert action.checked_policy(given) == dict(DEFAULT_POLICY, allow_pin=False), given
    assert action.checked_policy("fallback_mitigation=switch_iptables") == dict(
        DEFAULT_POLICY, fallback_mitigation="switch_iptables")
    with pytest.raises(PolicyError, match=r"^policy must be a dict: "):
        action.checked_policy("{not json")
    # key=value text gives strings, as the module's dict option would: a boolean needs the dict or JSON form
    with pytest.raises(PolicyError, match=r"^policy.allow_pin must be true or false$"):
        action.checked_policy("allow_pin=false")


def test_checked_params_validates_as_the_module_and_resets_what_the_controller_consumes():
    params, transport = action.checked_params({"root": "/srv/node", "transport": "module", "policy": {"allow_pin": 0},
                                               "cluster": {"x": 1}, "cluster_node_name": "n1"})
    assert transport == "module"
    assert params["root"] == "/srv/node"
    for key in action.CONTROLLER_OPTIONS:  # the node sees the defaults, whichever the transport
        assert params[key] == ARGUMENT_SPEC[key].get("default"), key
    assert action.checked_params({})[1] == "auto"
    params, message = action.checked_params({"colour": "blue"})
    assert params is None
    assert message.startswith("Unsupported parameters for (kubenode.ipvs_reuse.ipvs_facts) module: colour.")
    params, message = action.checked_params({"gather_timeout": "soon"})
    assert params is None and message.startswith("argument 'gather_timeout' is of type")


def test_earlier_facts_are_classified_again_on_the_controller(tmp_path):
    facts = earlier_facts()
    unreachable = {"vars": {"ansible_python_interpreter": "/nonexistent/python3"}}

    def task(name, **args):
        return dict({"name": name, "kubenode.ipvs_reuse.ipvs_facts": dict({"facts": facts}, **args)}, **unreachable)
    tasks = [task("again"), dict(task("again, check mode"), check_mode=True),
             task("policy", policy={"allow_pin": False}), task("policy as text", policy='{"allow_pin": false}'),
             task("probe", kernel_probe=PROBE), task("cluster", cluster=CLUSTER, cluster_node_name=NODE)]
    results = dict((name, hosts[NODE]) for name, hosts in run_playbook(tmp_path, tasks, limit=NODE).items())
    gathered = without_classification(facts)

    again = results["again"]
    assert again["changed"] is False and "failed" not in again
    assert without_classification(again["ansible_facts"]["ipvs_reuse"]) == json.loads(json.dumps(gathered))
    classification = again["ansible_facts"]["ipvs_reuse"]["classification"]
    assert classification == json.loads(json.dumps(classify(gathered)))
    assert (classification["verdict"], classification["mitigation"]) == ("problem1", "pin_sysctl")
    assert results["again, check mode"]["ansible_facts"] == again["ansible_facts"]

    for name in ("policy", "policy as text"):
        assert "ansible_facts" in results[name], results[name]
        refused = results[name]["ansible_facts"]["ipvs_reuse"]["classification"]
        assert (refused["verdict"], refused["mitigation"]) == ("problem1", "os_upgrade"), name

    assert results["probe"]["ansible_facts"]["ipvs_reuse"]["kernel_probe"] == PROBE

    merged = results["cluster"]["ansible_facts"]["ipvs_reuse"]
    expected = copy.deepcopy(gathered)
    warnings = merge_cluster_facts(expected, CLUSTER, NODE)
    assert warnings and "reports kernel 6.1.0, the node shows 5.10.0-9-amd64" in warnings[0]
    assert without_classification(merged) == json.loads(json.dumps(expected))
    assert merged["cluster"]["configured_mode"] == merged["kube_proxy"]["mode"] == "iptables"
    # the cluster's configured mode wins over the node's files: kube-proxy is not in IPVS mode, nothing to do
    assert (merged["classification"]["verdict"], merged["classification"]["mitigation"]) == ("not_applicable", "none")
    assert merged["classification"]["warnings"][-len(warnings):] == warnings


@pytest.mark.parametrize("args, message", [
    ({"policy": {"allow_pin": "sometimes"}}, "invalid policy: policy.allow_pin must be true or false"),
    ({"policy": {"colour": "blue"}},
     "invalid policy: unknown policy keys: colour (known: allow_pin, fallback_mitigation, known_kernels)"),
    ({"cluster": "prod"}, "cluster must be a dict (the output of the kube_proxy_cluster_facts filter)"),
    ({"kernel_probe": "passed"}, "kernel_probe must be a dict"),
    ({"facts": "gathered"}, "facts must be a dict"),
])
def test_wrong_controller_options_fail_before_the_node_is_contacted(monkeypatch, args, message):
    """Driven without a play: these checks come before anything needs the connection or the task's variables."""
    plugin = action.ActionModule.__new__(action.ActionModule)
    plugin._task = type("Task", (), {"args": args})()
    # ActionBase.run (the parent) checks the connection and the task; the options are checked after it
    monkeypatch.setattr(action.ActionBase, "run", lambda self, tmp=None, task_vars=None: {})
    assert plugin.run(task_vars={}) == {"failed": True, "msg": message}
