"""undo_record, run as a program with an args file (as AnsiballZ runs it): records once, never overwrites,
restores bytes, mode and symlinks, removes files that did not exist, check mode changes nothing."""
import base64
import json
import os
import stat
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def run(args, check=False, diff=False):
    args_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), "undo_record_args_%d.json" % os.getpid())
    with open(args_file, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check, _ansible_diff=diff)}, handle)
    try:
        proc = subprocess.run([sys.executable, "-m", "ansible_collections.kubenode.ipvs_reuse.plugins.modules."
                               "undo_record", args_file], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=60, check=False,
                              env=dict(os.environ, PYTHONPATH=os.path.join(REPO, ".cache", "collections")))
    finally:
        os.unlink(args_file)
    return json.loads(proc.stdout)


def snapshot(paths):
    out = {}
    for path in paths:
        if os.path.islink(path):
            out[path] = ("link", os.readlink(path))
        elif os.path.exists(path):
            with open(path, "rb") as handle:
                out[path] = ("file", handle.read(), stat.S_IMODE(os.stat(path).st_mode))
        else:
            out[path] = None
    return out


def test_record_change_restore_round_trip(tmp_path):
    record = str(tmp_path / "state" / "rec.json")
    kept = tmp_path / "kept.conf"
    kept.write_bytes(b"# odd bytes \xe2\x9c\x93 no final newline\r\nnet.ipv4.vs.conn_reuse_mode=1")
    os.chmod(str(kept), 0o600)
    new = tmp_path / "new.conf"
    link = tmp_path / "link"
    os.symlink("/dev/null", str(link))
    paths = [str(kept), str(new), str(link)]
    before = snapshot(paths)

    preview = run({"path": record, "files": paths, "data": {"conn_reuse_mode": 0}}, check=True)
    assert preview["changed"] and not os.path.exists(record)
    assert preview["current"] == {str(kept): True, str(new): False, str(link): True}

    first = run({"path": record, "files": paths, "data": {"conn_reuse_mode": 0}})
    assert first["changed"] and not first["existed"]
    assert stat.S_IMODE(os.stat(record).st_mode) == 0o600
    assert base64.b64decode(first["record"]["files"][str(kept)]["content_b64"]) == kept.read_bytes()

    # The role changes the files ...
    kept.write_text("net.ipv4.vs.conn_reuse_mode = 1\n")
    os.chmod(str(kept), 0o644)
    new.write_text("ip_vs\n")
    os.unlink(str(link))
    link.write_text("not a link any more\n")

    # ... a second record never overwrites the first.
    again = run({"path": record, "files": paths, "data": {"conn_reuse_mode": 1}})
    assert not again["changed"] and again["record"]["data"] == {"conn_reuse_mode": 0}

    changed_now = snapshot(paths)
    check = run({"path": record, "state": "restored"}, check=True, diff=True)
    assert check["changed"] and sorted(check["restored"]) == sorted(paths)
    assert snapshot(paths) == changed_now

    restored = run({"path": record, "state": "restored"})
    assert sorted(restored["restored"]) == sorted(paths)
    assert snapshot(paths) == before
    assert os.path.exists(record)  # the caller removes it last

    assert not run({"path": record, "state": "restored"})["changed"]


def test_restore_without_record_changes_nothing(tmp_path):
    result = run({"path": str(tmp_path / "none.json"), "state": "restored"})
    assert result == dict(result, changed=False, existed=False, record=None, restored=[])


def test_query_reports_existence(tmp_path):
    present = tmp_path / "a"
    present.write_text("x")
    result = run({"path": str(tmp_path / "none.json"), "state": "query",
                  "files": [str(present), str(tmp_path / "b")]})
    assert not result["changed"] and result["current"] == {str(present): True, str(tmp_path / "b"): False}


def test_query_tells_marked_files_from_others(tmp_path):
    ours, theirs, link = tmp_path / "ours.conf", tmp_path / "theirs.conf", tmp_path / "link.conf"
    ours.write_text("# kubenode.ipvs_reuse pin_sysctl: pinned\nnet.ipv4.vs.conn_reuse_mode = 1\n")
    theirs.write_text("# pinned by hand\nnet.ipv4.vs.conn_reuse_mode=1\n")
    link.symlink_to(ours)
    files = [str(ours), str(theirs), str(link), str(tmp_path / "missing.conf")]
    result = run({"path": str(tmp_path / "none.json"), "state": "query", "files": files,
                  "marker": "kubenode.ipvs_reuse pin_sysctl"})
    assert result["current_marked"] == {files[0]: True, files[1]: False, files[2]: True, files[3]: False}
    assert "current_marked" not in run({"path": str(tmp_path / "none.json"), "state": "query", "files": files})


def test_broken_record_fails_clearly(tmp_path):
    record = tmp_path / "rec.json"
    record.write_text("{not json")
    result = run({"path": str(record), "state": "restored"})
    assert result["failed"] and "not valid JSON" in result["msg"] and "nothing was changed" in result["msg"]


def test_relative_paths_are_refused(tmp_path):
    result = run({"path": str(tmp_path / "rec.json"), "files": ["etc/x.conf"]})
    assert result["failed"] and "absolute" in result["msg"]
    assert not (tmp_path / "rec.json").exists()


def test_a_new_data_key_is_added_and_recorded_keys_are_kept(tmp_path):
    record = str(tmp_path / "rec.json")
    pin = tmp_path / "pin.conf"
    pin.write_text("net.ipv4.vs.conn_reuse_mode = 0\n")
    run({"path": record, "files": [str(pin)], "data": {"conn_reuse_mode": 0}})
    pin.write_text("net.ipv4.vs.conn_reuse_mode = 1\n")
    with open(record, "rb") as handle:
        first_bytes = handle.read()

    wanted = {"conn_reuse_mode": 1, "conn_reuse_old_conntrack": 0}
    preview = run({"path": record, "files": [str(pin)], "data": wanted}, check=True, diff=True)
    assert preview["changed"] and preview["added"] == ["conn_reuse_old_conntrack"]
    assert '"conn_reuse_old_conntrack": 0' in preview["diff"]["after"]
    with open(record, "rb") as handle:
        assert handle.read() == first_bytes

    added = run({"path": record, "files": [str(pin)], "data": wanted})
    assert added["changed"] and added["existed"]
    assert added["record"]["data"] == {"conn_reuse_mode": 0, "conn_reuse_old_conntrack": 0}
    assert stat.S_IMODE(os.stat(record).st_mode) == 0o600
    with open(record) as handle:
        stored = json.load(handle)
    assert stored["data"] == {"conn_reuse_mode": 0, "conn_reuse_old_conntrack": 0}
    assert stored["files"] == json.loads(first_bytes)["files"]
    assert stored["recorded_at"] == json.loads(first_bytes)["recorded_at"]

    again = run({"path": record, "files": [str(pin)], "data": {"conn_reuse_mode": 1, "conn_reuse_old_conntrack": 1}})
    assert not again["changed"] and "added" not in again

    run({"path": record, "state": "restored"})
    assert pin.read_text() == "net.ipv4.vs.conn_reuse_mode = 0\n"
