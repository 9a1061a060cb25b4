"""conn_reuse_mode, run as a program with an args file (as AnsiballZ runs it), against a stand-in file for
/proc/sys/net/ipv4/vs (the host kernel has no IPVS): changes only when the value differs, check mode writes
nothing, diff shows the values, a missing sysctl fails clearly or warns with missing_ok, and only conn_reuse_mode
and the vendor switch conn_reuse_old_conntrack can be named."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
RUNNER = ("import sys; from ansible_collections.kubenode.ipvs_reuse.plugins.modules import conn_reuse_mode as m; "
          "m.PROC_DIR = sys.argv.pop(1); m.main()")


def run(proc_path, args, check=False, diff=False):
    """proc_path: the stand-in for /proc/sys/net/ipv4/vs/<name>; its directory stands in for /proc/sys/net/ipv4/vs."""
    args_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), "conn_reuse_mode_args_%d.json" % os.getpid())
    with open(args_file, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check, _ansible_diff=diff)}, handle)
    try:
        proc = subprocess.run([sys.executable, "-c", RUNNER, os.path.dirname(str(proc_path)) + "/", args_file], cwd=REPO,
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
    missing = tmp_path / "no-ip_vs" / "conn_reuse_mode"
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


def test_sets_the_vendor_switch_by_name_and_nothing_else(tmp_path):
    switch = tmp_path / "conn_reuse_old_conntrack"
    switch.write_text("0\n")
    (tmp_path / "conn_reuse_mode").write_text("0\n")
    preview = run(switch, {"name": "conn_reuse_old_conntrack", "value": 1}, check=True, diff=True)
    assert preview["changed"] and preview["diff"]["before_header"].endswith("/conn_reuse_old_conntrack")
    assert switch.read_text() == "0\n"
    result = run(switch, {"name": "conn_reuse_old_conntrack", "value": 1})
    assert result["changed"] and result["previous"] == 0 and switch.read_text() == "1\n"
    assert (tmp_path / "conn_reuse_mode").read_text() == "0\n"


def test_a_kernel_without_the_switch_fails_clearly(tmp_path):
    (tmp_path / "conn_reuse_mode").write_text("1\n")
    failed = run(tmp_path / "conn_reuse_old_conntrack", {"name": "conn_reuse_old_conntrack", "value": 1})
    assert failed["failed"] and "does not carry the vendor patch" in failed["msg"]
    assert not (tmp_path / "conn_reuse_old_conntrack").exists()


def test_other_names_are_refused(tmp_path):
    for name in ("conntrack", "../../../../etc/passwd", "expire_nodest_conn"):
        (tmp_path / "conntrack").write_text("1\n")
        failed = run(tmp_path / "conntrack", {"name": name, "value": 0})
        assert failed["failed"] and "value of name must be one of" in failed["msg"]
        assert (tmp_path / "conntrack").read_text() == "1\n"
