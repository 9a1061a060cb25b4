"""fleet_report_files publishes the three files of one run as one set: two runs into one directory never mix,
and a run killed in the middle of publishing leaves the previous set intact."""
import os
import signal
import subprocess
import sys
import textwrap
import time

from ansible_collections.kubenode.ipvs_reuse.plugins.action import fleet_report_files as action

# the child processes import the collection the way this test does
CHILD_ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
NAMES = ("fleet.json", "fleet.html", "summary.md")


def run_set(tag):
    return dict((name, ("%s of run %s\n" % (name, tag)).encode()) for name in NAMES)


def read_set(dest):
    """Read the set as a reader should: resolve `current` once, then read the three files from there."""
    run_dir = os.path.join(dest, os.readlink(os.path.join(dest, action.CURRENT)))
    return dict((name, open(os.path.join(run_dir, name), "rb").read()) for name in NAMES)


def test_two_runs_into_one_directory_publish_whole_sets(tmp_path):
    dest = str(tmp_path)
    action.publish_set(dest, run_set("A"))
    assert read_set(dest) == run_set("A")
    action.publish_set(dest, run_set("B"))
    assert read_set(dest) == run_set("B")
    # the top-level names follow the current set, for readers of 1.0.0's layout
    for name in NAMES:
        assert open(os.path.join(dest, name), "rb").read() == run_set("B")[name]
    # the set before stays for a reader that resolved `current` just before the switch; older ones go
    action.publish_set(dest, run_set("C"))
    assert len(os.listdir(os.path.join(dest, action.RUNS_DIR))) == action.KEEP_SETS


def test_replaces_a_1_0_0_directory_of_plain_files(tmp_path):
    for name in NAMES:
        (tmp_path / name).write_text("old")
    action.publish_set(str(tmp_path), run_set("A"))
    assert all(os.path.islink(str(tmp_path / name)) for name in NAMES)
    assert read_set(str(tmp_path)) == run_set("A")


def test_a_reader_never_sees_two_runs_while_runs_alternate(tmp_path):
    """Each read overlaps one publish at some point of it (the writer publishes when the reader asks, and the reader
    starts reading at once): the guarantee holds for a reader that finishes within one run, whatever the timing."""
    dest = str(tmp_path / "report")
    action.publish_set(dest, run_set("A"))
    go, done = tmp_path / "go", tmp_path / "done"
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import os, sys, time
        from ansible_collections.kubenode.ipvs_reuse.plugins.action import fleet_report_files as action
        dest, go, done = sys.argv[1:4]
        for i in range(40):
            while not os.path.exists(go):
                time.sleep(0.001)
            os.unlink(go)
            tag = "BA"[i % 2]
            action.publish_set(dest, dict((n, ("%s of run %s\\n" % (n, tag)).encode())
                                          for n in ("fleet.json", "fleet.html", "summary.md")))
            open(done, "w").close()
        """), dest, str(go), str(done)], env=CHILD_ENV)
    seen = set()
    for _read in range(40):
        go.touch()
        got = read_set(dest)
        tags = set(text.split(b" of run ")[1] for text in got.values())
        assert len(tags) == 1, got
        seen |= tags
        deadline = time.time() + 60
        while not done.exists() and time.time() < deadline:
            time.sleep(0.001)
        done.unlink()
    assert writer.wait(60) == 0
    assert seen == {b"A\n", b"B\n"}


def test_a_run_killed_mid_publish_leaves_the_previous_set(tmp_path):
    dest = str(tmp_path)
    action.publish_set(dest, run_set("A"))
    marker = tmp_path / "writing"
    # the second run stops forever after writing its first file: killed there, as a job cancelled in AWX is
    victim = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import os, sys, time
        from ansible_collections.kubenode.ipvs_reuse.plugins.action import fleet_report_files as action
        real_fsync = os.fsync
        def fsync_then_hang(fd):
            real_fsync(fd)
            open(sys.argv[2], "w").close()
            time.sleep(600)
        os.fsync = fsync_then_hang
        action.publish_set(sys.argv[1], {"fleet.json": b"B", "fleet.html": b"B", "summary.md": b"B"})
        """), dest, str(marker)], env=CHILD_ENV)
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert read_set(dest) == run_set("A")
    for name in NAMES:
        assert open(os.path.join(dest, name), "rb").read() == run_set("A")[name]
    # the next run cleans the killed run's leftovers
    action.publish_set(dest, run_set("C"))
    assert read_set(dest) == run_set("C")
    assert not [e for e in os.listdir(os.path.join(dest, action.RUNS_DIR)) if e.startswith(".unfinished.")]


def _publish_report(dest, report):
    action.publish_set(dest, dict((name, text.encode("utf-8")) for name, text in action.render(report).items()))


def test_a_new_time_or_run_alone_is_a_refresh_and_anything_else_a_change(tmp_path):
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import fleet_report
    facts = {"kernel": {"release": "5.4.0-42-generic"},
             "classification": {"verdict": "problem1", "mitigation": "os_upgrade", "starts": "now", "reasons": []}}
    dest = str(tmp_path / "report")
    first = fleet_report({"n1": facts}, generated_at="2026-12-01T10:00:00Z", cluster="c1", run={"id": "r1"})
    _publish_report(dest, first)

    def wanted(report):
        return dict((name, text.encode("utf-8")) for name, text in action.render(report).items())
    later = fleet_report({"n1": facts}, generated_at="2026-12-02T10:00:00Z", cluster="c1", run={"awx_job_id": 7})
    assert wanted(later) != wanted(first)
    assert action.only_the_run_differs(dest, later, wanted(later)) is True
    # another cluster name, another node, another verdict: a change
    for other in (fleet_report({"n1": facts}, generated_at="2026-12-02T10:00:00Z", cluster="c2", run={"id": "r2"}),
                  fleet_report({"n1": facts, "n2": facts}, generated_at="2026-12-02T10:00:00Z", cluster="c1"),
                  fleet_report({"n1": dict(facts, classification=dict(facts["classification"], starts="after_reboot"))},
                               generated_at="2026-12-02T10:00:00Z", cluster="c1")):
        assert action.only_the_run_differs(dest, other, wanted(other)) is False
    # nothing published yet, or something unreadable there: a change
    assert action.only_the_run_differs(str(tmp_path / "empty"), later, wanted(later)) is False
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "fleet.json").write_text("[1, 2")
    assert action.only_the_run_differs(str(tmp_path / "garbage"), later, wanted(later)) is False
