"""The HTML fleet page, read back with the standard library's HTML parser: counts, chart, table, escaping,
self-containment and determinism. (tests/integration_html/ opens it in a real browser.)"""
import os
import sys
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

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
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
    needing = [record for record in report["nodes"] if record["verdict"] in ("problem1", "problem2", "unknown")]
    assert sorted(row[0] for row in page.rows) == sorted(record["node"] for record in needing)
    by_node = dict((record["node"], record) for record in needing)
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


def test_hostile_values_are_escaped():
    name = '<script>alert(1)</script>"&'
    text = fleet_html(fleet_report({name: None}, generated_at='"><b>x</b>'))
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;" in text
    assert "<b>x</b>" not in text
    page = parse(text)
    assert page.rows[0][0] == name


def test_no_nodes_needing_action_has_no_table():
    text = fleet_html(fleet_report({}))
    assert 'id="needing-action"' not in text and "every node is safe" in text


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
    assert all(row[-1] == "the fix is missing (verified)" for row in page.rows)
    text = fleet_html(report)
    assert "IPVS leftovers on n-now" in text
    markdown = fleet_markdown(report)
    assert "| n-now | problem2 | failing now |" in markdown
    assert "| n-reboot | problem2 | after the next reboot |" in markdown
    assert "| n-old-engine | problem2 | - |" in markdown
    assert "the fix is missing (verified)" in markdown


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
