# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: node_metrics
short_description: Render a node's IPVS connection-reuse facts as Prometheus metrics
version_added: 1.0.0
description:
  - Renders the C(ipvs_reuse) facts of one node (from M(kubenode.ipvs_reuse.ipvs_facts)) in the Prometheus text
    exposition format, with the same function that M(kubenode.ipvs_reuse.ipvs_reuse_metrics) uses to write
    node_exporter's textfile collector file.
  - Use it to push to a Pushgateway or to write the metrics in your own way. To write the file on the node
    itself, use the module, which writes atomically and keeps repeated runs idempotent.
author:
  - kubenode.ipvs_reuse contributors
positional: timestamp, labels
options:
  _input:
    description: The C(ipvs_reuse) facts of one node, including C(classification).
    type: dict
    required: true
  timestamp:
    description:
      - Seconds since the epoch for C(ipvs_reuse_last_assessment_timestamp_seconds). If it is not given, that
        metric is left out.
    type: float
extends_documentation_fragment:
  - kubenode.ipvs_reuse.metrics
"""

EXAMPLES = r"""
- name: Show the metrics a node would export
  ansible.builtin.debug:
    msg: "{{ ansible_facts.ipvs_reuse | kubenode.ipvs_reuse.node_metrics(now().timestamp(), {'cluster': 'prod'}) }}"
"""

RETURN = r"""
_value:
  description: The metrics, in the Prometheus text exposition format 0.0.4.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.metrics import render_metrics


def node_metrics(facts, timestamp=None, labels=None):
    if not isinstance(facts, dict):
        raise AnsibleFilterError("kubenode.ipvs_reuse.node_metrics: the input must be a node's ipvs_reuse facts (a dict)")
    try:
        return render_metrics(facts, None if timestamp is None else float(timestamp), labels or {})
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("kubenode.ipvs_reuse.node_metrics: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"node_metrics": node_metrics}
