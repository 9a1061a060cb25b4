# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report as one self-contained HTML page. Pure: no I/O, standard library only.

The page has the cluster, the time of the assessment, the counts per verdict, a chart of verdicts by OS and
kernel series (inline SVG), what to do next, the warnings, and a table of every node, worst first, that sorts
when a column header is clicked and filters by verdict, OS and kernel (inline JavaScript; without JavaScript the
whole table shows and the filter stays hidden). It loads nothing from anywhere: a Content-Security-Policy forbids
every external source, so the file can be opened from a mail, an AWX artifact or a laptop without network access.
The output depends only on the report.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from html import escape as _html_escape

try:
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import (
        NEEDS_ACTION, RULES_DOC, deciding_reason_parts, next_steps, plain_why, run_text, starts_text)
except ImportError:  # pragma: no cover - direct import from a checkout
    from . import knowledge  # type: ignore
    from .report import (  # type: ignore
        NEEDS_ACTION, RULES_DOC, deciding_reason_parts, next_steps, plain_why, run_text, starts_text)

COLORS = {"not_applicable": "#8a8f98", "safe": "#2e7d32", "problem1": "#c62828", "problem2": "#e65100",
          "unknown": "#6a1b9a"}
# Order in which the table first lists nodes, and what "sort by verdict" means: worst first.
VERDICT_RANK = {"problem1": 0, "problem2": 1, "unknown": 2, "safe": 3, "not_applicable": 4}
MAX_CHART_GROUPS = 25
# (header, record key or None for computed, data-type for the sorter); one grid track per column in _CSS's tr rule
# (test_report_html checks that the numbers match).
COLUMNS = (("Node", "node", "text"), ("Verdict", "verdict", "rank"), ("Mitigation", "mitigation", "text"),
           ("Kernel", "kernel", "text"), ("OS", "os", "text"), ("kube-proxy", "kube_proxy_version", "text"),
           ("conn_reuse_mode", "conn_reuse_mode", "number"),
           ("persisted", "persisted_conn_reuse_mode", "number"), ("Starts", "starts", "text"),
           ("Why", None, "text"))

_CSS = """
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d1f23}
body{margin:24px;max-width:1400px}
h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.15em;margin:28px 0 8px}
.meta{color:#555;margin:0 0 16px}
.counts{display:flex;flex-wrap:wrap;gap:12px}
.count{border-left:6px solid #999;background:#f5f6f8;padding:8px 14px;flex:1 1 160px}
.count .n{font-size:1.8em;font-weight:600;display:block}
.count .v{font-weight:600}.count .t{color:#555;font-size:.85em;display:block}
table{display:block;width:100%;font-size:.9em}
thead{display:block;position:sticky;top:0;z-index:1}tbody{display:block}
/* Rows are grids, not table rows, so that off-screen rows can skip layout (content-visibility): sorting
   thousands of rows then re-lays out only what is on screen. */
tr{display:grid;grid-template-columns:minmax(9em,1.2fr) 7em 7.5em minmax(9em,1.1fr) minmax(5.5em,.7fr)
minmax(6em,.8fr) 11.5em 6.5em 8em minmax(16em,3fr);border-bottom:1px solid #dde0e5}
tbody tr{content-visibility:auto;contain-intrinsic-size:auto 4em}
th,td{padding:4px 8px;text-align:left;min-width:0;overflow-wrap:anywhere}
th{background:#eef0f3;cursor:pointer;user-select:none;overflow-wrap:normal}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.num,th[data-type=number]{text-align:right}td.node{font-weight:600}td.why{color:#333}
.badge{display:inline-block;padding:1px 6px;border-radius:3px;color:#fff;font-size:.85em}
.none{color:#555}
svg text{font-size:12px;fill:#1d1f23}
#filters{display:flex;flex-wrap:wrap;gap:8px 18px;align-items:center;background:#f5f6f8;padding:8px 12px;margin:0 0 8px}
#filters[hidden]{display:none}#filters fieldset{border:0;margin:0;padding:0}#filters legend{float:left;margin-right:6px}
#shown-count{color:#555}tbody tr[hidden]{display:none}
.plain{display:block}details{color:#555;font-size:.92em;margin-top:2px}summary{cursor:pointer}
details ul{margin:2px 0 0;padding-left:18px}.rule{color:#777;border-bottom:1px dotted #777;cursor:help}
pre.cmd{background:#1d1f23;color:#f5f6f8;padding:6px 10px;white-space:pre-wrap;overflow-wrap:anywhere;margin:4px 0}
#next-steps li{margin-bottom:8px}
"""

# Sorts the table of nodes when a header is clicked (or Enter/Space on it), and filters it by verdict, OS, kernel
# series and text. Cells carry data-sort where the shown text does not sort well (verdict rank, empty values); rows
# carry data-verdict, data-os, data-series and data-search for the filter. Without JavaScript the filter stays
# hidden and every row shows.
_JS = """
(function () {
  var table = document.getElementById("nodes");
  if (!table) { return; }
  var body = table.tBodies[0];
  var headers = table.tHead.rows[0].cells;
  var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
  function value(row, index) {
    var cell = row.cells[index];
    var sortKey = cell.getAttribute("data-sort");
    return sortKey === null ? cell.textContent : sortKey;
  }
  function sortBy(index, direction) {
    var type = headers[index].getAttribute("data-type");
    var rows = Array.prototype.slice.call(body.rows).map(function (row, position) {
      var raw = value(row, index);
      return {row: row, key: (type === "number" || type === "rank") ? parseFloat(raw) : raw, position: position};
    });
    var sign = direction === "ascending" ? 1 : -1;
    rows.sort(function (a, b) {
      var result;
      if (typeof a.key === "number") {
        var aMissing = isNaN(a.key), bMissing = isNaN(b.key);
        if (aMissing || bMissing) { return aMissing === bMissing ? a.position - b.position : (aMissing ? 1 : -1); }
        result = a.key - b.key;
      } else {
        result = collator.compare(a.key, b.key);
      }
      return result !== 0 ? sign * result : a.position - b.position;
    });
    var fragment = document.createDocumentFragment();
    rows.forEach(function (item) { fragment.appendChild(item.row); });
    body.appendChild(fragment);
    Array.prototype.forEach.call(headers, function (header, other) {
      if (other === index) { header.setAttribute("aria-sort", direction); } else { header.removeAttribute("aria-sort"); }
    });
  }
  Array.prototype.forEach.call(headers, function (header, index) {
    header.tabIndex = 0;
    function toggle() {
      sortBy(index, header.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending");
    }
    header.addEventListener("click", toggle);
    header.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); toggle(); }
    });
  });
  var filters = document.getElementById("filters");
  var shown = document.getElementById("shown-count");
  function applyFilter() {
    var verdicts = {};
    Array.prototype.forEach.call(filters.querySelectorAll("input[name=verdict]"), function (box) {
      verdicts[box.value] = box.checked;
    });
    var os = filters.querySelector("#filter-os").value;
    var series = filters.querySelector("#filter-kernel").value;
    var text = filters.querySelector("#filter-text").value.trim().toLowerCase();
    var count = 0;
    Array.prototype.forEach.call(body.rows, function (row) {
      var visible = verdicts[row.getAttribute("data-verdict")] === true &&
        (os === "" || row.getAttribute("data-os") === os) &&
        (series === "" || row.getAttribute("data-series") === series) &&
        (text === "" || row.getAttribute("data-search").indexOf(text) !== -1);
      row.hidden = !visible;
      if (visible) { count += 1; }
    });
    shown.textContent = count + " of " + body.rows.length + " nodes shown";
  }
  if (filters) {
    filters.addEventListener("input", applyFilter);
    filters.addEventListener("change", applyFilter);
    filters.hidden = false;
    applyFilter();
  }
  document.documentElement.setAttribute("data-sortable", "ready");
}());
"""


def _esc(value):
    return _html_escape("" if value is None else str(value), quote=True)


def _kernel_series(release):
    if not isinstance(release, str) or not release:
        return "kernel unknown"
    parts = release.split(".")
    if len(parts) >= 2 and parts[0].isdigit():
        minor = ""
        for char in parts[1]:
            if not char.isdigit():
                break
            minor += char
        if minor:
            return "%s.%s" % (parts[0], minor)
    return release


def chart_groups(records, limit=MAX_CHART_GROUPS):
    """[(label, {verdict: count})]: nodes per OS and kernel series, the groups with most nodes needing
    action first; beyond limit the rest is summed as "other"."""
    groups = {}
    for record in records:
        label = "%s / %s" % (record.get("os") or "OS unknown", _kernel_series(record.get("kernel")))
        counts = groups.setdefault(label, dict((verdict, 0) for verdict in knowledge.VERDICTS))
        verdict = record.get("verdict") if record.get("verdict") in knowledge.VERDICTS else "unknown"
        counts[verdict] += 1

    def order(item):
        label, counts = item
        return (-sum(counts[verdict] for verdict in NEEDS_ACTION), -sum(counts.values()), label)
    ordered = sorted(groups.items(), key=order)
    if len(ordered) > limit:
        rest = dict((verdict, 0) for verdict in knowledge.VERDICTS)
        for _label, counts in ordered[limit - 1:]:
            for verdict in knowledge.VERDICTS:
                rest[verdict] += counts[verdict]
        ordered = ordered[:limit - 1] + [("other (%d groups)" % (len(ordered) - limit + 1), rest)]
    return ordered


def _chart_svg(groups):
    label_width, bar_width, row, top = 300, 560, 24, 8
    legend_y = top + row * len(groups) + 16
    height = legend_y + 24
    width = label_width + bar_width + 70
    biggest = max([sum(counts.values()) for _label, counts in groups] or [1]) or 1
    parts = ['<svg id="verdict-chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
             'role="img" aria-label="Verdicts by OS and kernel series">' % (width, height, width, height)]
    for index, (label, counts) in enumerate(groups):
        y = top + index * row
        total = sum(counts.values())
        parts.append('<g class="group" data-group="%s" data-total="%d">' % (_esc(label), total))
        parts.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (label_width - 8, y + 15, _esc(label)))
        x = float(label_width)
        for verdict in knowledge.VERDICTS:
            count = counts[verdict]
            if not count:
                continue
            span = bar_width * count / float(biggest)
            parts.append('<rect class="seg" data-verdict="%s" data-count="%d" x="%.2f" y="%d" width="%.2f" '
                         'height="%d" fill="%s"><title>%s: %d %s</title></rect>'
                         % (verdict, count, x, y + 3, span, row - 6, COLORS[verdict], _esc(label), count, verdict))
            x += span
        parts.append('<text x="%.2f" y="%d">%d</text></g>' % (x + 6, y + 15, total))
    x = label_width
    for verdict in knowledge.VERDICTS:
        parts.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>'
                     % (x, legend_y, COLORS[verdict], x + 16, legend_y + 11, verdict))
        x += 30 + 8 * len(verdict)
    parts.append("</svg>")
    return "".join(parts)


def _cell(key, value, data_type):
    if data_type == "number":
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if number is None and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            number = int(value.strip())
        return '<td class="num" data-sort="%s">%s</td>' % ("" if number is None else number,
                                                           "-" if value is None else _esc(value))
    if key == "verdict":
        verdict = value if value in COLORS else "unknown"
        return ('<td data-sort="%d"><span class="badge" style="background:%s">%s</span></td>'
                % (VERDICT_RANK[verdict], COLORS[verdict], _esc(verdict)))
    return '<td%s>%s</td>' % (' class="node"' if key == "node" else "", "-" if value in (None, "") else _esc(value))


def _reasons_html(record):
    """The engine's deciding reasons, as a list under a <details> element: the text, how sure it is, and the rule
    (id and domain table row) as a tooltip pointing at docs/classification.md."""
    items = []
    for part in deciding_reason_parts(record):
        where = ", domain table %s" % ", ".join(part["rows"]) if part["rows"] else ""
        rule = "rule %s%s; see %s" % (part["rule"], where, RULES_DOC)
        items.append('<li>%s%s <span class="rule" title="%s">[%s]</span></li>' % (
            _esc(part["text"]), " (%s)" % _esc(part["confidence"]) if part["confidence"] else "", _esc(rule),
            _esc(part["rule"])))
    if not items:
        return ""
    return "<details><summary>reasons (%d)</summary><ul>%s</ul></details>" % (len(items), "".join(items))


def _why_cell(record):
    return '<td class="why"><span class="plain">%s</span>%s</td>' % (_esc(plain_why(record)), _reasons_html(record))


def _header_html(report, records, needing, summary):
    facts = []
    if report.get("cluster"):
        facts.append('cluster <b id="cluster">%s</b>' % _esc(report["cluster"]))
    if report.get("generated_at"):
        facts.append('assessed <time id="assessed-at" datetime="%s">%s</time>'
                     % (_esc(report["generated_at"]), _esc(report["generated_at"])))
    facts.append("%d nodes, %d need action" % (summary.get("nodes", len(records)),
                                               summary.get("needing_action", len(needing))))
    out = ['<p class="meta" id="meta">%s.</p>\n' % "; ".join(facts)]
    if run_text(report):
        out.append('<p class="meta" id="run">Written by %s. Details per node: fleet.json; summary: summary.md.</p>\n'
                   % _esc(run_text(report)))
    else:
        out.append('<p class="meta">Details per node: fleet.json; summary: summary.md.</p>\n')
    return out


def _next_steps_html(report):
    steps = next_steps(report)
    if not steps:
        return ['<h2>What to do next</h2>\n<p class="none" id="next-steps">Nothing.</p>\n']
    out = ['<h2>What to do next</h2>\n<ol id="next-steps">\n']
    for step in steps:
        nodes = step["nodes"]
        out.append('<li data-step="%s"><b>%s</b> (%d node%s: %s)%s<br>%s</li>\n' % (
            _esc(step["step"]), _esc(step["step"]), len(nodes), "" if len(nodes) == 1 else "s",
            _esc(", ".join(nodes[:10]) + (", ..." if len(nodes) > 10 else "")),
            '<pre class="cmd">%s</pre>' % _esc(step["command"]) if step["command"] else "", _esc(step["text"])))
    out.append("</ol>\n")
    return out


def _filters_html(records):
    """The filter bar, hidden until the script shows it (it does nothing without the script)."""
    def options(values):
        return "".join('<option value="%s">%s</option>' % (_esc(value), _esc(value)) for value in values)
    counts = dict((verdict, 0) for verdict in knowledge.VERDICTS)
    for record in records:
        counts[_verdict(record)] += 1
    boxes = "".join('<label><input type="checkbox" name="verdict" value="%s" checked> %s (%d)</label> '
                    % (verdict, verdict, counts[verdict]) for verdict in knowledge.VERDICTS)
    oses = sorted(set(_os_label(record) for record in records))
    series = sorted(set(_kernel_series(record.get("kernel")) for record in records), key=_series_order)
    return ['<div id="filters" hidden>\n<fieldset id="filter-verdicts"><legend>Verdict:</legend>%s</fieldset>\n' % boxes,
            '<label>OS <select id="filter-os"><option value="">all</option>%s</select></label>\n' % options(oses),
            '<label>Kernel <select id="filter-kernel"><option value="">all</option>%s</select></label>\n'
            % options(series),
            '<label>Node or kernel contains <input id="filter-text" type="search" size="18"></label>\n',
            '<span id="shown-count"></span>\n</div>\n']


def _verdict(record):
    return record.get("verdict") if record.get("verdict") in COLORS else "unknown"


def _os_label(record):
    return str(record.get("os") or "OS unknown")


def _series_order(series):
    numbers = re.findall(r"[0-9]+", series)
    return ([int(number) for number in numbers[:2]], series) if re.match(r"^[0-9]", series) else ([10 ** 9], series)


def _row_html(record):
    cells = []
    for _header, key, data_type in COLUMNS:
        if key is None:
            cells.append(_why_cell(record))
        elif key == "starts":
            cells.append(_cell(key, starts_text(record), data_type))
        else:
            cells.append(_cell(key, record.get(key), data_type))
    search = "%s %s" % (record.get("node") or "", record.get("kernel") or "")
    return '<tr data-node="%s" data-verdict="%s" data-os="%s" data-series="%s" data-search="%s">%s</tr>\n' % (
        _esc(record.get("node")), _verdict(record), _esc(_os_label(record)), _esc(_kernel_series(record.get("kernel"))),
        _esc(search.lower()), "".join(cells))


def fleet_html(report, title="IPVS connection-reuse assessment"):
    """Render a report from report.fleet_report() as a complete HTML document (str)."""
    if not isinstance(report, dict) or not isinstance(report.get("nodes"), list):
        raise ValueError("the input must be a fleet report (a dict with 'summary' and 'nodes')")
    records = [record for record in report["nodes"] if isinstance(record, dict)]
    summary = report.get("summary") or {}
    verdict_counts = summary.get("verdicts") or {}
    records.sort(key=lambda record: (VERDICT_RANK[_verdict(record)], str(record.get("node"))))
    needing = [record for record in records if record.get("verdict") in NEEDS_ACTION]
    heading = title if not report.get("cluster") else "%s: %s" % (title, report["cluster"])
    out = ['<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
           'script-src \'unsafe-inline\'; img-src data:">\n',
           '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
           "<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n" % (_esc(heading), _CSS),
           "<h1>%s</h1>\n" % _esc(heading)]
    out += _header_html(report, records, needing, summary)
    out.append('<h2>Verdicts</h2>\n<div class="counts" id="verdict-counts">\n')
    for verdict in knowledge.VERDICTS:
        out.append('<div class="count" data-verdict="%s" style="border-color:%s"><span class="n">%d</span>'
                   '<span class="v">%s</span><span class="t">%s</span></div>\n'
                   % (verdict, COLORS[verdict], int(verdict_counts.get(verdict, 0)), verdict,
                      _esc(knowledge.VERDICT_TEXT[verdict])))
    out.append("</div>\n<h2>Verdicts by OS and kernel series</h2>\n")
    out.append(_chart_svg(chart_groups(records)) if records else '<p class="none">No nodes.</p>')
    out.append("\n")
    if not needing:
        out.append('<p class="none" id="no-action">No node needs action: every node is safe or not applicable.</p>\n')
    out += _next_steps_html(report)
    warned = [record for record in records if record.get("warnings")]
    if warned:
        out.append('<h2>Warnings (%d)</h2>\n<ul id="warnings">\n' % sum(len(record["warnings"]) for record in warned))
        for record in warned:
            for warning in record["warnings"]:
                out.append("<li><b>%s</b>: %s</li>\n" % (_esc(record.get("node")), _esc(warning)))
        out.append("</ul>\n")
    out.append('<h2>Nodes (%d)</h2>\n' % len(records))
    if records:
        out.append('<p class="meta">Worst first. Click a column header to sort, again to reverse. "Starts" says '
                   'when a problem appears: failing now, or only after kube-proxy\'s next start or the next reboot. '
                   'The rule ids behind each reason are explained in %s.</p>\n' % RULES_DOC)
        out += _filters_html(records)
        out.append('<table id="nodes">\n<thead><tr>')
        for header, _key, data_type in COLUMNS:
            out.append('<th scope="col" data-type="%s">%s</th>' % (data_type, _esc(header)))
        out.append("</tr></thead>\n<tbody>\n")
        out += [_row_html(record) for record in records]
        out.append("</tbody>\n</table>\n")
    out.append("<script>%s</script>\n</body>\n</html>\n" % _JS)
    return "".join(out)
