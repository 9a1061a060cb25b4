# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet report filters (fleet_report, fleet_markdown, report_stats, merge_reports); documented in the .yml files of those names."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import report


def fleet_report_filter(hostvars, hosts, generated_at=None, result_var=None, cluster=None, run=None):
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("kubenode.ipvs_reuse.fleet_report: hosts must be a list of inventory names")
    nodes, failures = {}, {}
    for host in hosts:
        try:
            host_vars = hostvars[host]
            nodes[host] = (host_vars.get("ansible_facts") or {}).get("ipvs_reuse")
            result = host_vars.get(result_var) if result_var else None
        except (KeyError, AttributeError):
            nodes[host], result = None, None
        if nodes[host] is None and isinstance(result, dict) and result.get("msg"):
            failures[host] = "the facts task failed: %s" % result["msg"]
    if run is not None and not isinstance(run, dict):
        raise AnsibleFilterError("kubenode.ipvs_reuse.fleet_report: run must be a dict (id, awx_job_id, ...)")
    return report.fleet_report(nodes, generated_at=generated_at, failures=failures,
                               cluster=str(cluster) if cluster else None, run=run)


def merge_reports_filter(partials, run=None):
    if run is not None and not isinstance(run, dict):
        raise AnsibleFilterError("kubenode.ipvs_reuse.merge_reports: run must be a dict (id, awx_job_id, ...)")
    try:
        return report.merge_reports(partials, run=run)
    except ValueError as exc:
        raise AnsibleFilterError("kubenode.ipvs_reuse.merge_reports: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {
            "fleet_report": fleet_report_filter,
            "fleet_markdown": report.fleet_markdown,
            "report_stats": report.report_stats,
            "merge_reports": merge_reports_filter,
        }
