"""conn_reuse_mode, run as a program with an args file (as AnsiballZ runs it), against a stand-in file for
/proc/sys/net/ipv4/vs/conn_reuse_mode (the host kernel has no IPVS): changes only when the value differs, check
mode writes nothing, diff shows the values, a missing sysctl fails clearly or warns with missing_ok."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
RUNNER = ("import sys; from ansible_collections.kubenode.ipvs_reuse.plugins.modules import conn_reuse_mode as m; "
          "m.PROC_PATH = sys.argv.pop(1); m.main()")


def run(proc_path, args, check=False, diff=False):
    args_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), "conn_reuse_mode_args_%d.json" % os.getpid())
    with open(args_file, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check, _ansible_diff=diff)}, handle)
    try:
        proc = subprocess.run([sys.executable, "-c", RUNNER, str(proc_path), args_file], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
                              check=False, env=dict(os.environ, PYTHONPATH=os.path.join(REPO, ".cache", "collections")))
    finally:
        os.unlink(args_file)
    return json.loads(proc.stdout)


def test_sets_only_when_different(tmp_path):
    live = tmp_path / "conn_reuse_mode"
    live.write_text("0\n")
    preview = run(live, {"value": 1}, check=True, diff=True)
    assert preview["changed"] and preview["previous"] == 0 and live.read_text() == "0\n"
    assert preview["diff"]["before"] == "0\n" and preview["diff"]["after"] == "1\n"
    result = run(live, {"value": 1})
    assert result["changed"] and result["previous"] == 0 and live.read_text() == "1\n"
    again = run(live, {"value": 1})
    assert not again["changed"] and again["previous"] == 1


def test_missing_sysctl(tmp_path):
    missing = tmp_path / "absent"
    failed = run(missing, {"value": 1})
    assert failed["failed"] and "ip_vs module is not loaded" in failed["msg"]
    tolerated = run(missing, {"value": 1, "missing_ok": True})
    assert not tolerated["changed"] and tolerated["previous"] is None and tolerated["warnings"]
    assert not missing.exists()


def test_garbage_and_negative_values(tmp_path):
    live = tmp_path / "conn_reuse_mode"
    live.write_text("banana\n")
    assert "not a number" in run(live, {"value": 1})["msg"]
    live.write_text("1\n")
    assert run(live, {"value": -1})["failed"] and live.read_text() == "1\n"
