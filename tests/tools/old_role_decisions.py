"""Write tests/unit/fixtures/plan/old_role_decisions.json: what the roles decided before the engine's plan.

Run once, from the commit before the roles read the plan (OLD_COMMIT): it evaluates the very Jinja expressions of
that commit's roles and playbooks/mitigate.yml (read with `git show`, not copied here) with Ansible's templar, over
the demo fleet (tests/support/fleetgen.py) under three policies and with pins added, and writes per case what each role
decided. tests/unit/plugins/module_utils/test_plan.py checks the engine's plan against this table.

    python3 tests/tools/old_role_decisions.py   # from the repository root, in the dev venv
"""

import copy
import json
import os
import subprocess
import sys
import tempfile

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))

from support import fleetgen  # noqa: E402  pylint: disable=wrong-import-position

OLD_COMMIT = "8c97c65"
OUT = os.path.join(REPO, "tests", "unit", "fixtures", "plan", "old_role_decisions.json")
PIN_FILE = "etc/sysctl.d/90-kubenode-ipvs-reuse.conf"
KEEPER_UNIT = "etc/systemd/system/kubenode-ipvs-reuse-pin.service"
POLICIES = {"default": {}, "fallback_switch": {"fallback_mitigation": "switch_iptables"}, "no_pin": {"allow_pin": False}}


def old_yaml(path):
    return yaml.safe_load(subprocess.check_output(["git", "show", "%s:%s" % (OLD_COMMIT, path)], cwd=REPO))


def task(tasks, name):
    found = [item for item in tasks if item.get("name") == name]
    assert len(found) == 1, name
    return found[0]


def condition(when):
    parts = when if isinstance(when, list) else [when]
    return "{{ (" + ") and (".join(str(part).strip() for part in parts) + ") }}"


def cases():
    """(case name, node spec, policy name, inventory options) over the demo fleet and its pinned variants."""
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import classify
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.gather import gather

    for name, spec in sorted(fleetgen.DEMO_FLEET.items()):
        for policy in sorted(POLICIES):
            yield "%s/%s" % (name, policy), spec, policy
        if spec.get("vs") is None:
            continue
        # an operator's (or an old run's) pin file holding the live value, no keeper: a pin on every kind of node
        foreign = copy.deepcopy(spec)
        foreign.setdefault("sysctl_d", {})["90-kubenode-ipvs-reuse.conf"] = (
            "net.ipv4.vs.conn_reuse_mode = %s\n" % spec["vs"].get("conn_reuse_mode"))
        for policy in sorted(POLICIES):
            yield "%s+own_pin_file/%s" % (name, policy), foreign, policy
        # the state after the role pinned what the engine asked for: a second run
        with tempfile.TemporaryDirectory() as root:
            options = spec.get("inventory", {})
            fleetgen.write_node(root, spec)
            first = classify(gather(root, proxy_mode=options.get("assess_proxy_mode"),
                                    kube_proxy_version=options.get("assess_kube_proxy_version")))
        if first["mitigation"] != "pin_sysctl":
            continue
        pinned = copy.deepcopy(spec)
        pinned["vs"].update(first["pin_sysctls"])
        pinned.setdefault("sysctl_d", {})["90-kubenode-ipvs-reuse.conf"] = "".join(
            "net.ipv4.vs.%s = %s\n" % item for item in first["pin_sysctls"].items())
        if first["pin_needs_keeper"]:
            pinned.setdefault("files", {})[KEEPER_UNIT] = "[Service]\n"
        for policy in sorted(POLICIES):
            yield "%s+pinned/%s" % (name, policy), pinned, policy


def facts_of(spec, policy):
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import classify
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.gather import gather

    with tempfile.TemporaryDirectory() as root:
        options = spec.get("inventory", {})
        fleetgen.write_node(root, spec)
        facts = gather(root, proxy_mode=options.get("assess_proxy_mode"),
                       kube_proxy_version=options.get("assess_kube_proxy_version"))
    facts["classification"] = classify(facts, POLICIES[policy])
    return facts


def main():
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    def trusted(value):
        if isinstance(value, str):
            return trust_as_template(value)
        if isinstance(value, dict):
            return dict((key, trusted(item)) for key, item in value.items())
        if isinstance(value, list):
            return [trusted(item) for item in value]
        return value

    mitigate = old_yaml("playbooks/mitigate.yml")
    pin_play = task(mitigate, "Pin the safe conn_reuse_mode where the classification chose it")["tasks"][0]
    switch_play = task(mitigate, "Switch kube-proxy to iptables, node by node in bounded batches")["tasks"][0]
    flag_play = task(mitigate, "Flag nodes for an OS upgrade, unflag the ones now safe")["tasks"][0]
    decide = old_yaml("roles/pin_sysctl/tasks/decide.yml")
    allows = task(decide, "Work out the value the classification allows")
    choose = task(decide, "Choose the value and the keeper")
    pin_defaults = old_yaml("roles/pin_sysctl/defaults/main.yml")
    pin_vars = old_yaml("roles/pin_sysctl/vars/main.yml")
    node_yml = old_yaml("roles/kube_proxy_mode/tasks/node.yml")
    act = task(node_yml, "Decide whether this node switches")["ansible.builtin.set_fact"]["__kube_proxy_mode_act"]
    kpm_checks = old_yaml("roles/kube_proxy_mode/tasks/checks.yml")
    kpm_assessed = task(kpm_checks, "Check that the node was assessed and its verdict is known")
    flag_main = old_yaml("roles/os_upgrade_flag/tasks/main.yml")
    flag_assessed = task(flag_main, "Check that the node was assessed and its verdict is known")
    flag_task = task(flag_main, "Flag the node for an OS upgrade")
    unflag_task = task(flag_main, "Unflag the node (its verdict is safe now) or roll back (state absent)")
    flag_vars = old_yaml("roles/os_upgrade_flag/vars/main.yml")
    kpm_vars = old_yaml("roles/kube_proxy_mode/vars/main.yml")

    table = {}
    for case, spec, policy in cases():
        facts = facts_of(spec, policy)
        variables = dict(trusted(pin_defaults), **trusted(pin_vars))
        variables.update(trusted(flag_vars))
        variables.update(trusted(kpm_vars))
        variables.update({"ansible_facts": {"ipvs_reuse": facts}, "inventory_hostname": case,
                          "kube_proxy_mode_state": "present", "kube_proxy_mode_confirm_switch": True,
                          "os_upgrade_flag_state": "present", "pin_sysctl_state": "present"})
        templar = Templar(loader=DataLoader(), variables=variables)

        def evaluate(expression, extra=None):
            templar.available_variables = dict(variables, **trusted(extra or {}))
            return templar.template(trust_as_template(expression))

        def assessed(check):
            return bool(evaluate(condition(check["ansible.builtin.assert"]["that"]), check.get("vars")))

        cls = facts["classification"]
        row = {"verdict": cls["verdict"], "mitigation": cls["mitigation"]}
        row["route_pin_sysctl"] = bool(evaluate(condition(pin_play["when"])))
        row["route_kube_proxy_mode"] = bool(evaluate(condition(switch_play["when"])))
        row["route_os_upgrade_flag"] = bool(evaluate(condition(flag_play["when"])))
        # pin_sysctl's decision, as decide.yml took it (pin_sysctl_force false, pin_sysctl_value empty, keeper auto)
        decided = dict((key, evaluate(str(value), allows["vars"])) for key, value in allows["ansible.builtin.set_fact"].items())
        row["pin_safe_value"] = decided["__pin_sysctl_safe_value"]
        row["pin_needs_keeper"] = decided["__pin_sysctl_needs_keeper"]
        row["pin_keeping"] = bool(decided["__pin_sysctl_keeping"])
        row["pin_others"] = decided["__pin_sysctl_others"]
        if decided["__pin_sysctl_safe_value"] is None:
            row["pin_refused"] = True
        else:
            row["pin_refused"] = False
            chosen = dict((key, evaluate(str(value), dict((name, value) for name, value in decided.items())))
                          for key, value in choose["ansible.builtin.set_fact"].items())
            row["pin_keeper_wanted"] = bool(chosen["__pin_sysctl_keeper_wanted"])
            row["pin_set"] = chosen["__pin_sysctl_set"]
        # kube_proxy_mode: the assessment check (state present) and whether the node switches
        row["kube_proxy_mode_assessed"] = assessed(kpm_assessed)
        row["kube_proxy_mode_switch"] = bool(evaluate(act)) if row["kube_proxy_mode_assessed"] else None
        # os_upgrade_flag: the assessment check (state present), then flag, unflag or leave
        row["os_upgrade_flag_assessed"] = assessed(flag_assessed)
        if row["os_upgrade_flag_assessed"]:
            flag = bool(evaluate(condition(flag_task["when"])))
            unflag = bool(evaluate(condition(unflag_task["when"])))
            row["os_upgrade_flag_action"] = "flag" if flag else ("unflag" if unflag else "leave")
            assert not (flag and unflag), case
        else:
            row["os_upgrade_flag_action"] = None
        table[case] = json.loads(json.dumps(row))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as handle:
        handle.write(json.dumps({"commit": OLD_COMMIT, "cases": table}, indent=1, sort_keys=True) + "\n")
    print("%d cases written to %s" % (len(table), OUT))


if __name__ == "__main__":
    main()
