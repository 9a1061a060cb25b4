# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The classification policy, as the facts module and the classify filter take it (module_utils/classify.py,
    validate_policy)."""

    DOCUMENTATION = r"""
options:
  policy:
    description:
      - Classification policy. Keys C(allow_pin) (bool, default V(true)), C(fallback_mitigation)
        (V(os_upgrade) or V(switch_iptables), default V(os_upgrade)) and C(known_kernels) (a list of entries
        with C(name), C(release_regex) or C(marker), optional C(min_build), C(os_id), C(os_version_id), and
        C(syn_drop_fix)/C(drained_backend_fix) set to V(true), V(false) or V(null), and C(source)), searched before
        the shipped data.
      - C(syn_drop_fix) is f0a5e4d7a594 (no first-SYN drop on a reused client port with conntrack active),
        C(drained_backend_fix) is c95c07836fa4 (with C(conn_reuse_mode=0) and C(expire_nodest_conn=1), a backend
        drained to weight 0 gets no new connection from a reused port). Their former names C(fix2)/C(fix1) (and
        C(min_build_fix2)/C(min_build_fix1)) are deprecated; they are still read, with a warning in the
        classification, until release 2.0.0.
      - An invalid policy is refused with a message saying which key is wrong (the module fails the task before
        the node is contacted, the filter raises an error).
      - A C(release_regex) may not repeat a group that itself repeats, such as C((a+\)+). Such patterns can take
        exponential time on a kernel release, so they are refused instead of being run under a time limit.
      - Applied on the controller; it is never sent to the node.
    type: dict
    default: {}
"""
