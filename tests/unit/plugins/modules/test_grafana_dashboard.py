"""The shipped Grafana dashboard (files/grafana/ipvs_reuse.dashboard.json) queries only metrics, labels and label
values that ipvs_reuse_metrics and the pin_sysctl keeper really write: the module runs (as AnsiballZ would) on every
demo node, the role's rendered keeper script corrects a stand-in /proc/sys (tests/support/pin_keeper.py), and every
PromQL expression of the dashboard is checked against the union of what they wrote. promtool (when installed) also
parses every expression and evaluates the fleet panels over those series."""
import collections
import json
import math
import os
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from support import fleetgen
from support.pin_keeper import SWITCH, facts_for, run_keeper, run_role
from .test_ipvs_reuse_metrics import REPO, node_facts, run_module

DASHBOARD = os.path.join(REPO, "files", "grafana", "ipvs_reuse.dashboard.json")
PROMTOOL = shutil.which("promtool")
SCRAPE_LABELS = {"instance", "job"}  # what Prometheus adds to every series node_exporter serves
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?(\s*\[[^\]]+\])?\s*(\()?")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')


def expressions(dashboard):
    """(where, expr, legend) for every query of the dashboard."""
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append(("panel %r" % panel["title"], target["expr"], target.get("legendFormat", "")))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            found.append(("variable %r" % variable["name"], query if isinstance(query, str) else query["query"], ""))
    return found


def collect(labels, text):
    """Add every metric of a textfile, with its labels and their values, to labels."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels[sample.name]  # a metric without labels is a metric too
            for label, value in sample.labels.items():
                labels[sample.name][label].add(value)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """{metric: {label: set of values}} over the files the module wrote for every demo node, and the facts."""
    tmp_path = tmp_path_factory.mktemp("metrics")
    labels = collections.defaultdict(lambda: collections.defaultdict(set))
    texts, facts_by_node = {}, {}
    for name in sorted(fleetgen.DEMO_FLEET):
        facts = node_facts(tmp_path, name)
        path = str(tmp_path / (name + ".prom"))
        result = run_module({"path": path, "facts": facts})
        assert not result.get("failed"), result
        with open(path) as handle:
            texts[name] = handle.read()
        collect(labels, texts[name])
        facts_by_node[name] = facts
    # the keeper's metrics file, pinning both sysctls it can keep, after it corrected each once
    keeper_dir = tmp_path_factory.mktemp("keeper")
    (keeper_dir / "textfile").mkdir()
    result, _decision, out = run_role(keeper_dir, facts_for({"conn_reuse_mode": 1, SWITCH: 1}),
                                      {"pin_sysctl_keeper_textfile_dir": str(keeper_dir / "textfile")})
    assert result.returncode == 0, result.stdout[-3000:]
    proc, _live = run_keeper(keeper_dir, out, {"conn_reuse_mode": 0, SWITCH: 0})
    assert proc.returncode == 0, proc.stdout
    keeper_text = (keeper_dir / "textfile" / "ipvs_reuse_keeper.prom").read_text()
    collect(labels, keeper_text)
    return labels, texts, facts_by_node


def check_expression(expr, legend, labels):
    """Problems with one PromQL expression against what the module writes: [] when it only uses what exists."""
    problems, metrics = [], []
    grouping = set()
    for _keyword, names in GROUPING.findall(expr):
        grouping.update(name.strip() for name in names.split(",") if name.strip())
    bare = GROUPING.sub(" ", re.sub(r'"[^"]*"', '""', expr))
    for match in SELECTOR.finditer(bare):
        name, _braces, _range, call = match.groups()
        if call or name in KEYWORDS or re.match(r"^\d", name):
            continue  # a function or aggregation, a keyword
        if name not in labels:
            problems.append("metric %s is not in the module's or the keeper's output" % name)
            continue
        metrics.append(name)
    for match in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}", expr):
        name, body = match.groups()
        for label, operator, value in MATCHER.findall(body):
            if label not in labels.get(name, {}):
                problems.append("%s has no label %s" % (name, label))
            elif operator in ("=", "=~"):
                wanted = value.split("|") if operator == "=~" else [value]
                for one in wanted:
                    if not re.match(r"^[\w.-]+$", one):
                        problems.append("matcher %s%s%r: only plain alternatives can be checked" % (label, operator, value))
                    elif one not in labels[name][label]:
                        problems.append("%s{%s} is never %r in the module's output" % (name, label, one))
    known = set(SCRAPE_LABELS)
    for name in metrics:
        known.update(labels[name])
    for label in grouping - known:
        problems.append("label %s is on none of the metrics %s" % (label, metrics))
    for label in re.findall(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}", legend):
        if label not in known:
            problems.append("legend uses label %s, which none of the metrics %s has" % (label, metrics))
    if not metrics:
        problems.append("queries none of the module's metrics")
    return problems


def test_every_query_uses_only_what_the_module_writes(written):
    labels, _texts, _facts = written
    with open(DASHBOARD) as handle:
        dashboard = json.load(handle)
    queries = expressions(dashboard)
    assert len(queries) >= 8, queries
    problems = ["%s: %s: %s" % (where, expr, problem)
                for where, expr, legend in queries for problem in check_expression(expr, legend, labels)]
    assert not problems, "\n".join(problems)


def test_the_panels_the_issue_asks_for_are_there():
    with open(DASHBOARD) as handle:
        exprs = " ".join(expr for _where, expr, _legend in expressions(json.load(handle)))
    for needle in ("sum by (verdict) (ipvs_reuse_verdict == 1)", "sum by (mitigation) (ipvs_reuse_mitigation == 1)",
                   "time() - ipvs_reuse_last_assessment_timestamp_seconds", "increase(ipvs_reuse_keeper_corrections_total"):
        assert needle in exprs


@pytest.mark.parametrize("expr, legend, problem", [
    ("sum by (verdict) (ipvs_reuse_verdicts == 1)", "", "metric ipvs_reuse_verdicts is not in"),
    ('ipvs_reuse_verdict{verdict="problem3"}', "", "is never 'problem3'"),
    ('ipvs_reuse_mitigation{verdict="problem1"}', "", "has no label verdict"),
    ("sum by (node) (ipvs_reuse_verdict)", "", "label node is on none"),
    ("sum by (verdict) (ipvs_reuse_verdict)", "{{fix}}", "legend uses label fix"),
    ('ipvs_reuse_kernel_fix{fix=~"syn_drop_fix|reuse"}', "", "is never 'reuse'"),
])
def test_the_check_catches_what_does_not_exist(written, expr, legend, problem):
    labels, _texts, _facts = written
    assert any(problem in found for found in check_expression(expr, legend, labels)), \
        check_expression(expr, legend, labels)


@pytest.mark.skipif(PROMTOOL is None and not os.environ.get("KUBENODE_REQUIRE_RELEASE_TOOLS"),
                    reason="promtool (Debian package prometheus) is not installed")
def test_promtool_parses_every_query_and_the_fleet_panels_count_the_demo_fleet(written, tmp_path):
    _labels, texts, facts_by_node = written
    with open(DASHBOARD) as handle:
        queries = expressions(json.load(handle))
    # every expression as a recording rule: promtool check rules parses it as Prometheus would
    rules = tmp_path / "dashboard.rules.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": "dashboard:query_%d" % number, "expr": expr} for number, (_w, expr, _l) in enumerate(queries)]}]}))
    check = subprocess.run([PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr

    input_series = []
    for name, text in texts.items():
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                selector = ",".join('%s="%s"' % (key, value.replace("\\", "\\\\").replace('"', '\\"'))
                                    for key, value in sorted(dict(sample.labels, instance=name).items()))
                value = "NaN" if math.isnan(sample.value) else repr(sample.value)
                input_series.append({"series": "%s{%s}" % (sample.name, selector), "values": "%s+0x10" % value})
    verdicts = collections.Counter(facts["classification"]["verdict"] for facts in facts_by_node.values())
    mitigations = collections.Counter(facts["classification"]["mitigation"] for facts in facts_by_node.values())
    pairs = collections.Counter((facts["classification"]["verdict"], facts["classification"]["mitigation"])
                                for facts in facts_by_node.values())
    assert len(verdicts) > 2 and len(mitigations) > 2, "the demo fleet is too uniform to prove the panels"
    by_expr = dict((expr, where) for where, expr, _legend in queries)

    def expr_of(fragment):
        return next(expr for expr in by_expr if fragment in expr)

    tests = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": input_series,
        "promql_expr_test": [
            {"expr": expr_of("sum by (verdict)"), "eval_time": "5m",
             "exp_samples": [{"labels": '{verdict="%s"}' % k, "value": v} for k, v in sorted(verdicts.items())]},
            {"expr": expr_of("sum by (mitigation)"), "eval_time": "5m",
             "exp_samples": [{"labels": '{mitigation="%s"}' % k, "value": v} for k, v in sorted(mitigations.items())]},
            {"expr": expr_of("count by (verdict, mitigation)"), "eval_time": "5m",
             "exp_samples": [{"labels": '{mitigation="%s",verdict="%s"}' % (m, v), "value": n}
                             for (v, m), n in sorted(pairs.items())]},
        ]}]}
    path = tmp_path / "dashboard_test.yml"
    path.write_text(yaml.safe_dump(tests))
    result = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
