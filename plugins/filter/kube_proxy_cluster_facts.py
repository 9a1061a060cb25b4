# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: kube_proxy_cluster_facts
short_description: kube-proxy's mode and version from the cluster's objects
version_added: 1.1.0
description:
  - Turns the objects read with M(kubernetes.core.k8s_info) (ConfigMap C(kube-system/kube-proxy), DaemonSet
    C(kube-system/kube-proxy), optionally the Nodes) into the C(cluster) option of M(kubenode.ipvs_reuse.ipvs_facts).
  - The mode comes from the ConfigMap's C(config.conf) field C(mode) (empty means iptables), raw otherwise; the
    version from the DaemonSet's image tag; the Nodes give each node's C(nodeInfo.kernelVersion) for a cross-check.
author:
  - kubenode.ipvs_reuse contributors
options:
  _input:
    description: A dict with the C(resources) lists of the reads, keys C(configmap), C(daemonset) and C(nodes).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Build the cluster facts once
  ansible.builtin.set_fact:
    cluster: "{{ {'configmap': cm.resources, 'daemonset': ds.resources} | kubenode.ipvs_reuse.kube_proxy_cluster_facts }}"
"""

RETURN = r"""
_value:
  description: C(configured_mode), C(configured_mode_source), C(version), C(version_source), C(notes), C(node_kernels).
  type: dict
"""

from ansible_collections.kubenode.ipvs_reuse.plugins.plugin_utils.cluster_facts import cluster_facts


def kube_proxy_cluster_facts(objects):
    objects = objects if isinstance(objects, dict) else {}
    return cluster_facts(objects.get("configmap"), objects.get("daemonset"), objects.get("nodes"))


class FilterModule(object):
    def filters(self):
        return {"kube_proxy_cluster_facts": kube_proxy_cluster_facts}
