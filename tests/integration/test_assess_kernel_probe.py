"""assess_kernel_probe on the demo fleet (offline node roots, connection local).

Offline roots have no live kernel to measure: no node is probed, every node is classified again on the controller
without a measurement, and the report is the one a run without the probe writes. The measured path runs on real
guests (tests/lab/kernel_probe_lab.py --assess).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_assess_playbook import run_playbook  # noqa: E402


def verdicts(tmp_path):
    report = json.load(open(str(tmp_path / "report" / "fleet.json")))
    return dict((record["node"], (record["verdict"], record["mitigation"], record["reasons"])) for record in report["nodes"])


def test_probe_on_an_offline_fleet_measures_nothing_and_changes_no_verdict(tmp_path):
    without = tmp_path / "without"
    with_probe = tmp_path / "with"
    without.mkdir()
    with_probe.mkdir()
    run_playbook(without)
    result = run_playbook(with_probe, "-e", "assess_kernel_probe=true")
    assert "Probe the kernel" in result.stdout
    assert "ok: [" not in result.stdout.split("Probe the kernel", 1)[1].split("TASK", 1)[0]  # nobody was probed
    assert verdicts(with_probe) == verdicts(without)
