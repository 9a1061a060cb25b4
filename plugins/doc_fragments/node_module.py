# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """What every module that runs on the node asks of it."""

    DOCUMENTATION = r"""
options: {}
notes:
  - Runs on the node with the Python standard library only (Python 3.8 or later).
"""
