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
  - Renders a report built by P(kubenode.ipvs_reuse.fleet_report#filter) as a single HTML file with the counts per
    verdict, a chart of the verdicts by OS and kernel series (inline SVG), and a table of the nodes needing action
    (V(problem1), V(problem2), V(unknown)) that sorts when a column header is clicked (inline JavaScript).
  - The page loads nothing from the network. Its Content-Security-Policy forbids external sources, so it can be
    opened offline, from a mail or from an AWX artifact.
  - The output depends only on the report, so an unchanged fleet gives the same page and a second run reports
    no change.
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
