"""The HTML fleet page, read back with the standard library's HTML parser: counts, chart, table, escaping,
self-containment and determinism. (tests/integration_html/ opens it in a real browser.)"""
import os
import sys
from html import unescape as _html_unescape
from html.parser import HTMLParser

import pytest

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge as K
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import fleet_report
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report_html import (
    MAX_CHART_GROUPS, chart_groups, fleet_html)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))), "tools"))
import synthetic_fleet  # noqa: E402


class Page(HTMLParser):
    """Collects the elements the checks need, with the text inside them."""

    def __init__(self):
        HTMLParser.__init__(self)
        self.stack, self.cards, self.segments, self.rows, self.tags, self.external = [], {}, [], [], set(), []
        self._card = self._row = self._cell = None
        self._in_n = False
        self.text_of, self.hidden_ids, self.hidden_rows, self.options, self.commands = {}, set(), [], {}, []
        self._ids, self._select, self._command = [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if attrs.get("id") in ("assessed-at", "cluster", "run"):
            self._ids.append([attrs["id"], ""])
        if "hidden" in attrs:
            if attrs.get("id"):
                self.hidden_ids.add(attrs["id"])
            if tag == "tr":
                self.hidden_rows.append(attrs)
        if tag == "select":
            self._select = self.options.setdefault(attrs["id"], [])
        if tag == "option" and self._select is not None:
            self._select.append(attrs["value"])
        if tag == "pre" and "cmd" in (attrs.get("class") or ""):
            self._command = ""
        for key in ("src", "href"):
            if attrs.get(key):
                self.external.append(attrs[key])
        classes = (attrs.get("class") or "").split()
        if "count" in classes:
            self._card = attrs["data-verdict"]
        if "n" in classes and self._card:
            self._in_n = True
        if tag == "rect" and "seg" in classes:
            self.segments.append((attrs["data-verdict"], int(attrs["data-count"])))
        if tag == "tr" and "data-node" in attrs:
            self._row = []
        if tag == "td" and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if self._ids and tag in ("time", "b", "p"):
            name, text = self._ids.pop()
            self.text_of[name] = text
        if tag == "select":
            self._select = None
        if tag == "pre" and self._command is not None:
            self.commands.append(self._command)
            self._command = None
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        if tag == "span":
            self._in_n = False

    def handle_data(self, data):
        if self._in_n:
            self.cards[self._card] = int(data)
            self._card = None
        if self._cell is not None:
            self._cell += data
        for entry in self._ids:
            entry[1] += data
        if self._command is not None:
            self._command += data


def parse(text):
    page = Page()
    page.feed(text)
    page.close()
    return page


@pytest.fixture(scope="module")
def report():
    return synthetic_fleet.synthetic_report(300, seed=7)


def test_counts_chart_and_table_match_the_report(report):
    page = parse(fleet_html(report))
    assert page.cards == report["summary"]["verdicts"]
    chart = dict((verdict, 0) for verdict in K.VERDICTS)
    for verdict, count in page.segments:
        chart[verdict] += count
    assert chart == report["summary"]["verdicts"]
    # every node has a row, worst verdict first, then by name
    assert sorted(row[0] for row in page.rows) == sorted(record["node"] for record in report["nodes"])
    ranks = [K.VERDICTS.index(row[1]) for row in page.rows]
    order = ("problem1", "problem2", "unknown", "safe", "not_applicable")
    assert [order.index(row[1]) for row in page.rows] == sorted(order.index(row[1]) for row in page.rows)
    assert len(set(ranks)) == len(K.VERDICTS), "the synthetic fleet has every verdict"
    by_node = dict((record["node"], record) for record in report["nodes"])
    for row in page.rows:
        record = by_node[row[0]]
        assert row[1:4] == [record["verdict"], record["mitigation"], record["kernel"] or "-"]


def test_self_contained_and_deterministic(report):
    text = fleet_html(report)
    page = parse(text)
    assert page.external == [], "no src/href: nothing is loaded"
    assert "default-src 'none'" in text
    assert {"script", "style", "svg", "table"} <= page.tags
    assert fleet_html(report) == text


HOSTILE = '<script>alert(1)</script>"&\'<b>x</b>'


def _hostile_facts():
    """Facts of a problem1 node whose every free-text value is markup."""
    return {"kernel": {"release": HOSTILE}, "os": {"id": HOSTILE, "version_id": "</td><td>"},
            "kube_proxy": {"mode": "ipvs", "version": HOSTILE},
            "classification": {"verdict": "problem1", "mitigation": "pin_sysctl", "pin_value": 1, "starts": "now",
                               "reasons": [{"rule": "live_state", "text": HOSTILE + " (rows 2/3)",
                                            "confidence": HOSTILE}],
                               "warnings": [HOSTILE]}}


def test_hostile_values_are_escaped():
    report = fleet_report({HOSTILE: _hostile_facts(), HOSTILE + "2": None}, generated_at=HOSTILE, cluster=HOSTILE,
                          run={"id": HOSTILE, "awx_job_template_name": HOSTILE})
    text = fleet_html(report)
    # the only script element is the page's own, and no markup from the values became an element
    assert text.count("<script>") == 1 and "<b>x</b>" not in text and "&lt;/td&gt;&lt;td&gt;" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;&#x27;&lt;b&gt;x&lt;/b&gt;" in text
    page = parse(text)
    assert sorted(row[0] for row in page.rows) == sorted([HOSTILE, HOSTILE + "2"])
    row = [row for row in page.rows if row[0] == HOSTILE][0]
    assert len(row) == len(page.rows[1]) == 10
    assert row[3] == HOSTILE and row[4] == HOSTILE + " </td><td>"


def test_next_step_commands_quote_hostile_node_names_for_the_shell():
    import shlex
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import next_steps
    names = ["ok-1", "x'; touch /tmp/owned; '", "$(reboot)", "a b"]
    report = fleet_report(dict((name, _hostile_facts()) for name in names))
    (step,) = next_steps(report)
    argv = shlex.split(step["command"])
    assert argv[:3] == ["ansible-playbook", "playbooks/mitigate.yml", "--limit"]
    assert argv[3] == ",".join(sorted(names)) and argv[4:] == ["--check", "--diff"]
    assert _html_unescape(parse(fleet_html(report)).commands[0]) == step["command"]


def test_no_nodes_needing_action_still_lists_every_node():
    facts = {"kernel": {"release": "6.1.0"}, "os": {"id": "debian", "version_id": "12"},
             "classification": {"verdict": "safe", "mitigation": "none", "reasons": []}}
    text = fleet_html(fleet_report({"n1": facts, "n2": facts}))
    assert "No node needs action" in text and 'id="next-steps">Nothing.' in text
    assert sorted(row[0] for row in parse(text).rows) == ["n1", "n2"]


def test_no_nodes_at_all_has_no_table():
    text = fleet_html(fleet_report({}))
    assert 'id="nodes"' not in text and "No node needs action" in text


def test_time_cluster_run_and_filter_are_on_the_page(report):
    stamped = dict(report, generated_at="2026-12-02T11:00:00Z", cluster="prod-eu1",
                   run={"id": "awx-job-42", "awx_job_id": 42, "awx_job_template_name": "assess"})
    page = parse(fleet_html(stamped))
    assert page.text_of["assessed-at"] == "2026-12-02T11:00:00Z" and page.text_of["cluster"] == "prod-eu1"
    assert "AWX job 42 (template assess)" in page.text_of["run"]
    # the filter does nothing without JavaScript, so it is hidden until the script shows it; every row shows
    assert "filters" in page.hidden_ids and not page.hidden_rows
    oses = set(record["os"] or "OS unknown" for record in report["nodes"])
    assert set(page.options["filter-os"]) == oses | {""}
    assert "5.4" in page.options["filter-kernel"] and "3.10" in page.options["filter-kernel"]


def test_chart_groups_are_capped_and_keep_every_node():
    records = [{"os": "os%d" % index, "kernel": "5.%d.0-1" % index, "verdict": K.VERDICTS[index % 5]}
               for index in range(MAX_CHART_GROUPS * 3)]
    groups = chart_groups(records)
    assert len(groups) == MAX_CHART_GROUPS
    assert groups[-1][0].startswith("other (")
    assert sum(sum(counts.values()) for _label, counts in groups) == len(records)
    needing_first = [sum(counts[v] for v in ("problem1", "problem2", "unknown")) for _label, counts in groups[:-1]]
    assert needing_first == sorted(needing_first, reverse=True)


@pytest.mark.parametrize("bad", [None, {}, {"nodes": "x"}, "text"])
def test_bad_input_is_refused(bad):
    with pytest.raises(ValueError):
        fleet_html(bad)


def _latent_report():
    """Three problem nodes that differ only in when their problem appears, one from an engine without `starts`,
    one with a warning and a reason that carries its confidence."""
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import fleet_report
    nodes = {}
    for name, starts in (("n-now", "now"), ("n-restart", "after_kube_proxy_restart"), ("n-reboot", "after_reboot"),
                         ("n-old-engine", "absent")):
        classification = {"verdict": "problem2", "mitigation": "pin_sysctl",
                          "reasons": [{"rule": "live_state", "text": "the fix is missing",
                                       "source": "kernel table", "confidence": "verified"}],
                          "warnings": ["IPVS leftovers on " + name] if name == "n-now" else []}
        if starts != "absent":
            classification["starts"] = starts
        nodes[name] = {"kernel": {"release": "5.4.0"}, "classification": classification}
    return fleet_report(nodes)


def test_present_versus_latent_warnings_and_confidence_in_html_and_markdown():
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import fleet_markdown
    report = _latent_report()
    page = parse(fleet_html(report))
    starts = dict((row[0], row[-2]) for row in page.rows)
    assert starts == {"n-now": "failing now", "n-restart": "after kube-proxy's next start",
                      "n-reboot": "after the next reboot", "n-old-engine": "-"}
    why = dict((row[0], row[-1]) for row in page.rows)
    assert why["n-now"].startswith("The first packet (SYN) of a new connection") and "This happens now." in why["n-now"]
    assert "Not now: it starts when kube-proxy next starts." in why["n-restart"]
    assert "Not now: it starts after the next reboot." in why["n-reboot"]
    assert "Not now" not in why["n-old-engine"] and "happens now" not in why["n-old-engine"]
    assert all(text.endswith("reasons (1)the fix is missing (verified) [live_state]") for text in why.values())
    text = fleet_html(report)
    assert "IPVS leftovers on n-now" in text
    markdown = fleet_markdown(report)
    assert "| n-now | problem2 | failing now |" in markdown
    assert "| n-reboot | problem2 | after the next reboot |" in markdown
    assert "| n-old-engine | problem2 | - |" in markdown
    why_md = dict((line.split(" | ")[0].lstrip("| "), line.split(" | ")[-1].rstrip(" |"))
                  for line in markdown.splitlines() if line.startswith("| n-"))
    assert why_md["n-now"] == ("The first packet (SYN) of a new connection on a reused client port is dropped: the "
                               "client waits about 1 s. This happens now. Reasons: the fix is missing (verified) "
                               "[live_state].")
    assert "Not now: it starts after the next reboot." in why_md["n-reboot"]
    assert "docs/classification.md" in markdown


def test_markdown_why_moves_domain_table_rows_out_of_the_text():
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import fleet_markdown
    classification = {"verdict": "problem1", "mitigation": "os_upgrade", "starts": "now",
                      "reasons": [{"rule": "row1", "text": "conn_reuse_mode=0 on a kernel without drained_backend_fix (rows 2/3)",
                                   "confidence": "inferred"},
                                  {"rule": "gathered", "text": "not a deciding reason"}]}
    report = fleet_report({"n1": {"kernel": {"release": "4.19.0"}, "classification": classification}})
    row = [line for line in fleet_markdown(report).splitlines() if line.startswith("| n1 |")][0]
    assert row.endswith("upgrade the OS or kernel to one with the fix. Reasons: conn_reuse_mode=0 on a kernel without "
                        "drained_backend_fix (inferred) [row1]. |")
    assert "rows 2/3" not in row and "not a deciding reason" not in row
    html_page = fleet_html(report)
    assert "domain table rows 2/3" in html_page and "(rows 2/3)" not in html_page


def test_digest_is_capped_with_complete_counts_and_a_note():
    import json
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import report_stats
    big = synthetic_fleet.synthetic_report(5000, seed=3)
    needing = big["summary"]["needing_action"]
    assert needing > 200
    digest = report_stats(big)
    assert digest["summary"] == big["summary"]
    assert len(digest["needing_action"]) == 200
    assert "200 of %d" % needing in digest["needing_action_cut"]
    ranks = [("problem1", "problem2", "unknown").index(entry["verdict"]) for entry in digest["needing_action"]]
    assert ranks == sorted(ranks)
    assert len(json.dumps(digest)) < 40000
    small = report_stats(synthetic_fleet.synthetic_report(20, seed=3))
    assert "needing_action_cut" not in small
    assert len(small["needing_action"]) == small["summary"]["needing_action"]


def test_the_row_grid_has_one_track_per_column():
    import re
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import report_html
    rule = re.search(r"\btr\{display:grid;grid-template-columns:([^;]+);", report_html._CSS).group(1)
    tracks = re.findall(r"minmax\([^)]*\)|[0-9.]+(?:em|fr|px)", rule)
    assert len(tracks) == len(report_html.COLUMNS)
