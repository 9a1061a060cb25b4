# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan: what each mitigation role must do on one node, derived from its classification. Pure, stdlib only.

The engine (classify.py) decides the verdict and the mitigation; this turns that decision, with the node's own
pin (the ``pin`` and ``persisted`` facts), into one entry per role. The roles and playbooks/mitigate.yml read only
this: they derive nothing from verdicts themselves. A classification made without a plan (set by hand, as the
tests and molecule scenarios do) gets the same plan from ``plan_for`` on the controller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge
except ImportError:  # pragma: no cover - direct import from a checkout
    from . import knowledge  # type: ignore

# A value the role's own pin file persists, as ipvs_facts reads it back ("persisted"): a small unsigned number.
_PINNED_NUMBER = re.compile(r"^[0-9]{1,3}$")


class PlanError(ValueError):
    """The node cannot be acted on: not assessed, an unknown verdict, or facts of another version."""


def _mapping(value):
    return value if isinstance(value, dict) else {}


def _text(value):
    """A value as Ansible's tests read it (None, True and numbers as their text)."""
    return value if isinstance(value, str) else str(value)


def _kept_sysctls(facts):
    """The sysctls besides conn_reuse_mode that the role's own pin file persists (name -> int)."""
    kept = {}
    for name, entry in sorted(_mapping(facts.get("persisted")).items()):
        entry = _mapping(entry)
        if name == "conn_reuse_mode" or entry.get("file") != knowledge.PIN_SYSCTL_FILE or "value" not in entry:
            continue
        if _PINNED_NUMBER.match(_text(entry["value"])):
            kept[name] = int(_text(entry["value"]))
    return kept


def _pin_plan(cls, facts):
    pin = _mapping(facts.get("pin"))
    has_pin_file = pin.get("file") is not None
    if cls.get("mitigation") == "pin_sysctl" and cls.get("pin_value") is not None:
        others = dict((name, value) for name, value in (_mapping(cls.get("pin_sysctls"))).items()
                      if name != "conn_reuse_mode")
        return {"action": "apply", "value": cls["pin_value"], "keeper": cls.get("pin_needs_keeper"),
                "sysctls": dict({"conn_reuse_mode": cls["pin_value"]}, **others),
                "reason": "the classification pins net.ipv4.vs.conn_reuse_mode=%s: %s"
                          % (cls["pin_value"], knowledge.MITIGATION_TEXT["pin_sysctl"])}
    if cls.get("verdict") == "safe" and has_pin_file and pin.get("value") is not None:
        return {"action": "keep", "value": pin["value"], "keeper": pin.get("keeper", False),
                "sysctls": dict({"conn_reuse_mode": pin["value"]}, **_kept_sysctls(facts)),
                "reason": "the node is safe with the pin in %s (conn_reuse_mode=%s): keep it as it is"
                          % (pin["file"], pin["value"])}
    if has_pin_file:
        return {"action": "refuse", "value": None, "keeper": None, "sysctls": {},
                "reason": "%s exists, but the classification (verdict %s, mitigation %s) finds no value safe to pin"
                          % (pin["file"], cls.get("verdict"), cls.get("mitigation"))}
    return {"action": "none", "value": None, "keeper": None, "sysctls": {},
            "reason": "mitigation %s: no pin" % cls.get("mitigation")}


def _switch_plan(cls):
    if cls.get("mitigation") == "switch_iptables":
        return {"action": "switch", "target": "iptables", "reason": knowledge.MITIGATION_TEXT["switch_iptables"]}
    return {"action": "none", "target": None,
            "reason": "mitigation %s, not switch_iptables: kube-proxy left as it is" % cls.get("mitigation")}


def _flag_plan(cls):
    verdict, mitigation = cls.get("verdict"), cls.get("mitigation")
    if mitigation == "os_upgrade":
        return {"action": "flag", "reason": knowledge.MITIGATION_TEXT["os_upgrade"]}
    if verdict in ("safe", "not_applicable"):
        return {"action": "unflag", "reason": "verdict %s: %s; a flag set earlier is removed"
                                              % (verdict, knowledge.VERDICT_TEXT[verdict])}
    if verdict == "unknown":
        return {"action": "none", "reason": "verdict unknown: nothing can be decided for this node"}
    return {"action": "leave", "reason": "verdict %s with mitigation %s, not os_upgrade: its flag (if any) is left "
                                         "as it is" % (verdict, mitigation)}


_ASSESS_FIRST = ("%(role)s: node %(host)s has no ansible_facts.ipvs_reuse.classification: run the "
                 "kubenode.ipvs_reuse.assess role (or the ipvs_facts module) on it earlier in the same play. "
                 "Nothing was changed.")

# One row per mitigation role (knowledge.MITIGATION_ROLES names the role of each mitigation):
#   derive            its entry of the plan, from the classification (and the facts)
#   runs              the actions for which playbooks/mitigate.yml runs the role on the node
#   refuses_unknown   whether the role stops a node whose verdict is unknown
#   checks_mitigation whether an unknown mitigation (facts of another version) stops it too
#   not_assessed, not_known: its refusals, in the words each role has always used
ROLES = {
    "pin_sysctl": {
        "derive": _pin_plan, "runs": ("apply", "keep", "refuse"),
        # no value is safe on an unknown node: the role refuses it when it finds no value to pin
        "refuses_unknown": False, "checks_mitigation": True,
        "not_assessed": "%(host)s: no IPVS reuse classification for this node (ansible_facts.ipvs_reuse.classification "
                        "is missing): run the role kubenode.ipvs_reuse.assess first (playbooks/mitigate.yml does). "
                        "Nothing was changed.",
        "not_known": "%(host)s: the classification has an unknown verdict %(verdict)s or mitigation %(mitigation)s "
                     "(known verdicts: %(verdicts)s; mitigations: %(mitigations)s): assess again with this version of "
                     "the collection. Nothing was changed.",
    },
    "kube_proxy_mode": {
        "derive": lambda cls, facts: _switch_plan(cls), "runs": ("switch",),
        "refuses_unknown": True, "checks_mitigation": False,
        "not_assessed": _ASSESS_FIRST,
        "not_known": "kube_proxy_mode: node %(host)s has verdict '%(verdict)s': an unknown verdict cannot justify "
                     "switching kube-proxy (%(reasons)s). Nothing was changed.",
    },
    "os_upgrade_flag": {
        "derive": lambda cls, facts: _flag_plan(cls), "runs": ("flag", "unflag"),
        "refuses_unknown": True, "checks_mitigation": True,
        "not_assessed": _ASSESS_FIRST,
        "not_known": "os_upgrade_flag: node %(host)s has verdict '%(verdict)s' and mitigation '%(mitigation)s': an "
                     "unknown verdict cannot justify flagging or unflagging it (%(reasons)s). Nothing was changed.",
    },
}


def derive_plan(classification, facts):
    """The plan for one node: {role: {"action", "reason", ...}, "run": [roles mitigate.yml runs]}."""
    cls = _mapping(classification)
    facts = _mapping(facts)
    plan = dict((role, row["derive"](cls, facts)) for role, row in ROLES.items())
    plan["run"] = [role for role in sorted(ROLES) if plan[role]["action"] in ROLES[role]["runs"]]
    return plan


def plan_for(facts, role, host="this node"):
    """The plan entry of ``role`` for a node's ipvs_reuse facts; raise PlanError where the node cannot be acted on.

    The one check every mitigation role runs: the node was assessed (a classification exists), its verdict and
    mitigation are ones this version knows (facts from another version are stale), and, for the roles that refuse
    it, the verdict is not unknown. A classification without a plan (set by hand) gets the derived one."""
    if role not in ROLES:
        raise PlanError("no plan for role %r (known: %s)" % (role, ", ".join(sorted(ROLES))))
    row = ROLES[role]
    cls = _mapping(facts).get("classification")
    if not isinstance(cls, dict):
        raise PlanError(row["not_assessed"] % {"host": host, "role": role})
    missing = "(none)" if role == "pin_sysctl" else ""  # what each role's message has always said for a missing key
    verdict = cls.get("verdict", missing)
    mitigation = cls.get("mitigation", missing)
    reasons = "; ".join(_text(_mapping(item).get("text")) for item in cls.get("reasons") or [] if isinstance(item, dict))
    known = verdict in knowledge.VERDICTS and (mitigation in knowledge.MITIGATIONS or not row["checks_mitigation"])
    if not known or (row["refuses_unknown"] and verdict == "unknown"):
        raise PlanError(row["not_known"] % {
            "host": host, "verdict": verdict, "mitigation": mitigation,
            "verdicts": ", ".join(knowledge.VERDICTS), "mitigations": ", ".join(knowledge.MITIGATIONS), "reasons": reasons})
    plan = cls.get("plan")
    if not isinstance(plan, dict) or not isinstance(plan.get(role), dict):
        plan = derive_plan(cls, facts)
    return plan[role]
