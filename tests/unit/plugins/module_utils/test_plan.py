"""The engine's plan decides, for every node of the demo fleet (three policies, with and without pins), what the
roles decided themselves before they read the plan (tests/unit/fixtures/plan/old_role_decisions.json, evaluated from
the old roles' own Jinja by tests/tools/old_role_decisions.py)."""
import json
import os

import pytest

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.plan import PlanError, derive_plan, plan_for
from tools.old_role_decisions import POLICIES, cases, facts_of

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
with open(os.path.join(REPO, "tests", "unit", "fixtures", "plan", "old_role_decisions.json")) as handle:
    OLD = json.load(handle)["cases"]
CASES = dict((name, (spec, policy)) for name, spec, policy in cases())


def test_the_table_covers_every_case():
    assert sorted(CASES) == sorted(OLD)
    assert len(OLD) >= 17 * len(POLICIES)
    # every action of every role occurs somewhere, so the comparison below proves each branch
    seen = set()
    for name, (spec, policy) in CASES.items():
        plan = facts_of(spec, policy)["classification"]["plan"]
        seen.update((role, plan[role]["action"]) for role in ("pin_sysctl", "kube_proxy_mode", "os_upgrade_flag"))
    assert seen == {("pin_sysctl", "apply"), ("pin_sysctl", "keep"), ("pin_sysctl", "refuse"), ("pin_sysctl", "none"),
                    ("kube_proxy_mode", "switch"), ("kube_proxy_mode", "none"), ("os_upgrade_flag", "flag"),
                    ("os_upgrade_flag", "unflag"), ("os_upgrade_flag", "leave"), ("os_upgrade_flag", "none")}


def _entry(facts, role):
    try:
        return plan_for(facts, role, "node")
    except PlanError:
        return None


@pytest.mark.parametrize("name", sorted(OLD))
def test_plan_matches_the_old_role_logic(name):
    spec, policy = CASES[name]
    old = OLD[name]
    facts = facts_of(spec, policy)
    cls = facts["classification"]
    plan = cls["plan"]
    assert (cls["verdict"], cls["mitigation"]) == (old["verdict"], old["mitigation"])

    # playbooks/mitigate.yml's routing
    assert ("pin_sysctl" in plan["run"]) == old["route_pin_sysctl"]
    assert ("kube_proxy_mode" in plan["run"]) == old["route_kube_proxy_mode"]
    assert ("os_upgrade_flag" in plan["run"]) == old["route_os_upgrade_flag"]

    # pin_sysctl (no force, no value given, keeper auto)
    pin = _entry(facts, "pin_sysctl")
    assert pin == plan["pin_sysctl"]
    assert pin["value"] == old["pin_safe_value"]
    assert (pin["action"] in ("apply", "keep")) == (not old["pin_refused"])
    assert (pin["action"] == "keep") == old["pin_keeping"]
    assert pin["action"] != "refuse" or old["route_pin_sysctl"]
    assert pin["keeper"] == old["pin_needs_keeper"]
    if not old["pin_refused"]:
        assert pin["sysctls"] == old["pin_set"]
        assert (pin["keeper"] is not False) == old["pin_keeper_wanted"]
        assert dict((key, value) for key, value in pin["sysctls"].items() if key != "conn_reuse_mode") == old["pin_others"]

    # kube_proxy_mode (state present)
    switch = _entry(facts, "kube_proxy_mode")
    assert (switch is not None) == old["kube_proxy_mode_assessed"]
    if switch is not None:
        assert (switch["action"] == "switch") == old["kube_proxy_mode_switch"]

    # os_upgrade_flag (state present)
    flag = _entry(facts, "os_upgrade_flag")
    assert (flag is not None) == old["os_upgrade_flag_assessed"]
    if flag is not None:
        assert flag["action"] == old["os_upgrade_flag_action"]


@pytest.mark.parametrize("name", sorted(OLD)[::7])
def test_a_classification_without_a_plan_gets_the_same_one(name):
    spec, policy = CASES[name]
    facts = facts_of(spec, policy)
    plan = facts["classification"].pop("plan")
    assert derive_plan(facts["classification"], facts) == plan
    for role in ("pin_sysctl", "kube_proxy_mode", "os_upgrade_flag"):
        assert _entry(facts, role) in (None, plan[role])


@pytest.mark.parametrize("role, facts, message", [
    ("pin_sysctl", {}, "node: no IPVS reuse classification for this node (ansible_facts.ipvs_reuse.classification is "
                       "missing): run the role kubenode.ipvs_reuse.assess first"),
    ("pin_sysctl", None, "classification is missing"),
    ("pin_sysctl", {"classification": {"verdict": "problem3", "mitigation": "none"}},
     "node: the classification has an unknown verdict problem3 or mitigation none (known verdicts: not_applicable, "
     "safe, problem1, problem2, unknown; mitigations: none, pin_sysctl, switch_iptables, os_upgrade): assess again"),
    ("pin_sysctl", {"classification": {"verdict": "safe"}}, "unknown verdict safe or mitigation (none)"),
    ("kube_proxy_mode", {"classification": "text"}, "kube_proxy_mode: node node has no "
                                                    "ansible_facts.ipvs_reuse.classification: run the"),
    ("kube_proxy_mode", {"classification": {"verdict": "unknown", "mitigation": "none",
                                            "reasons": [{"text": "a"}, {"text": "b"}]}},
     "kube_proxy_mode: node node has verdict 'unknown': an unknown verdict cannot justify switching kube-proxy (a; b)."),
    ("os_upgrade_flag", {"classification": {"verdict": "unknown", "mitigation": "none", "reasons": []}},
     "os_upgrade_flag: node node has verdict 'unknown' and mitigation 'none': an unknown verdict cannot justify "
     "flagging or unflagging it ()."),
    ("os_upgrade_flag", {"classification": {"verdict": "safe", "mitigation": "reboot"}}, "and mitigation 'reboot'"),
])
def test_a_node_that_cannot_be_acted_on_is_refused_in_each_role_s_words(role, facts, message):
    with pytest.raises(PlanError) as raised:
        plan_for(facts, role, "node")
    assert message in str(raised.value) and str(raised.value).endswith("Nothing was changed.")


def test_kube_proxy_mode_reads_only_the_verdict():
    # as before: its check never looked at the mitigation
    assert plan_for({"classification": {"verdict": "safe", "mitigation": "reboot"}}, "kube_proxy_mode")["action"] == "none"


def test_an_unknown_role_is_an_error():
    with pytest.raises(PlanError):
        plan_for({"classification": {"verdict": "safe", "mitigation": "none"}}, "reboot_node")
