# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """What the collection's modules support, as attributes.

    Use each fragment together with ansible.builtin.action_common_attributes, which describes the attributes;
    a fragment here only says how far a kind of module supports them. A module may still override one attribute
    (for example platform) in its own attributes block.
    """

    # A module that changes the node: check mode predicts the change, diff mode shows it.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
"""
