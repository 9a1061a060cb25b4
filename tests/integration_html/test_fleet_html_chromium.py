"""The HTML fleet report, as a person sees it: the assess playbook writes fleet.html for the demo fleet,
headless Chromium opens it, and the test reads what the page shows (time, cluster, counts, chart, next steps,
warnings, table of every node), clicks the column headers to sort, uses the filter, and opens the page once
more with JavaScript off. Needs Debian's chromium and chromium-driver and the selenium package;
set KUBENODE_REQUIRE_BROWSER=1 (CI does) to fail instead of skipping when they are missing."""
import json
import os
import subprocess
import sys

import pytest

from support import fleetgen
import browser

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
WHY_MISSING = browser.missing()
if WHY_MISSING and os.environ.get("KUBENODE_REQUIRE_BROWSER") == "1":
    raise RuntimeError("KUBENODE_REQUIRE_BROWSER=1 but %s" % WHY_MISSING)
pytestmark = pytest.mark.skipif(WHY_MISSING is not None, reason=str(WHY_MISSING))

VERDICTS = ("not_applicable", "safe", "problem1", "problem2", "unknown")
NEEDS_ACTION = ("problem1", "problem2", "unknown")
WORST_FIRST = ("problem1", "problem2", "unknown", "safe", "not_applicable")


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
    with open(str(report_dir / "fleet.json")) as handle:
        first_report = json.load(handle)
    second = run_assess(tmp_path, str(report_dir))
    with open(str(report_dir / "fleet.json")) as handle:
        report = json.load(handle)
    return {"dir": report_dir, "report": report, "second_run": second, "first_report": first_report}


@pytest.fixture(scope="module")
def page(demo_report):
    with browser.Browser() as chromium:
        driver = chromium.open(str(demo_report["dir"] / "fleet.html"))
        yield driver


def test_second_run_reports_no_change_and_only_the_run_differs(demo_report):
    recap = demo_report["second_run"].split("PLAY RECAP", 1)[1]
    assert "changed=0" in recap.splitlines()[1], recap
    first, second = demo_report["first_report"], demo_report["report"]
    assert first["run"]["id"] != second["run"]["id"], "each run has its own id"
    for key in ("generated_at", "run"):
        first.pop(key)
        second = dict(second)
        second.pop(key)
    assert first == second


def test_time_cluster_next_steps_and_warnings_are_shown(page, demo_report):
    from selenium.webdriver.common.by import By

    report = demo_report["report"]
    assert page.find_element(By.ID, "assessed-at").text == report["generated_at"]
    assert report["generated_at"].endswith("Z") and report["generated_at"].startswith("20")
    # the demo inventory is demo/inventory.yml, copied by the test as demo/inventory.yml
    assert page.find_element(By.ID, "cluster").text == report["cluster"] == "demo/inventory"
    assert page.find_element(By.TAG_NAME, "h1").text == "IPVS connection-reuse assessment: demo/inventory"
    steps = dict((item.get_attribute("data-step"), item.text)
                 for item in page.find_elements(By.CSS_SELECTOR, "#next-steps li"))
    pinned = sorted(record["node"] for record in report["nodes"]
                    if record["mitigation"] == "pin_sysctl" and record["verdict"] in NEEDS_ACTION)
    assert pinned and ("ansible-playbook playbooks/mitigate.yml --limit %s --check --diff" % ",".join(pinned)
                       in steps["pin_sysctl"])
    assert set(steps) == set(["pin_sysctl", "os_upgrade", "unknown"]), steps
    warnings = [item.text for item in page.find_elements(By.CSS_SELECTOR, "#warnings li")]
    expected = ["%s: %s" % (record["node"], warning) for record in report["nodes"] for warning in record["warnings"]]
    assert warnings == expected and warnings


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


def table(page, visible_only=False):
    """The rows' cell texts (the Why cell: its plain text only), in page order."""
    return page.execute_script(
        "var visibleOnly = arguments[0];"
        "return Array.prototype.filter.call(document.querySelectorAll('#nodes tbody tr'), function (row) {"
        " return !visibleOnly || row.offsetParent !== null; }).map(function (row) {"
        " return Array.prototype.map.call(row.cells, function (cell) {"
        "  var plain = cell.querySelector('.plain'); return plain ? plain.textContent : cell.textContent; }); });",
        visible_only)


def click_header(page, text):
    from selenium.webdriver.common.by import By

    header = [cell for cell in page.find_elements(By.CSS_SELECTOR, "#nodes th") if cell.text == text][0]
    header.click()
    return header.get_attribute("aria-sort")


def test_table_lists_every_node_and_sorts_on_click(page, demo_report):
    assert page.execute_script("return document.documentElement.getAttribute('data-sortable')") == "ready"
    wanted = sorted(record["node"] for record in demo_report["report"]["nodes"])
    rows = table(page)
    assert sorted(row[0] for row in rows) == wanted and len(wanted) == len(fleetgen.DEMO_FLEET)
    assert [row[1] for row in rows] == sorted((row[1] for row in rows), key=WORST_FIRST.index), \
        "worst verdicts first before any click"
    why = dict((row[0], row[-1]) for row in rows)
    assert "rows 2/3" not in " ".join(why.values())
    assert why["debian11-persisted0"].startswith("New connections that reuse a client port go to the old backend")
    assert "Fix: pin conn_reuse_mode=1" in why["debian11-persisted0"]
    assert "Not now: it starts when kube-proxy next starts." in why["tencentos-marker"]

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
    assert [row[1] for row in table(page)] == sorted((row[1] for row in table(page)), key=WORST_FIRST.index)
    assert click_header(page, "Verdict") == "descending"
    assert [row[1] for row in table(page)] == sorted((row[1] for row in table(page)), key=WORST_FIRST.index,
                                                     reverse=True)


def test_filter_by_verdict_os_kernel_and_text(page, demo_report):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    records = demo_report["report"]["nodes"]
    assert page.find_element(By.ID, "filters").is_displayed()
    shown = page.find_element(By.ID, "shown-count")
    assert shown.text == "%d of %d nodes shown" % (len(records), len(records))
    boxes = dict((box.get_attribute("value"), box) for box in page.find_elements(By.NAME, "verdict"))
    for verdict in ("safe", "not_applicable", "unknown"):
        boxes[verdict].click()
    wanted = sorted(record["node"] for record in records if record["verdict"] in ("problem1", "problem2"))
    assert sorted(row[0] for row in table(page, visible_only=True)) == wanted
    assert shown.text == "%d of %d nodes shown" % (len(wanted), len(records))

    Select(page.find_element(By.ID, "filter-os")).select_by_value("tencentos 3.1")
    assert sorted(row[0] for row in table(page, visible_only=True)) == ["tencentos-marker", "tencentos-switch-off"]
    Select(page.find_element(By.ID, "filter-os")).select_by_value("")
    Select(page.find_element(By.ID, "filter-kernel")).select_by_value("5.4")
    assert sorted(row[0] for row in table(page, visible_only=True)) == ["ubuntu2004-old-kernel"]
    for verdict in ("safe", "not_applicable", "unknown"):
        boxes[verdict].click()
    in_series = sorted(record["node"] for record in records if (record["kernel"] or "").startswith("5.4."))
    assert sorted(row[0] for row in table(page, visible_only=True)) == in_series and len(in_series) > 1
    Select(page.find_element(By.ID, "filter-kernel")).select_by_value("")
    page.find_element(By.ID, "filter-text").send_keys("-1160.EL7")
    assert [row[0] for row in table(page, visible_only=True)] == ["centos7-kp118"]
    page.find_element(By.ID, "filter-text").clear()
    page.execute_script("document.getElementById('filter-text').dispatchEvent(new Event('input', {bubbles: true}))")
    assert len(table(page, visible_only=True)) == len(records)


def test_without_javascript_every_node_shows_and_the_filter_is_hidden(demo_report):
    from selenium.webdriver.common.by import By

    with browser.Browser(javascript=False) as chromium:
        driver = chromium.open(str(demo_report["dir"] / "fleet.html"))
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("data-sortable") is None
        assert not driver.find_element(By.ID, "filters").is_displayed()
        rows = [row for row in driver.find_elements(By.CSS_SELECTOR, "#nodes tbody tr") if row.is_displayed()]
        assert len(rows) == len(demo_report["report"]["nodes"])
        assert driver.find_element(By.ID, "next-steps").is_displayed()


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
    script = "<script>document.title='owned'</script>"
    facts = {"kernel": {"release": script}, "os": {"id": name, "version_id": "1"},
             "classification": {"verdict": "problem1", "mitigation": "pin_sysctl", "pin_value": 1, "starts": "now",
                                "reasons": [{"rule": "live_state", "text": script, "confidence": name}],
                                "warnings": [script + name]}}
    html_path = tmp_path / "hostile.html"
    html_path.write_text(fleet_html(fleet_report({name: None, "b&b": None, script: facts}, generated_at=script,
                                                 cluster=name, run={"id": script})))
    with browser.Browser() as chromium:
        driver = chromium.open(str(html_path))
        assert driver.title == "IPVS connection-reuse assessment: " + name
        assert driver.execute_script("return document.querySelectorAll('body img, body script').length") == 1
        assert sorted(row[0] for row in table(driver)) == sorted([name, "b&b", script])
        assert [row[3] for row in table(driver) if row[0] == script] == [script]
        assert driver.execute_script("return document.documentElement.getAttribute('data-sortable')") == "ready"
