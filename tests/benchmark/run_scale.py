"""Scale of the assessment run (issue 15, item 8): the assess playbook and ping over large offline fleets.

For each fleet size, in one run: (b) `ansible-playbook playbooks/assess.yml`, then (a) `ansible -m ping` over the same
inventory (connection local, the demo fleet's situations cycled, as tests/benchmark/run_benchmark.py builds it).
Records per size: wall and CPU time and peak controller memory of each command (the largest resident set of any one
process of it: getrusage of its children), the report step's time (the assess role's report tasks, from the
ansible.posix.profile_tasks callback), the size of fleet.json, summary.md and fleet.html, and of the set_stats digest.
Each finished measurement is appended to a JSON lines file at once, so a long run that is stopped keeps what it
measured.

Usage: python3 tests/benchmark/run_scale.py [--sizes 500,5000] [--forks 10] [--results FILE] [--table-only]
Kept apart from run_benchmark.py (it imports its fleet builder and probe) so that the two evolve separately.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_benchmark  # noqa: E402  (sets up the import paths of tests/ and the collection)

REPO = run_benchmark.REPO
# Task names of the assess role's report step (roles/assess/tasks/report.yml), as profile_tasks prints them.
REPORT_TASKS = ("Name the run and the cluster", "Build the fleet report",
                "Write the JSON report, the Markdown summary and the HTML page", "Publish the report digest for AWX")
PROFILE_LINE = re.compile(r"^(?P<name>.+?) -+ (?P<seconds>[0-9.]+)s\s*$")


def measure_with_output(command, env, cwd, output_path):
    """Like run_benchmark.measure, keeping the command's output (for the task profile) in output_path."""
    probe = ("import resource, subprocess, sys, time\n"
             "start = time.monotonic()\n"
             "with open(sys.argv[1], 'w') as out:\n"
             "    code = subprocess.call(sys.argv[2:], stdout=out, stderr=subprocess.STDOUT)\n"
             "took = time.monotonic() - start\n"
             "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
             "print('%d %.3f %.1f %.3f' % (code, took, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime))\n")
    result = subprocess.check_output([sys.executable, "-c", probe, output_path] + command, env=env, cwd=cwd).decode()
    code, took, peak, cpu = result.split()
    if code != "0":
        with open(output_path) as handle:
            tail = handle.read()[-3000:]
        raise SystemExit("scale benchmark command failed (%s): %s\n%s" % (code, " ".join(command), tail))
    return {"wall_s": float(took), "peak_mib": float(peak), "cpu_s": float(cpu)}


def report_step_seconds(output_path):
    """Seconds of the report tasks, from profile_tasks' summary lines ("role : task ---- 1.23s")."""
    found = {}
    with open(output_path) as handle:
        for line in handle:
            match = PROFILE_LINE.match(line.strip())
            if match:
                name = match.group("name").split(" : ", 1)[-1].strip()
                if name in REPORT_TASKS:
                    found[name] = float(match.group("seconds"))
    return found


def digest_bytes(report):
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import report_stats
    return (len(json.dumps(report_stats(report), sort_keys=True).encode("utf-8")),
            len(json.dumps(report_stats(report, max_nodes=10 ** 9), sort_keys=True).encode("utf-8")))


def record(path, entry):
    with open(path, "a") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
    print(json.dumps(entry, sort_keys=True), flush=True)


def one_size(count, forks, results):
    workdir = tempfile.mkdtemp(prefix="ipvs-reuse-scale-")
    try:
        started = time.monotonic()
        inventory = run_benchmark.make_fleet(workdir, count)
        record(results, {"nodes": count, "step": "fleet written", "seconds": round(time.monotonic() - started, 1)})
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_FORKS=str(forks),
                   ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_LOCALHOST_WARNING="false",
                   ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="all")
        bindir = os.path.dirname(sys.executable)
        report_dir = os.path.join(workdir, "report")
        load = os.getloadavg()
        assess = measure_with_output([os.path.join(bindir, "ansible-playbook"), "-i", inventory,
                                      os.path.join(REPO, "playbooks", "assess.yml"),
                                      "-e", "assess_report_dir=%s" % report_dir],
                                     env, workdir, os.path.join(workdir, "assess.out"))
        with open(os.path.join(report_dir, "fleet.json")) as handle:
            report = json.load(handle)
        assert report["summary"]["nodes"] == count, report["summary"]
        capped, uncapped = digest_bytes(report)
        sizes = dict((name, os.path.getsize(os.path.join(report_dir, name)))
                     for name in ("fleet.json", "summary.md", "fleet.html"))
        record(results, dict(assess, nodes=count, forks=forks, step="assess", load_before=load,
                             load_after=os.getloadavg(), needing_action=report["summary"]["needing_action"],
                             report_tasks=report_step_seconds(os.path.join(workdir, "assess.out")),
                             file_bytes=sizes, digest_bytes=capped, digest_uncapped_bytes=uncapped,
                             when=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())))
        env.pop("ANSIBLE_CALLBACKS_ENABLED")
        load = os.getloadavg()
        ping = measure_with_output([os.path.join(bindir, "ansible"), "all", "-i", inventory, "-m", "ping"],
                                   env, workdir, os.path.join(workdir, "ping.out"))
        record(results, dict(ping, nodes=count, forks=forks, step="ping", load_before=load,
                             load_after=os.getloadavg(), when=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def table(entries):
    """Markdown rows for docs/benchmarks.md from the JSON lines entries."""
    by_size = {}
    for entry in entries:
        by_size.setdefault(entry["nodes"], {})[entry["step"]] = entry
    lines = ["| nodes (needing action) | assess wall / CPU (s) | ping wall / CPU (s) | assess / ping (wall) "
             "| peak controller RSS, assess / ping (MiB) | report step (s) | fleet.json | summary.md | fleet.html "
             "| digest (uncapped) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for count in sorted(by_size):
        assess, ping = by_size[count].get("assess"), by_size[count].get("ping")
        if not assess:
            continue
        lines.append("| %d (%d) | %.0f / %.0f | %s | %s | %.0f / %s | %.1f | %.1f MB | %.2f MB | %.2f MB | %.1f KB (%.0f KB) |" % (
            count, assess["needing_action"], assess["wall_s"], assess["cpu_s"],
            "%.0f / %.0f" % (ping["wall_s"], ping["cpu_s"]) if ping else "not run",
            "%.2fx" % (assess["wall_s"] / ping["wall_s"]) if ping else "-", assess["peak_mib"],
            "%.0f" % ping["peak_mib"] if ping else "-", sum(assess["report_tasks"].values()),
            assess["file_bytes"]["fleet.json"] / 1e6, assess["file_bytes"]["summary.md"] / 1e6,
            assess["file_bytes"]["fleet.html"] / 1e6, assess["digest_bytes"] / 1e3, assess["digest_uncapped_bytes"] / 1e3))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,5000")
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--results", default=os.path.join(tempfile.gettempdir(), "ipvs-reuse-scale.jsonl"))
    parser.add_argument("--table-only", action="store_true", help="print the table of an earlier --results file")
    args = parser.parse_args()
    if not args.table_only:
        for count in [int(size) for size in args.sizes.split(",")]:
            one_size(count, args.forks, args.results)
    with open(args.results) as handle:
        print(table([json.loads(line) for line in handle if '"step": "assess"' in line or '"step": "ping"' in line]))


if __name__ == "__main__":
    main()
