"""ipvs_facts' lean transport: the same result as the module, a warned fallback, and clear errors.

The program is run directly with this Python (fast), then through ansible (connection local) on the demo
fleet, against the module transport, with fake node Pythons that are too old, print garbage, exit 1 or do
not exist.
"""
import json
import os
import subprocess
import sys

import pytest

from support import fleetgen
from support.demo_playbook import run_playbook
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.gather import gather
from ansible_collections.kubenode.ipvs_reuse.plugins.plugin_utils import lean_payload

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
UTILS = lean_payload.UTILS
PARAMS = {"root": os.path.join(REPO, "demo", "nodes", "debian11-persisted0"), "proxy_mode": None,
          "kube_proxy_version": None, "metrics_url": "", "gather_timeout": 15.0, "policy": {}, "cluster": None,
          "cluster_node_name": None, "transport": "auto"}


def run_program(program, cwd=None, python=sys.executable):
    run = subprocess.run([python, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                         universal_newlines=True, check=False, env={"PATH": os.environ.get("PATH", "")})
    return run.returncode, run.stdout, run.stderr


# The program on its own

def test_payload_carries_the_gatherer_and_what_it_imports_but_nothing_of_ansible():
    sources = lean_payload.embedded_sources()
    assert sorted(sources) == [UTILS + ".gather", UTILS + ".knowledge", UTILS + ".node_gather", UTILS + ".versions"]
    for name, text in sources.items():
        with open(os.path.join(REPO, "plugins", "module_utils", name.rsplit(".", 1)[1] + ".py")) as handle:
            assert text == handle.read()  # read from the installed files at run time, not a copy
    program = lean_payload.node_program(PARAMS)
    assert "AnsibleModule" not in program and len(program) < 40 * 1024


def test_an_import_only_ansiballz_carries_refuses_the_lean_transport():
    with pytest.raises(lean_payload.LeanUnavailable, match="ansible.module_utils.urls"):
        lean_payload._dependencies("import os\n    from ansible.module_utils.urls import open_url  # late\n")
    with pytest.raises(lean_payload.LeanUnavailable, match="ansible_collections.other.coll.plugins.module_utils.x"):
        lean_payload._dependencies("import json, ansible_collections.other.coll.plugins.module_utils.x as x\n")
    text = ("from __future__ import absolute_import\nimport os, re\nfrom . import knowledge as K\n"
            "from %s import (\n    versions,\n    metrics as M,\n)\nfrom .report import render  # why\n" % UTILS)
    assert lean_payload._dependencies(text) == set(UTILS + "." + name for name in ("knowledge", "versions", "metrics", "report"))


def test_program_prints_the_module_result(tmp_path):
    # a json.py in the working directory must not shadow the standard library's (-c puts "" on sys.path)
    (tmp_path / "json.py").write_text("raise SystemExit('shadowed')\n")
    code, stdout, stderr = run_program(lean_payload.node_program(PARAMS), cwd=str(tmp_path))
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["changed"] is False
    assert result["ansible_facts"]["ipvs_reuse"] == json.loads(json.dumps(gather(PARAMS["root"], metrics_url="")))
    assert result["invocation"] == {"module_args": PARAMS}


def test_program_expands_the_root_on_the_node(tmp_path):
    params = dict(PARAMS, root="$LEAN_TEST_ROOT")
    run = subprocess.run([sys.executable, "-c", lean_payload.node_program(params)], stdout=subprocess.PIPE,
                         universal_newlines=True, env={"LEAN_TEST_ROOT": PARAMS["root"]}, check=True)
    assert json.loads(run.stdout)["ansible_facts"]["ipvs_reuse"]["root"] == PARAMS["root"]


def test_root_that_is_not_a_directory_fails_as_with_the_module(tmp_path):
    code, stdout, unused_stderr = run_program(lean_payload.node_program(dict(PARAMS, root=str(tmp_path / "none"))))
    assert code == 0
    assert json.loads(stdout)["msg"] == "root %s is not a directory: give the node's root file system" % (tmp_path / "none")


def test_a_gatherer_crash_is_a_failed_result_with_the_traceback():
    sources = lean_payload.embedded_sources()
    sources[UTILS + ".gather"] += "\n\ndef gather(**unused):\n    raise KeyError('boom')\n"
    code, stdout, unused_stderr = run_program(lean_payload.node_program(PARAMS, sources))
    result = json.loads(stdout)
    assert code == 0 and result["failed"] is True
    assert result["msg"] == "the ipvs_facts gatherer crashed on the node: KeyError: 'boom'"
    assert "raise KeyError('boom')" in result["exception"] or "KeyError: 'boom'" in result["exception"]


def test_bootstrap_answers_too_old_before_reading_the_program():
    # the same bootstrap with a bar no Python reaches stands in for an old Python (and its program is never decoded)
    program = lean_payload.BOOTSTRAP % {"min": (99, 0), "too_old": lean_payload.TOO_OLD_KEY, "program": "!!not base64",
                                        "params": "None"}
    code, stdout, unused_stderr = run_program(program)
    assert code == 0
    assert json.loads(stdout) == {lean_payload.TOO_OLD_KEY: "%d.%d.%d" % sys.version_info[:3]}


@pytest.mark.parametrize("stdout, found", [
    ('Welcome to node1\n{"changed": false}\n', {"changed": False}),
    ('{"a": 1}\n{"changed": false}\n', {"changed": False}),
    ("garbage\n", None),
    ('{"truncated": \n', None),
    ("[1, 2]\n", None),
    ("", None),
])
def test_last_json_object(stdout, found):
    assert lean_payload.last_json_object(stdout) == found


# Through ansible

FAKE_PYTHONS = {
    # pretends to be Python 3.6 for the lean bootstrap and runs the real Python for the module
    "old": '#!/bin/sh\nif [ "$1" = "-S" ]; then echo \'{"%s": "3.6.9"}\'; exit 0; fi\nexec %s "$@"\n'
           % (lean_payload.TOO_OLD_KEY, sys.executable),
    "garbage": "#!/bin/sh\necho 'this is not JSON'\n",
    "exits1": "#!/bin/sh\necho 'Fatal Python error: init_fs_encoding' >&2\nexit 1\n",
}


def facts_task(name, transport, **args):
    options = dict({"root": "{{ assess_node_root }}", "metrics_url": "", "transport": transport,
                    "proxy_mode": "{{ assess_proxy_mode | default(omit) }}",
                    "kube_proxy_version": "{{ assess_kube_proxy_version | default(omit) }}"}, **args)
    return {"name": name, "kubenode.ipvs_reuse.ipvs_facts": options}


def test_lean_and_module_give_the_same_result_on_the_demo_fleet(tmp_path):
    """Every demo node, lean (pipelining off: python -c) and module: the whole task result is the same."""
    results = run_playbook(tmp_path, [facts_task("lean", "auto"), facts_task("module", "module"),
                                      dict(facts_task("lean, check mode", "auto"), check_mode=True)])
    assert sorted(results["lean"]) == sorted(fleetgen.DEMO_FLEET)
    for node, lean in results["lean"].items():
        assert lean == results["module"][node], node
        assert lean == results["lean, check mode"][node], node
        assert "warnings" not in lean and lean["ansible_facts"]["ipvs_reuse"]["classification"]["verdict"] == \
            fleetgen.DEMO_FLEET[node]["expect"]["verdict"]


def test_lean_with_pipelining_gives_the_same_result(tmp_path):
    """Pipelining on: the program goes on the Python's stdin instead of its command line. The task's environment
    reaches the node's Python, and the root is expanded there (as AnsibleModule's path type does)."""
    environment = {"environment": {"LEAN_TEST_ROOT": "{{ assess_node_root }}"}}
    tasks = [dict(facts_task("lean", "auto"), vars={"ansible_pipelining": True}), facts_task("module", "module"),
             dict(facts_task("lean, environment", "auto", root="$LEAN_TEST_ROOT"), **environment),
             dict(facts_task("module, environment", "module", root="$LEAN_TEST_ROOT"), **environment)]
    results = run_playbook(tmp_path, tasks, limit="debian11-persisted0,garbled-sysctl")
    assert sorted(results["lean"]) == ["debian11-persisted0", "garbled-sysctl"]
    for node, lean in results["lean"].items():
        assert lean == results["module"][node], node
        assert results["lean, environment"][node] == results["module, environment"][node], node
        facts = results["lean, environment"][node]["ansible_facts"]["ipvs_reuse"]
        assert facts["root"] == lean["ansible_facts"]["ipvs_reuse"]["root"] == os.path.join(REPO, "demo", "nodes", node)


def test_lean_with_become_runs_as_the_become_user(tmp_path):
    """become (su to nobody, a user that cannot read /root) wraps the lean command as any command."""
    if not os.path.exists("/usr/bin/su") or not os.path.exists("/usr/bin/python3") or os.getuid() != 0:
        pytest.skip("needs root, su and /usr/bin/python3 for an unprivileged become user")
    become = dict(become=True, become_method="ansible.builtin.su", become_user="nobody", become_flags="-s /bin/sh",
                  vars={"ansible_python_interpreter": "/usr/bin/python3"})
    tasks = [dict(facts_task("lean", "auto"), **become), dict(facts_task("module", "module"), **become),
             dict(facts_task("lean, root ~", "auto", root="~"), ignore_errors=True, **become),
             dict({"name": "who", "ansible.builtin.command": "id -un"}, **become)]
    results = run_playbook(tmp_path, tasks, limit="debian11-persisted0")
    assert results["who"]["debian11-persisted0"]["stdout"] == "nobody"
    lean = results["lean"]["debian11-persisted0"]
    assert not lean.get("failed"), lean
    module = results["module"]["debian11-persisted0"]
    # the module's own noise: AnsiballZ could not use nobody's home for its temporary files
    assert [warning for warning in module.pop("warnings", []) if "temporary" not in warning] == []
    assert lean == module
    home = subprocess.check_output(["getent", "passwd", "nobody"], universal_newlines=True).split(":")[5]
    # ~ is expanded on the node, as the become user: nobody's home (which does not exist: root is not a directory)
    assert results["lean, root ~"]["debian11-persisted0"]["msg"] == \
        "root %s is not a directory: give the node's root file system" % home


def test_too_old_python_falls_back_to_the_module_with_one_warning(tmp_path):
    python = tmp_path / "python3.6"
    python.write_text(FAKE_PYTHONS["old"])
    python.chmod(0o755)
    results = run_playbook(tmp_path, [dict(facts_task("auto", "auto"), vars={"ansible_python_interpreter": str(python)}),
                                      facts_task("module", "module")], limit="debian11-persisted0")
    fallback = results["auto"]["debian11-persisted0"]
    assert fallback.pop("warnings") == [
        "ipvs_facts runs the module instead of its lean transport: the node's Python %s (3.6.9) is older than the 3.8 "
        "the lean transport needs; transport=module (role assess: assess_facts_transport=module) skips the attempt"
        % python]
    assert fallback == results["module"]["debian11-persisted0"]


@pytest.mark.parametrize("fake, message", [
    ("garbage", "the node's Python {python} printed no JSON result (first bytes: 'this is not JSON\\n')"),
    ("exits1", "the node's Python {python} exited with status 1 and no result: Fatal Python error: init_fs_encoding"),
    (None, "no usable Python at {python} on the node (exit status 127: "),
])
def test_node_python_errors_are_clear(tmp_path, fake, message):
    python = tmp_path / ("python-%s" % fake)
    if fake:
        python.write_text(FAKE_PYTHONS[fake])
        python.chmod(0o755)
    results = run_playbook(tmp_path, [dict(facts_task("lean", "auto"), vars={"ansible_python_interpreter": str(python)})],
                           limit="debian11-persisted0")
    result = results["lean"]["debian11-persisted0"]
    assert result["failed"] is True
    assert result["msg"].startswith(message.format(python=python)), result["msg"]
    assert "ansible_facts" not in result


def test_options_are_checked_on_the_controller(tmp_path):
    """A wrong option fails before the node is contacted: the node's Python here does not exist."""
    tasks = [dict(facts_task("bad timeout", "auto", gather_timeout="soon")),
             dict(facts_task("unknown option", "auto", colour="blue")),
             dict(facts_task("bad transport", "ssh-please"))]
    for task in tasks:
        task.update(vars={"ansible_python_interpreter": "/nonexistent/python3"}, ignore_errors=True)
    results = run_playbook(tmp_path, tasks, limit="debian11-persisted0")
    messages = dict((name, hosts["debian11-persisted0"]["msg"]) for name, hosts in results.items())
    assert messages["bad timeout"].startswith("argument 'gather_timeout' is of type")
    assert messages["unknown option"].startswith("Unsupported parameters for (kubenode.ipvs_reuse.ipvs_facts) module: colour.")
    assert messages["bad transport"].startswith("value of transport must be one of: auto, module, got: ssh-please")


def test_delegate_to_runs_with_the_delegated_hosts_python(tmp_path):
    """The task's host has no usable Python; delegated to a host that has one, the lean transport uses that one."""
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {
        "broken": {"ansible_python_interpreter": "/nonexistent/python3", "assess_node_root": PARAMS["root"]},
        "helper": {"ansible_python_interpreter": sys.executable}}}}))
    task = dict(facts_task("delegated", "auto"), delegate_to="helper")
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"hosts": "broken", "gather_facts": False, "tasks": [task]}]))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory),
                          str(playbook), "-e", "ansible_connection=local"], env=env, cwd=str(tmp_path),
                         stdout=subprocess.PIPE, universal_newlines=True, check=False)
    result = json.loads(run.stdout)["plays"][0]["tasks"][0]["hosts"]["broken"]
    assert not result.get("failed"), result
    assert result["ansible_facts"]["ipvs_reuse"]["root"] == PARAMS["root"]
