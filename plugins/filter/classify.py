# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: classify
short_description: Classify a node's IPVS connection-reuse facts
version_added: 1.0.0
description:
  - Runs the classification engine of this collection on the controller, over the facts returned by
    M(kubenode.ipvs_reuse.ipvs_facts) (C(ansible_facts.ipvs_reuse)) or a dict of the same shape.
  - Returns the verdict (V(not_applicable), V(safe), V(problem1), V(problem2), V(unknown)), the mitigation
    (V(none), V(pin_sysctl), V(switch_iptables), V(os_upgrade)), the two kernel fixes it rests on
    (C(syn_drop_fix), C(drained_backend_fix)), and the reasons, each naming its source.
  - Missing or malformed facts give V(unknown) with mitigation V(none); they never raise.
author:
  - kubenode.ipvs_reuse contributors
positional: policy
options:
  _input:
    description: The C(ipvs_reuse) facts of one node.
    type: dict
    required: true
extends_documentation_fragment:
  - kubenode.ipvs_reuse.policy
"""

EXAMPLES = r"""
- name: Re-classify gathered facts with a site policy
  ansible.builtin.debug:
    msg: "{{ ansible_facts.ipvs_reuse | kubenode.ipvs_reuse.classify({'fallback_mitigation': 'switch_iptables'}) }}"
"""

RETURN = r"""
_value:
  description: The classification.
  type: dict
  contains:
    verdict:
      description: One of V(not_applicable), V(safe), V(problem1), V(problem2), V(unknown).
      type: str
    mitigation:
      description: One of V(none), V(pin_sysctl), V(switch_iptables), V(os_upgrade).
      type: str
    syn_drop_fix:
      description:
        - Whether the kernel carries f0a5e4d7a594 (no first-SYN drop on a reused client port with conntrack active);
          V(null) when it cannot be told.
      type: bool
    drained_backend_fix:
      description:
        - Whether the kernel carries c95c07836fa4 (with C(conn_reuse_mode=0) and C(expire_nodest_conn=1), a new
          connection on a reused port that hits a backend drained to weight 0 is rescheduled); V(null) when unknown.
      type: bool
    kernel_fix:
      description: Deprecated alias of C(syn_drop_fix), the same value; it will be removed in release 2.0.0.
      type: bool
    weight0_fix:
      description: Deprecated alias of C(drained_backend_fix), the same value; it will be removed in release 2.0.0.
      type: bool
    pin_value:
      description: The conn_reuse_mode value to pin when the mitigation is V(pin_sysctl).
      type: int
    pin_needs_keeper:
      description: Whether kube-proxy rewrites the value at start, so the pin must be re-asserted after each start.
      type: bool
    pin_sysctls:
      description: Every sysctl (under C(net.ipv4.vs)) to pin with its value, C(conn_reuse_mode) first; V(null) without a pin.
      type: dict
    plan:
      description:
        - What each mitigation role must do on the node, each entry with its C(action) and C(reason) - C(pin_sysctl)
          V(apply), V(keep), V(refuse) or V(none); C(kube_proxy_mode) V(switch) or V(none); C(os_upgrade_flag)
          V(flag), V(unflag), V(leave) or V(none) - and C(run), the roles C(playbooks/mitigate.yml) runs on it.
        - The roles read their entry with the filter P(kubenode.ipvs_reuse.plan_for#filter).
      type: dict
    states:
      description:
        - The sysctl values and verdict now, after kube-proxy's next start, and after a reboot.
        - For an offline image (facts with C(live=false)) only C(after_reboot), the state it boots into.
      type: dict
    reasons:
      description: The facts and rules that led to the verdict, each with C(rule), C(text) and C(source).
      type: list
      elements: dict
    warnings:
      description: Findings that do not change the verdict (overridden kube-proxy values, leftovers).
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import PolicyError, classify


def classify_filter(facts, policy=None):
    try:
        return classify(facts, policy or {})
    except PolicyError as exc:
        raise AnsibleFilterError("kubenode.ipvs_reuse.classify: invalid policy: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"classify": classify_filter}
