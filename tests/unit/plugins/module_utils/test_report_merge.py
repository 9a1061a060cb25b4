"""merge_reports: partial reports of a sliced run merge into the report of the unsliced run; unsafe merges refuse."""
import copy
import json
import os
import sys

import pytest

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import (
    RUN_SPECIFIC, fleet_markdown, merge_reports, node_record, report_stats, run_identity)
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report_html import fleet_html

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))), "tools"))
import synthetic_fleet  # noqa: E402


def slices(report, count):
    """The partial reports of `count` slices, as each slice's run writes them (counts of its own part)."""
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import _report_of
    return [_report_of(report["nodes"][index::count], report["generated_at"]) for index in range(count)]


@pytest.fixture(scope="module")
def whole():
    report = synthetic_fleet.synthetic_report(120, seed=5)
    report["generated_at"] = "2026-12-02T05:00:00Z"
    return report


def test_three_slices_merge_into_the_unsliced_report(whole):
    partials = slices(whole, 3)
    assert all(partial["summary"] != whole["summary"] for partial in partials)
    merged = merge_reports(list(reversed(partials)))
    assert json.dumps(merged, sort_keys=True) == json.dumps(whole, sort_keys=True)
    assert fleet_markdown(merged) == fleet_markdown(whole)
    assert fleet_html(merged) == fleet_html(whole)
    assert report_stats(merged) == report_stats(whole)


def test_identical_duplicates_are_kept_once_and_the_latest_time_wins(whole):
    partials = slices(whole, 2)
    partials[1]["nodes"].append(copy.deepcopy(partials[0]["nodes"][0]))
    partials[1]["generated_at"] = "2026-12-02T05:10:00Z"
    merged = merge_reports(partials)
    assert merged["summary"] == whole["summary"]
    assert merged["generated_at"] == "2026-12-02T05:10:00Z"


def test_one_node_with_different_data_refuses(whole):
    partials = slices(whole, 2)
    twin = copy.deepcopy(partials[0]["nodes"][0])
    twin["kernel"] = "9.9.9"
    partials[1]["nodes"].append(twin)
    with pytest.raises(ValueError, match="node %s is in partial 1 and partial 2 with different data" % twin["node"]):
        merge_reports(partials)


@pytest.mark.parametrize("bad, message", [
    ({"schema": 2}, "partial 2 has report schema 2"),
    ({"schema": None}, "partial 2 has report schema None"),
    ({"nodes": "x"}, "partial 2 is not a fleet report"),
])
def test_mixed_schemas_and_non_reports_refuse(whole, bad, message):
    partials = slices(whole, 2)
    partials[1].update(bad)
    with pytest.raises(ValueError, match=message):
        merge_reports(partials)


def test_nothing_to_merge_refuses():
    with pytest.raises(ValueError, match="non-empty list"):
        merge_reports([])


def _identified(partials):
    """The partials as the slices of AWX job 100 write them: each with its own job id, one cluster, one template."""
    for number, partial in enumerate(partials):
        partial["cluster"] = "prod-eu1"
        partial["run"] = run_identity({"awx_job_id": 101 + number, "awx_job_template_name": "assess",
                                       "awx_workflow_job_id": 100})
    return partials


def test_partials_carry_their_identity_and_the_merge_lists_them(whole):
    partials = _identified(slices(whole, 3))
    assert [partial["run"]["id"] for partial in partials] == ["awx-job-101", "awx-job-102", "awx-job-103"]
    merged = merge_reports(partials, run={"awx_job_id": 104, "awx_job_template_name": "merge"})
    assert merged["run"] == {"id": "awx-job-104", "awx_job_id": 104, "awx_job_template_name": "merge",
                             "partials": ["awx-job-101", "awx-job-102", "awx-job-103"]}
    assert merged["cluster"] == "prod-eu1"
    # apart from the run that wrote it, the merged report is the unsliced one
    unsliced = dict(whole, cluster="prod-eu1", run=run_identity({"awx_job_id": 99}))
    for key in RUN_SPECIFIC:
        merged.pop(key)
        unsliced.pop(key)
    assert merged == unsliced


def test_partials_of_different_clusters_refuse(whole):
    partials = _identified(slices(whole, 2))
    partials[1]["cluster"] = "prod-us1"
    with pytest.raises(ValueError, match=r"different clusters \(prod-eu1 in partial 1 \(run awx-job-101\), "
                                         r"prod-us1 in partial 2 \(run awx-job-102\)\)"):
        merge_reports(partials)


def test_a_record_reads_a_classification_made_before_the_fixes_were_renamed():
    old = {"classification": {"verdict": "problem2", "mitigation": "pin_sysctl", "kernel_fix": True,
                              "weight0_fix": False}}
    new = {"classification": {"verdict": "problem2", "mitigation": "pin_sysctl", "syn_drop_fix": True,
                              "drained_backend_fix": False, "kernel_fix": True, "weight0_fix": False}}
    for facts in (old, new):
        record = node_record("node-a", facts)
        assert (record["syn_drop_fix"], record["drained_backend_fix"], record["kernel_fix"]) == (True, False, True)
    unreachable = node_record("node-b", None)
    assert (unreachable["syn_drop_fix"], unreachable["drained_backend_fix"], unreachable["kernel_fix"]) == \
        (None, None, None)
