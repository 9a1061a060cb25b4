# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options of the Prometheus metrics renderer (module_utils/metrics.py, render_metrics), shared by the module
    that writes the textfile and the filter that returns the text."""

    DOCUMENTATION = r"""
options:
  labels:
    description:
      - "Extra labels for every sample, for example C({cluster: prod}). node_exporter adds the instance label itself."
      - Names must match C([a-zA-Z_][a-zA-Z0-9_]*). They must not start with C(__) or reuse a label the metrics
        already carry.
    type: dict
    default: {}
"""
