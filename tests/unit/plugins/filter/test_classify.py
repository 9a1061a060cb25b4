"""kubenode.ipvs_reuse.classify: the engine on the controller over a node's facts, with a site policy; malformed
facts give unknown, an invalid policy a filter error that names the key."""
import pytest

from ansible.errors import AnsibleFilterError

from support import demo
from ansible_collections.kubenode.ipvs_reuse.plugins.filter.classify import FilterModule

CLASSIFY = FilterModule().filters()["classify"]


@pytest.mark.parametrize("name", demo.NAMES)
def test_every_demo_node_gets_the_verdict_its_layout_calls_for(name):
    facts = demo.node_facts(name)
    del facts["classification"]  # the filter classifies again from the gathered facts alone
    result = CLASSIFY(facts)
    assert dict((key, result[key]) for key in demo.expected(name)) == demo.expected(name), result["reasons"]


def test_the_policy_changes_the_mitigation_and_the_plan():
    facts = demo.node_facts("centos7-kp118")  # problem1, a kernel without the fix: no value is safe
    assert (CLASSIFY(facts)["mitigation"], CLASSIFY(facts, None)["mitigation"]) == ("os_upgrade", "os_upgrade")
    switched = CLASSIFY(facts, {"fallback_mitigation": "switch_iptables"})
    assert (switched["verdict"], switched["mitigation"]) == ("problem1", "switch_iptables")
    assert switched["plan"]["run"] == ["kube_proxy_mode"]
    assert switched["plan"]["kube_proxy_mode"]["action"] == "switch"

    pinnable = demo.node_facts("debian11-persisted0")  # a fixed kernel: the pin is the default mitigation
    assert CLASSIFY(pinnable)["mitigation"] == "pin_sysctl"
    refused = CLASSIFY(pinnable, {"allow_pin": False})
    assert (refused["mitigation"], refused["plan"]["run"]) == ("os_upgrade", ["os_upgrade_flag"])


@pytest.mark.parametrize("facts, rule", [(None, "no_facts"), ("not facts", "no_facts"), ([], "no_facts"),
                                         ({}, "mode_unknown")])
def test_malformed_facts_are_unknown_and_never_raise(facts, rule):
    result = CLASSIFY(facts)
    assert (result["verdict"], result["mitigation"]) == ("unknown", "none")
    assert [reason["rule"] for reason in result["reasons"]] == [rule]


@pytest.mark.parametrize("policy, message", [
    ({"fallback_mitigation": "bogus"},
     "policy.fallback_mitigation must be one of os_upgrade, switch_iptables, got 'bogus'"),
    ({"colour": "blue"}, "unknown policy keys: colour (known: allow_pin, fallback_mitigation, known_kernels)"),
])
def test_an_invalid_policy_is_a_filter_error_naming_the_key(policy, message):
    with pytest.raises(AnsibleFilterError) as error:
        CLASSIFY(demo.node_facts("centos7-kp118"), policy)
    assert error.value.message == "kubenode.ipvs_reuse.classify: invalid policy: " + message
