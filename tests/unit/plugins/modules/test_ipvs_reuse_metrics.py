"""ipvs_reuse_metrics, run as Ansible runs it (ad-hoc on localhost through AnsiballZ): atomic write,
changed only when the metrics change, a fresh timestamp on every run, check mode and diff, removal, bad input."""
import json
import os
import stat
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support import fleetgen
from support.ansiballz import kept_payload_files
from support.return_docs import check_result, documented_paths
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import classify
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.gather import gather
from ansible_collections.kubenode.ipvs_reuse.plugins.modules import ipvs_reuse_metrics

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ANSIBLE = os.path.join(os.path.dirname(sys.executable), "ansible")


def run_module(args, check=False, diff=False):
    """Run the module file as a program with an args file, as AnsiballZ would (fast, no controller)."""
    args_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), "ipvs_reuse_metrics_args_%d.json" % os.getpid())
    with open(args_file, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check, _ansible_diff=diff)}, handle)
    try:
        proc = subprocess.run([sys.executable, "-m", "ansible_collections.kubenode.ipvs_reuse.plugins.modules."
                               "ipvs_reuse_metrics", args_file], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=120, check=False,
                              env=dict(os.environ, PYTHONPATH=os.path.join(REPO, ".cache", "collections")))
    finally:
        os.unlink(args_file)
    return json.loads(proc.stdout)


def run_ansible(args, **env_extra):
    """Run the module through ansible itself (AnsiballZ packs module_utils): returns (status, result)."""
    command = [ANSIBLE, "localhost", "-i", "localhost,", "-c", "local",
               "-e", "ansible_python_interpreter=%s" % sys.executable,
               "-m", "kubenode.ipvs_reuse.ipvs_reuse_metrics", "-a", json.dumps(args)]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal", ANSIBLE_NOCOLOR="1", **env_extra)
    proc = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300, check=False)
    head, _sep, body = proc.stdout.partition(" => ")
    assert body, proc.stdout
    return head.split("|")[-1].strip(), json.loads(body[:body.rfind("}") + 1])


def node_facts(tmp_path, name="euleros-h686", **sysctl):
    spec = dict(fleetgen.DEMO_FLEET[name])
    if sysctl:
        spec["vs"] = dict(spec["vs"], **sysctl)
    root = fleetgen.write_node(os.path.join(str(tmp_path), "root-" + name), spec)
    facts = gather(root=root, proxy_mode=None, kube_proxy_version=None, metrics_url="", http_get=lambda url: None)
    facts["classification"] = classify(facts)
    return facts


def samples(path):
    with open(path) as handle:
        text = handle.read()
    return dict((sample.name, sample.value) for family in text_string_to_metric_families(text)
                for sample in family.samples if not sample.labels)


def test_write_idempotence_fresh_timestamp_check_mode_and_removal(tmp_path):
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    path = str(textfile_dir / "ipvs_reuse.prom")
    facts = node_facts(tmp_path)

    first = run_module({"path": path, "facts": facts})
    assert first["changed"] is True and first["refreshed"] is False
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    before = samples(path)
    assert before["ipvs_reuse_conn_reuse_mode"] == 0.0

    second = run_module({"path": path, "facts": facts})
    assert second["changed"] is False, "an unchanged node must not report a change"
    assert second["refreshed"] is True
    after = samples(path)
    assert after["ipvs_reuse_last_assessment_timestamp_seconds"] > before["ipvs_reuse_last_assessment_timestamp_seconds"]
    assert os.listdir(str(textfile_dir)) == ["ipvs_reuse.prom"], "no temporary file may be left behind"

    pinned = node_facts(tmp_path, conn_reuse_mode=1)
    with open(path) as handle:
        content = handle.read()
    preview = run_module({"path": path, "facts": pinned}, check=True, diff=True)
    assert preview["changed"] is True
    assert "ipvs_reuse_conn_reuse_mode 1" in preview["diff"]["after"]
    assert "ipvs_reuse_conn_reuse_mode 0" in preview["diff"]["before"]
    with open(path) as handle:
        assert handle.read() == content, "check mode must not write"

    third = run_module({"path": path, "facts": pinned})
    assert third["changed"] is True and samples(path)["ipvs_reuse_conn_reuse_mode"] == 1.0

    steady = run_module({"path": path, "facts": pinned, "timestamp": False})
    assert steady["changed"] is False  # dropping the timestamp family is not a change of the metrics
    with open(path) as handle:
        assert "last_assessment_timestamp" not in handle.read()
    assert run_module({"path": path, "facts": pinned, "timestamp": False})["refreshed"] is False

    assert run_module({"path": path, "state": "absent"}, check=True)["changed"] is True
    assert os.path.exists(path)
    assert run_module({"path": path, "state": "absent"})["changed"] is True
    assert not os.path.exists(path)
    assert run_module({"path": path, "state": "absent"})["changed"] is False


@pytest.mark.parametrize("args, message", [
    ({"path": "/tmp/ipvs_reuse.txt", "facts": {}}, "must end in .prom"),
    ({"path": "/nonexistent-dir-for-test/ipvs_reuse.prom", "facts": {}}, "does not exist"),
    ({"path": "/tmp/ipvs_reuse_test_bad_label.prom", "facts": {}, "labels": {"__x": "y"}}, "labels:"),
    ({"path": "/tmp/ipvs_reuse_test_no_facts.prom"}, "facts"),
])
def test_bad_input_fails_clearly_and_writes_nothing(args, message):
    result = run_module(args)
    assert result.get("failed") is True
    assert message in result["msg"]
    assert not os.path.exists(args["path"])


def test_through_ansible_first_run_changes_second_does_not(tmp_path):
    path = str(tmp_path / "ipvs_reuse.prom")
    facts = node_facts(tmp_path)
    assert run_ansible({"path": path, "facts": facts})[0] == "CHANGED"
    status, result = run_ansible({"path": path, "facts": facts})
    assert status == "SUCCESS" and result["refreshed"] is True
    assert samples(path)["ipvs_reuse_conn_reuse_mode"] == 0.0


def test_the_node_side_payload_carries_no_classification_engine(tmp_path):
    """The module runs on every node: AnsiballZ ships the module_utils it imports, and the engine is not one."""
    remote = tmp_path / "remote"
    status, _result = run_ansible({"path": str(tmp_path / "ipvs_reuse.prom"), "facts": node_facts(tmp_path)},
                                  ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_REMOTE_TMP=str(remote))
    assert status == "CHANGED"
    payloads = kept_payload_files(remote)
    assert len(payloads) == 1, payloads
    names = list(payloads.values())[0]
    utils = "ansible_collections/kubenode/ipvs_reuse/plugins/module_utils/"
    assert utils + "metrics.py" in names
    assert utils + "classify.py" not in names


class _RecordingModule(object):
    def __init__(self):
        self.moves = []

    def atomic_move(self, src, dest):
        with open(src) as handle:
            self.moves.append((src, dest, handle.read()))
        os.rename(src, dest)


def test_temporary_file_is_hidden_from_the_textfile_collector(tmp_path):
    """node_exporter reads every *.prom file in the directory: the partial file must not be one."""
    dest = str(tmp_path / "ipvs_reuse.prom")
    module = _RecordingModule()
    ipvs_reuse_metrics.write_atomically(module, dest, "x 1\n")
    (src, moved_to, content), = module.moves
    assert moved_to == dest and content == "x 1\n"
    assert os.path.dirname(src) == str(tmp_path), "same directory, so the rename is atomic"
    assert os.path.basename(src).startswith(".") and not src.endswith(".prom")
    assert os.listdir(str(tmp_path)) == ["ipvs_reuse.prom"]


def test_every_returned_key_is_documented(tmp_path):
    """RETURN documents what the module returns, written, previewed with diff, and removed; and nothing else."""
    path = str(tmp_path / "ipvs_reuse.prom")
    facts = node_facts(tmp_path)
    results = [run_module({"path": path, "facts": facts}), run_module({"path": path, "facts": facts}, check=True, diff=True),
               run_module({"path": path, "state": "absent"}, diff=True)]
    problems, seen = [], set()
    for result in results:
        assert not result.get("failed"), result
        found, met = check_result(result, ipvs_reuse_metrics.RETURN)
        problems += found
        seen |= met
    assert problems == []
    only_with_selinux = {"secontext"}  # Ansible adds it only where SELinux is enabled
    assert sorted(documented_paths(ipvs_reuse_metrics.RETURN) - seen - only_with_selinux) == []
