# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: plan_for
short_description: What one mitigation role must do on a node, from the node's classification
version_added: 1.1.0
description:
  - Returns the entry of the classification's C(plan) for one role (V(pin_sysctl), V(kube_proxy_mode) or
    V(os_upgrade_flag)), that is its C(action) and C(reason), and what the role needs for it.
  - This is the check every mitigation role runs before it changes anything. It fails, with what to do, when the
    node has no classification (not assessed), when its verdict or mitigation is not one this version of the
    collection knows (facts classified by another version), or, for V(kube_proxy_mode) and V(os_upgrade_flag),
    when its verdict is V(unknown).
  - A classification without a C(plan) (set by hand) gets the plan the engine would have derived.
author:
  - kubenode.ipvs_reuse contributors
positional: role, host
options:
  _input:
    description: The C(ipvs_reuse) facts of one node (C(ansible_facts.ipvs_reuse)), including C(classification).
    type: dict
    required: true
  role:
    description: The role whose plan entry to return.
    type: str
    required: true
    choices: [pin_sysctl, kube_proxy_mode, os_upgrade_flag]
  host:
    description: The node's name in the error messages (usually C(inventory_hostname)).
    type: str
    default: this node
"""

EXAMPLES = r"""
- name: Read what pin_sysctl must do on this node
  ansible.builtin.set_fact:
    node_pin_plan: "{{ ansible_facts.ipvs_reuse | default(none) | kubenode.ipvs_reuse.plan_for('pin_sysctl', inventory_hostname) }}"
"""

RETURN = r"""
_value:
  description: The role's entry of the plan.
  type: dict
  contains:
    action:
      description:
        - V(pin_sysctl) - V(apply) (pin what the classification chose), V(keep) (the node is safe with the pin this
          role installed earlier), V(refuse) (a pin file exists but no value is safe) or V(none).
        - V(kube_proxy_mode) - V(switch) or V(none).
        - V(os_upgrade_flag) - V(flag), V(unflag) (safe or not applicable now), V(leave) (another mitigation) or
          V(none) (unknown verdict).
      type: str
    reason:
      description: Why, in the operator's words.
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.plan import PlanError, plan_for


def plan_for_filter(facts, role, host="this node"):
    try:
        return plan_for(facts, role, host)
    except PlanError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"plan_for": plan_for_filter}
