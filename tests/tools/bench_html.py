"""How long the HTML fleet report takes for a large fleet (goal: under 2 s for 5,000 nodes).

Measures (a) fleet_html() in Python on the controller, (b) headless Chromium opening the file until the
load event (parse, layout, SVG, script set-up) and (c) one click on a column header that sorts every row
(measured in the page up to the next layout). Prints a Markdown table for docs/benchmarks.md.

  python3 tests/tools/bench_html.py [--nodes 5000] [--repeat 5]
Needs chromium, chromium-driver and selenium for (b) and (c); without them only (a) is measured.
"""
import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration_html"))
import synthetic_fleet  # noqa: E402  (sets up the import path of the collection)
import browser  # noqa: E402
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report_html import fleet_html  # noqa: E402

GOAL_SECONDS = 2.0
SORT_JS = """
var done = arguments[arguments.length - 1];
var header = document.querySelectorAll('#nodes th')[arguments[0]];
var start = performance.now();
header.click();
document.body.offsetHeight;  // force the layout of the re-ordered rows
requestAnimationFrame(function () { done(performance.now() - start); });
"""


def browser_cpu(profile):
    """CPU seconds used so far by every Chromium process of this profile (browser, renderer, GPU, utility)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                if profile.encode() not in handle.read():
                    continue
            with open("/proc/%s/stat" % pid) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (IOError, OSError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / float(ticks)


def seconds(values):
    return "%.3f s (median %.3f, max %.3f)" % (min(values), statistics.median(values), max(values))


def main():
    parser = argparse.ArgumentParser(description="Benchmark the HTML fleet report.")
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    report = synthetic_fleet.synthetic_report(args.nodes)
    renders, render_cpu = [], []
    for _run in range(args.repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        html = fleet_html(report)
        renders.append(time.perf_counter() - start)
        render_cpu.append(time.process_time() - start_cpu)
    rows = [("nodes (table rows) / needing action", "%d / %d" % (args.nodes, report["summary"]["needing_action"])),
            ("page size", "%.2f MB" % (len(html.encode("utf-8")) / 1e6)),
            ("fleet_html() in Python, wall, %d runs" % args.repeat, seconds(renders)),
            ("fleet_html() in Python, CPU", seconds(render_cpu))]

    why = browser.missing()
    if why:
        rows.append(("Chromium", "not measured: %s" % why))
    else:
        directory = tempfile.mkdtemp(prefix="kubenode-bench-html-")
        path = os.path.join(directory, "fleet.html")
        with open(path, "w") as handle:
            handle.write(html)
        loads, sorts_node, sorts_kernel, load_cpu = [], [], [], []
        with browser.Browser() as chromium:
            driver = chromium.driver
            driver.set_script_timeout(60)
            for _run in range(args.repeat):
                driver.get("about:blank")
                before = browser_cpu(chromium.profile)
                chromium.open(path)
                load_cpu.append(browser_cpu(chromium.profile) - before)
                loads.append(driver.execute_script(
                    "var n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime;")
                    / 1000.0)
                assert driver.execute_script("return document.documentElement.getAttribute('data-sortable')") == "ready"
                sorts_node.append(driver.execute_async_script(SORT_JS, 0) / 1000.0)
                sorts_kernel.append(driver.execute_async_script(SORT_JS, 3) / 1000.0)
            version = driver.capabilities.get("browserVersion", "?")
        os.unlink(path)
        os.rmdir(directory)
        rows += [("Chromium %s: open file to load event, wall" % version, seconds(loads)),
                 ("Chromium: CPU of all its processes for that load", seconds(load_cpu)),
                 ("Chromium: click sorts all rows by node", seconds(sorts_node)),
                 ("Chromium: click sorts all rows by kernel", seconds(sorts_kernel))]
        for label, worst in (("wall, worst run", max([max(renders) + max(loads)] + sorts_node + sorts_kernel)),
                             ("wall, median run", max(statistics.median(renders) + statistics.median(loads),
                                                      statistics.median(sorts_node), statistics.median(sorts_kernel))),
                             ("CPU, median run", statistics.median(render_cpu) + statistics.median(load_cpu))):
            rows.append(("goal: render + open, and a sort, each under %.0f s (%s)" % (GOAL_SECONDS, label),
                         ("met (%.3f s)" if worst < GOAL_SECONDS else "MISSED (%.3f s)") % worst))
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print("| %s | %s |" % (name, value))
    print("\nPython %s on %s, %d cores, load average %s when measured."
          % (platform.python_version(), platform.machine(), os.cpu_count() or 0,
             " ".join("%.1f" % value for value in os.getloadavg())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
