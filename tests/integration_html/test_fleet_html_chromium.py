"""The HTML fleet report, as a person sees it: the assess playbook writes fleet.html for the demo fleet,
headless Chromium opens it, and the test reads what the page shows (counts, chart, table) and clicks
the column headers to sort. Needs Debian's chromium and chromium-driver and the selenium package;
set KUBENODE_REQUIRE_BROWSER=1 (CI does) to fail instead of skipping when they are missing."""
import json
import os
import subprocess
import sys

import pytest

import fleetgen
import browser

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
WHY_MISSING = browser.missing()
if WHY_MISSING and os.environ.get("KUBENODE_REQUIRE_BROWSER") == "1":
    raise RuntimeError("KUBENODE_REQUIRE_BROWSER=1 but %s" % WHY_MISSING)
pytestmark = pytest.mark.skipif(WHY_MISSING is not None, reason=str(WHY_MISSING))

VERDICTS = ("not_applicable", "safe", "problem1", "problem2", "unknown")
NEEDS_ACTION = ("problem1", "problem2", "unknown")


def run_assess(tmp_path, report_dir):
    fleetgen.write_demo_fleet(str(tmp_path / "demo"))
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    proc = subprocess.run([playbook, "-i", str(tmp_path / "demo" / "inventory.yml"), "playbooks/assess.yml",
                           "-e", "assess_report_dir=%s" % report_dir], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc.stdout


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("html")
    report_dir = tmp_path / "report"
    first = run_assess(tmp_path, str(report_dir))
    assert (report_dir / "fleet.html").is_file(), first[-3000:]
    mtime = (report_dir / "fleet.html").stat().st_mtime_ns
    second = run_assess(tmp_path, str(report_dir))
    with open(str(report_dir / "fleet.json")) as handle:
        report = json.load(handle)
    return {"dir": report_dir, "report": report, "second_run": second,
            "unchanged": (report_dir / "fleet.html").stat().st_mtime_ns == mtime}


@pytest.fixture(scope="module")
def page(demo_report):
    with browser.Browser() as chromium:
        driver = chromium.open(str(demo_report["dir"] / "fleet.html"))
        yield driver


def test_second_run_leaves_the_page_unchanged(demo_report):
    assert demo_report["unchanged"], "fleet.html was rewritten although the fleet did not change"
    recap = demo_report["second_run"].split("PLAY RECAP", 1)[1]
    assert "changed=0" in recap.splitlines()[1], recap


def test_counts_shown_match_the_report(page, demo_report):
    summary = demo_report["report"]["summary"]
    shown = page.execute_script(
        "var out = {}; document.querySelectorAll('#verdict-counts .count').forEach(function (card) {"
        " out[card.dataset.verdict] = parseInt(card.querySelector('.n').textContent, 10); }); return out;")
    assert shown == summary["verdicts"]
    assert sum(shown.values()) == len(fleetgen.DEMO_FLEET)
    expected = {}
    for spec in fleetgen.DEMO_FLEET.values():
        expected[spec["expect"]["verdict"]] = expected.get(spec["expect"]["verdict"], 0) + 1
    assert dict((verdict, count) for verdict, count in shown.items() if count) == expected


def test_chart_adds_up_to_the_counts(page, demo_report):
    segments = page.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('#verdict-chart rect.seg'), function (r) {"
        " var box = r.getBoundingClientRect();"
        " return [r.dataset.verdict, parseInt(r.dataset.count, 10), box.width, r.closest('g').dataset.group]; });")
    totals = dict((verdict, 0) for verdict in VERDICTS)
    for verdict, count, width, _group in segments:
        totals[verdict] += count
        assert width > 0, "a segment with nodes must be visible"
    assert totals == demo_report["report"]["summary"]["verdicts"]
    groups = set(group for _v, _c, _w, group in segments)
    assert "centos 7 / 3.10" in groups and "debian 12 / 6.1" in groups


def table(page):
    return page.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('#needing-action tbody tr'), function (row) {"
        " return Array.prototype.map.call(row.cells, function (cell) { return cell.textContent; }); });")


def click_header(page, text):
    from selenium.webdriver.common.by import By

    header = [cell for cell in page.find_elements(By.CSS_SELECTOR, "#needing-action th") if cell.text == text][0]
    header.click()
    return header.get_attribute("aria-sort")


def test_table_lists_the_nodes_needing_action_and_sorts_on_click(page, demo_report):
    assert page.execute_script("return document.documentElement.getAttribute('data-sortable')") == "ready"
    wanted = sorted(record["node"] for record in demo_report["report"]["nodes"] if record["verdict"] in NEEDS_ACTION)
    rows = table(page)
    assert sorted(row[0] for row in rows) == wanted
    assert [row[1] for row in rows] == sorted((row[1] for row in rows), key=NEEDS_ACTION.index), \
        "worst verdicts first before any click"

    assert click_header(page, "Node") == "ascending"
    assert [row[0] for row in table(page)] == sorted(wanted, key=str.lower)
    assert click_header(page, "Node") == "descending"
    assert [row[0] for row in table(page)] == sorted(wanted, key=str.lower, reverse=True)

    assert click_header(page, "Kernel") == "ascending"
    kernels = [row[3] for row in table(page)]
    assert kernels.index("3.10.0-1160.el7.x86_64") < kernels.index("4.14.105-1-tlinux3-0013") \
        < kernels.index("5.4.0-42-generic"), kernels

    assert click_header(page, "conn_reuse_mode") == "ascending"
    values = [row[6] for row in table(page)]
    numbers = [int(value) for value in values if value != "-"]
    assert numbers == sorted(numbers) and numbers, values
    assert values[len(numbers):] == ["-"] * (len(values) - len(numbers)), "unreadable values sort last"

    assert click_header(page, "Verdict") == "ascending"
    assert [row[1] for row in table(page)] == sorted((row[1] for row in table(page)), key=NEEDS_ACTION.index)
    assert click_header(page, "Verdict") == "descending"
    assert [row[1] for row in table(page)] == sorted((row[1] for row in table(page)), key=NEEDS_ACTION.index,
                                                     reverse=True)


def test_page_loads_nothing_from_outside(page):
    resources = page.execute_script("return performance.getEntriesByType('resource').map(function (e) {"
                                    " return e.name; });")
    assert resources == []
    severe = [entry for entry in page.get_log("browser") if entry.get("level") == "SEVERE"]
    assert severe == [], severe


def test_hostile_node_names_are_shown_as_text(tmp_path):
    sys.path.insert(0, os.path.join(REPO, "tests", "tools"))
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import fleet_report
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report_html import fleet_html

    name = '<img src=x onerror="document.title=\'owned\'">'
    html_path = tmp_path / "hostile.html"
    html_path.write_text(fleet_html(fleet_report({name: None, "b&b": None})))
    with browser.Browser() as chromium:
        driver = chromium.open(str(html_path))
        assert driver.title == "IPVS connection-reuse assessment"
        assert driver.execute_script("return document.querySelectorAll('#needing-action img').length") == 0
        assert sorted(row[0] for row in table(driver)) == sorted([name, "b&b"])
