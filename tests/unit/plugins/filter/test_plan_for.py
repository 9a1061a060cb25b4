"""kubenode.ipvs_reuse.plan_for: a role's entry of the plan, or the role's refusal as a filter error."""
import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.kubenode.ipvs_reuse.plugins.filter.plan_for import FilterModule
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import classify

PLAN_FOR = FilterModule().filters()["plan_for"]
FACTS = {"kernel": {"release": "5.4.0-42-generic"}, "os": {"id": "ubuntu", "version_id": "20.04"},
         "ipvs": {"sysctl_dir": True}, "sysctl": {"conn_reuse_mode": 1, "conntrack": 1, "expire_nodest_conn": 1},
         "kube_proxy": {"mode": "ipvs", "version": "v1.28.4"}, "persisted": {}, "pin": {}}


def test_returns_the_role_s_entry_of_the_engine_s_plan():
    facts = dict(FACTS, classification=classify(FACTS))
    assert facts["classification"]["verdict"] == "problem2"
    assert PLAN_FOR(facts, "os_upgrade_flag", "node-1") == facts["classification"]["plan"]["os_upgrade_flag"]
    assert PLAN_FOR(facts, "os_upgrade_flag")["action"] == "flag"
    assert PLAN_FOR(facts, "pin_sysctl")["action"] == "none"


@pytest.mark.parametrize("facts, role, message", [
    (None, "os_upgrade_flag", "os_upgrade_flag: node node-1 has no ansible_facts.ipvs_reuse.classification"),
    ({"classification": {"verdict": "unknown", "mitigation": "none"}}, "kube_proxy_mode", "has verdict 'unknown'"),
    ({"classification": {"verdict": "safe", "mitigation": "none"}}, "no_such_role", "no plan for role"),
])
def test_a_refusal_is_a_filter_error_with_the_role_s_message(facts, role, message):
    with pytest.raises(AnsibleFilterError) as raised:
        PLAN_FOR(facts, role, "node-1")
    assert message in str(raised.value)
