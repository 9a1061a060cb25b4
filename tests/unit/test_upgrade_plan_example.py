"""docs/examples/system-upgrade-plan.yaml selects exactly the nodes os_upgrade_flag labels, with its defaults."""
import os

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(path):
    with open(os.path.join(REPO, path)) as handle:
        return list(yaml.safe_load_all(handle))


def selects(selector, labels):
    """label selector semantics (matchLabels + matchExpressions), as the API server applies them"""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for term in selector.get("matchExpressions") or []:
        key, operator, values = term["key"], term["operator"], term.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def test_plan_selects_the_flagged_nodes_only():
    defaults = load("roles/os_upgrade_flag/defaults/main.yml")[0]
    plan = load("docs/examples/system-upgrade-plan.yaml")[0]
    assert plan["kind"] == "Plan"
    assert plan["apiVersion"] == "upgrade.cattle.io/v1"
    flagged = {"kubernetes.io/hostname": "n1", defaults["os_upgrade_flag_label_key"]: defaults["os_upgrade_flag_label_value"]}
    assert selects(plan["spec"]["nodeSelector"], flagged)
    assert not selects(plan["spec"]["nodeSelector"], {"kubernetes.io/hostname": "n2"})  # after unflagging
    assert not selects(plan["spec"]["nodeSelector"], dict(flagged, **{defaults["os_upgrade_flag_label_key"]: "false"}))
    assert defaults["os_upgrade_flag_taint_key"] in [t["key"] for t in plan["spec"]["tolerations"]]
    assert plan["spec"]["version"] and plan["spec"]["concurrency"] == 1 and plan["spec"]["cordon"] is True


def test_plan_runs_the_script_of_its_secret():
    plan = load("docs/examples/system-upgrade-plan.yaml")[0]
    secret = load("docs/examples/system-upgrade-plan-secret.yaml")[0]
    assert (plan["kind"], secret["kind"]) == ("Plan", "Secret")
    mount = [s for s in plan["spec"]["secrets"] if s["name"] == secret["metadata"]["name"]][0]
    assert secret["metadata"]["namespace"] == plan["metadata"]["namespace"]
    script = plan["spec"]["upgrade"]["args"][-1]
    assert os.path.dirname(script) == mount["path"] and os.path.basename(script) in secret["stringData"]
