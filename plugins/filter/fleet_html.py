# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: fleet_html
short_description: Render the fleet report as one self-contained HTML page
version_added: 1.0.0
description:
  - Renders a report built by P(kubenode.ipvs_reuse.fleet_report#filter) as a single HTML file with the cluster's
    name, the time of the assessment and the run, the counts per verdict, a chart of the verdicts by OS and kernel
    series (inline SVG), what to do next (the commands summary.md has), the warnings, and a table of every node,
    worst first, that sorts when a column header is clicked and filters by verdict, OS, kernel series and text
    (inline JavaScript). Without JavaScript every row shows and the filter stays hidden.
  - The Why column says in plain words what goes wrong on the node, when, and what fixes it; the engine's deciding
    reasons are folded below it, with their rule ids as tooltips that point at docs/classification.md.
  - The page loads nothing from the network. Its Content-Security-Policy forbids external sources, so it can be
    opened offline, from a mail or from an AWX artifact.
  - The output depends only on the report. Values from nodes, the inventory and the run are HTML-escaped.
author:
  - kubenode.ipvs_reuse contributors
positional: title
options:
  _input:
    description: The report.
    type: dict
    required: true
  title:
    description: The page title and heading.
    type: str
    default: IPVS connection-reuse assessment
"""

EXAMPLES = r"""
- name: Write the HTML report beside the JSON one
  ansible.builtin.copy:
    content: "{{ report | kubenode.ipvs_reuse.fleet_html }}"
    dest: ./ipvs-reuse-report/fleet.html
    mode: "0644"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description: The HTML document.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report_html import fleet_html


def fleet_html_filter(report, title="IPVS connection-reuse assessment"):
    try:
        return fleet_html(report, title=title)
    except ValueError as exc:
        raise AnsibleFilterError("kubenode.ipvs_reuse.fleet_html: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"fleet_html": fleet_html_filter}
