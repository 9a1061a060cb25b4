"""The shipped Prometheus rules (files/prometheus/ipvs_reuse.rules.yml): promtool accepts them, and promtool's
unit tests fire the alerts over series rendered by ipvs_reuse_metrics' own code from the demo fleet, and over the
metrics file the pin_sysctl role's rendered keeper script writes (tests/support/pin_keeper.py)."""
import math
import os
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.metrics import render_metrics
from .test_metrics import demo_facts
from support.pin_keeper import facts_for, run_keeper, run_role
from support import fleetgen

RULES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "files", "prometheus", "ipvs_reuse.rules.yml")
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None and not os.environ.get("KUBENODE_REQUIRE_RELEASE_TOOLS"),
                                reason="promtool (Debian package prometheus) is not installed")


def series_of(text, instance):
    """promtool input_series from a textfile, with the instance label node_exporter adds."""
    out = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = dict(sample.labels, instance=instance)
            selector = ",".join('%s="%s"' % (k, v.replace("\\", "\\\\").replace('"', '\\"'))
                                for k, v in sorted(labels.items()))
            out.append((sample.name, selector, sample.value))
    return out


def expected(alertname, **labels):
    """An expected alert, its annotations filled in from the rules file's templates."""
    with open(RULES) as handle:
        rules = [rule for group in yaml.safe_load(handle)["groups"] for rule in group["rules"]]
    annotations = next(rule["annotations"] for rule in rules if rule.get("alert") == alertname)
    filled = {}
    for key, text in annotations.items():
        for label, value in labels.items():
            text = text.replace("{{ $labels.%s }}" % label, value)
        filled[key] = text
    return {"exp_labels": labels, "exp_annotations": filled}


def promtool_test_rules(tmp_path, input_series, alert_rule_test):
    """Run promtool's unit test of the shipped rules over input_series; promtool's output when it fails."""
    tests = {"rule_files": [os.path.abspath(RULES)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": input_series, "alert_rule_test": alert_rule_test}]}
    path = tmp_path / "rules_unit_test.yml"
    path.write_text(yaml.safe_dump(tests))
    result = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_rules():
    subprocess.run([PROMTOOL, "check", "rules", RULES], check=True)


def test_alerts_fire_for_demo_nodes_with_problems(tmp_path):
    input_series, expected_problem = [], []
    for name in fleetgen.DEMO_FLEET:
        facts = demo_facts(tmp_path, name)
        # assessed at time 0 of the test, so after 40 h (2,400 one-minute samples) the assessment is stale
        for metric, selector, value in series_of(render_metrics(facts, timestamp=0), name):
            input_series.append({"series": "%s{%s}" % (metric, selector),
                                 "values": "%s+0x2500" % ("NaN" if math.isnan(value) else repr(value))})
        verdict = facts["classification"]["verdict"]
        if verdict in ("problem1", "problem2"):
            expected_problem.append(
                expected("IpvsReuseProblemNow", severity="critical", instance=name, verdict=verdict))
    assert expected_problem, "the demo fleet has no node with a problem: the alert test would prove nothing"
    stale = [expected("IpvsReuseAssessmentStale", severity="warning", instance=name) for name in fleetgen.DEMO_FLEET]
    tests = {"rule_files": [os.path.abspath(RULES)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",  # within Prometheus' 5-minute lookback, so no gaps reset "for"
        "input_series": input_series,
        "alert_rule_test": [
            {"eval_time": "1h", "alertname": "IpvsReuseProblemNow", "exp_alerts": expected_problem},
            {"eval_time": "1h", "alertname": "IpvsReuseAssessmentStale", "exp_alerts": []},
            {"eval_time": "40h", "alertname": "IpvsReuseAssessmentStale", "exp_alerts": stale},
            {"eval_time": "1h", "alertname": "IpvsReuseKernelFixRegressed", "exp_alerts": []},
        ]}]}
    path = tmp_path / "rules_test.yml"
    path.write_text(yaml.safe_dump(tests))
    result = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kernel_fix_regressed_fires_when_a_node_boots_an_unfixed_kernel(tmp_path):
    """One node, assessed on an up-to-date Ubuntu 20.04 kernel for an hour, then on an old focal kernel (a rollback
    to an older build): the series are what the module's metrics code writes for each of the two assessments."""
    before, after = demo_facts(tmp_path, "ubuntu2004-kp121"), demo_facts(tmp_path, "ubuntu2004-old-kernel")
    assert before["classification"]["syn_drop_fix"] is True and after["classification"]["syn_drop_fix"] is False
    values = {}
    for facts in (before, after):
        for metric, selector, value in series_of(render_metrics(facts, timestamp=0), "node-a"):
            values.setdefault("%s{%s}" % (metric, selector), []).append(value)
    lost = []
    input_series = []
    for series, (first, second) in ((series, pair) for series, pair in values.items() if len(pair) == 2):
        input_series.append({"series": series, "values": "%s+0x59 %s+0x60" % tuple(
            "NaN" if math.isnan(value) else repr(value) for value in (first, second))})
        if series.startswith("ipvs_reuse_kernel_fix{") and first == 1 and second == 0:
            lost.append(dict(re.findall(r'(\w+)="([^"]*)"', series)))
    assert sorted(fix["fix"] for fix in lost) == ["drained_backend_fix", "syn_drop_fix"], values
    regressed = [expected("IpvsReuseKernelFixRegressed", severity="critical", **fix) for fix in lost]
    promtool_test_rules(tmp_path, input_series, [
        {"eval_time": "30m", "alertname": "IpvsReuseKernelFixRegressed", "exp_alerts": []},
        {"eval_time": "90m", "alertname": "IpvsReuseKernelFixRegressed", "exp_alerts": regressed},
    ])


def test_keeper_alerts_over_what_the_real_keeper_writes(tmp_path):
    """The pin_sysctl role's rendered keeper, run once a minute against a stand-in /proc/sys for two hours: kube-proxy
    (the test) writes conn_reuse_mode=0 at minutes 10 and 70, the keeper puts 1 back and counts it, and at minute 90
    the keeper stops (node_exporter keeps serving its last file). The series are the keeper's files, minute by minute."""
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    result, _decision, out = run_role(tmp_path, facts_for({"conn_reuse_mode": 1}),
                                      {"pin_sysctl_keeper_textfile_dir": str(textfile)})
    assert result.returncode == 0, result.stdout[-3000:]
    minutes, stopped = 130, 90
    values, text = {}, ""
    for minute in range(minutes):
        if minute < stopped:
            proc, _live = run_keeper(tmp_path, out, {"conn_reuse_mode": 0 if minute in (10, 70) else 1}, now=minute * 60)
            assert proc.returncode == 0, proc.stdout
            text = (textfile / "ipvs_reuse_keeper.prom").read_text()
        for metric, selector, value in series_of(text, "node-a"):
            values.setdefault("%s{%s}" % (metric, selector), ["_"] * minutes)[minute] = repr(value)
    counter = 'ipvs_reuse_keeper_corrections_total{instance="node-a",sysctl="net.ipv4.vs.conn_reuse_mode"}'
    assert [float(value) for value in values[counter][9:12]] == [0, 1, 1] and float(values[counter][89]) == 2, \
        values[counter]
    corrected = [expected("IpvsReusePinKeeperCorrected", severity="info", instance="node-a",
                          sysctl="net.ipv4.vs.conn_reuse_mode")]
    stopped_alert = [expected("IpvsReusePinKeeperStopped", severity="warning", instance="node-a")]
    input_series = [{"series": series, "values": " ".join(samples)} for series, samples in sorted(values.items())]
    promtool_test_rules(tmp_path, input_series, [
        {"eval_time": "5m", "alertname": "IpvsReusePinKeeperCorrected", "exp_alerts": []},
        {"eval_time": "15m", "alertname": "IpvsReusePinKeeperCorrected", "exp_alerts": corrected},
        {"eval_time": "60m", "alertname": "IpvsReusePinKeeperStopped", "exp_alerts": []},
        {"eval_time": "125m", "alertname": "IpvsReusePinKeeperStopped", "exp_alerts": stopped_alert},
    ])
