"""Helpers for the pin_sysctl role's rendered files, shared by the tests that run them (tests/integration,
tests/unit): the role's decision run on the controller in check mode, its templates rendered into a temporary
directory, and the rendered keeper run against a stand-in for /proc/sys/net/ipv4/vs. Nothing on this machine is
touched."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATES = os.path.join(REPO, "roles", "pin_sysctl", "templates")
GOLDEN = os.path.join(REPO, "tests", "integration", "golden", "pin_sysctl")
RENDERED = ("pin.conf", "keeper.sh", "keeper.service", "keeper.timer")
SWITCH = "conn_reuse_old_conntrack"
CLASSIFICATION = {"verdict": "problem2", "mitigation": "pin_sysctl", "syn_drop_fix": True, "drained_backend_fix": False,
                  "pin_value": 1, "pin_needs_keeper": True, "states": {}, "reasons": [], "warnings": []}


def facts_for(pin_sysctls, sysctl=None, persisted=None, pin=None, classification=None):
    live = {"conn_reuse_mode": 0, SWITCH: 0}
    live.update(sysctl or {})
    cls = dict(CLASSIFICATION, pin_sysctls=pin_sysctls)
    cls.update(classification or {})
    return {"kernel": {"release": "4.14.105-19-0019"}, "sysctl": live, "sysctl_errors": {},
            "persisted": persisted or {}, "pin": pin or {}, "kube_proxy": {"mode": "ipvs", "version": "v1.28.4"},
            "classification": cls}


def run_role(tmp_path, facts, extra_vars=None):
    """Run decide.yml in check mode, then render the templates with what it decided (into tmp_path/out)."""
    out = tmp_path / "out"
    out.mkdir()
    render = [{"name": "Render " + name, "check_mode": False, "ansible.builtin.template": {
        "src": os.path.join(TEMPLATES, name + ".j2"), "dest": str(out / name), "mode": "0644"}} for name in RENDERED]
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Facts as the engine returns them", "ansible.builtin.set_fact": {"ansible_facts": {"ipvs_reuse": facts}}},
        {"name": "Run the decision only", "ansible.builtin.include_role": {
            "name": "kubenode.ipvs_reuse.pin_sysctl", "tasks_from": "decide", "public": True}},
        {"name": "Publish the decision", "ansible.builtin.copy": {
            "dest": str(tmp_path / "decision.json"),
            "content": "{{ {'set': __pin_sysctl_set, 'target': __pin_sysctl_target, 'keeper': __pin_sysctl_keeper_wanted,"
                       " 'record_data': __pin_sysctl_record_data} | to_json }}"},
         "check_mode": False}] + render}]
    (tmp_path / "play.json").write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "--check",
               "-e", "ansible_python_interpreter=" + sys.executable, str(tmp_path / "play.json")]
    for name, value in (extra_vars or {}).items():
        command += ["-e", json.dumps({name: value})]
    result = subprocess.run(command, env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, check=False)
    decision = None
    if (tmp_path / "decision.json").exists():
        decision = json.loads((tmp_path / "decision.json").read_text())
    return result, decision, out


def run_keeper(tmp_path, out, live, now=None):
    """Run the rendered keeper with /proc/sys/net/ipv4/vs and the pin file replaced by files under tmp_path.

    live: the values to write into the stand-in first (the same tmp_path keeps them from run to run). now: the
    time `date +%s` tells the keeper (a stand-in `date` first on PATH), for metrics with known timestamps."""
    vs_dir = tmp_path / "vs"
    vs_dir.mkdir(exist_ok=True)
    for name, value in live.items():
        (vs_dir / name).write_text("%s\n" % value)
    script = (out / "keeper.sh").read_text()
    script = script.replace("/proc/sys/net/ipv4/vs", str(vs_dir))
    script = script.replace("/etc/sysctl.d/90-kubenode-ipvs-reuse.conf", str(out / "pin.conf"))
    (tmp_path / "keeper-test.sh").write_text(script)
    env = dict(os.environ)
    if now is not None:
        stand_in = tmp_path / "bin"
        stand_in.mkdir(exist_ok=True)
        (stand_in / "date").write_text("#!/bin/sh\necho %d\n" % now)
        (stand_in / "date").chmod(0o755)
        env["PATH"] = "%s:%s" % (stand_in, env["PATH"])
    proc = subprocess.run(["sh", str(tmp_path / "keeper-test.sh")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False, env=env, timeout=60)
    return proc, dict((name, (vs_dir / name).read_text().strip()) for name in live)
