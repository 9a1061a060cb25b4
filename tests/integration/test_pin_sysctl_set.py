"""pin_sysctl with the classification's pin_sysctls: the decision and the files it renders.

Guests cannot carry the TencentOS sysctl (net.ipv4.vs.conn_reuse_old_conntrack: Debian's kernel has no such
switch), so this runs the role's decision on the controller (connection local, check mode, nothing on this machine
is touched) with facts shaped as the engine returns them, then renders the role's own templates with the decided
variables into a temporary directory. The keeper script is run against a stand-in for /proc/sys/net/ipv4/vs.

The single-key case (every kernel but the vendor one) must render exactly the bytes the role wrote before it
learned to pin a set: tests/integration/golden/pin_sysctl holds them (rendered from the templates of commit
51cefb0, the last without multi-key support); molecule/pin_sysctl checks the same bytes on a real guest.
"""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATES = os.path.join(REPO, "roles", "pin_sysctl", "templates")
GOLDEN = os.path.join(REPO, "tests", "integration", "golden", "pin_sysctl")
RENDERED = ("pin.conf", "keeper.sh", "keeper.service", "keeper.timer")
SWITCH = "conn_reuse_old_conntrack"
CLASSIFICATION = {"verdict": "problem2", "mitigation": "pin_sysctl", "kernel_fix": True, "weight0_fix": False,
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


def run_keeper(tmp_path, out, live):
    """Run the rendered keeper with /proc/sys/net/ipv4/vs and the pin file replaced by files under tmp_path."""
    vs_dir = tmp_path / "vs"
    vs_dir.mkdir()
    for name, value in live.items():
        (vs_dir / name).write_text("%s\n" % value)
    script = (out / "keeper.sh").read_text()
    script = script.replace("/proc/sys/net/ipv4/vs", str(vs_dir))
    script = script.replace("/etc/sysctl.d/90-kubenode-ipvs-reuse.conf", str(out / "pin.conf"))
    (tmp_path / "keeper-test.sh").write_text(script)
    proc = subprocess.run(["sh", str(tmp_path / "keeper-test.sh")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    return proc, dict((name, (vs_dir / name).read_text().strip()) for name in live)


def test_single_key_renders_the_bytes_of_before(tmp_path):
    result, decision, out = run_role(tmp_path, facts_for({"conn_reuse_mode": 1}))
    assert result.returncode == 0, result.stdout[-3000:]
    assert decision == {"set": {"conn_reuse_mode": 1}, "target": 1, "keeper": True, "record_data": {"conn_reuse_mode": 0}}
    for name in RENDERED:
        with open(os.path.join(GOLDEN, name), "rb") as golden:
            assert (out / name).read_bytes() == golden.read(), name


def test_single_key_keeper_corrects_and_logs_as_before(tmp_path):
    result, _decision, out = run_role(tmp_path, facts_for({"conn_reuse_mode": 1}))
    assert result.returncode == 0, result.stdout[-3000:]
    proc, live = run_keeper(tmp_path, out, {"conn_reuse_mode": 0})
    assert proc.returncode == 0 and live == {"conn_reuse_mode": "1"}
    assert proc.stdout == ("<4>corrected net.ipv4.vs.conn_reuse_mode from 0 to 1 (pinned in %s; kube-proxy or another "
                           "writer changed it)\n" % (out / "pin.conf"))


def test_switch_off_pins_the_switch_as_well(tmp_path):
    result, decision, out = run_role(tmp_path, facts_for({"conn_reuse_mode": 1, SWITCH: 1}))
    assert result.returncode == 0, result.stdout[-3000:]
    assert decision["set"] == {"conn_reuse_mode": 1, SWITCH: 1}
    assert decision["record_data"] == {"conn_reuse_mode": 0, SWITCH: 0}
    pin = (out / "pin.conf").read_text()
    assert pin.endswith("net.ipv4.vs.conn_reuse_mode = 1\nnet.ipv4.vs.%s = 1\n" % SWITCH)
    service = (out / "keeper.service").read_text()
    assert "Keep net.ipv4.vs.conn_reuse_mode and net.ipv4.vs.%s pinned" % SWITCH in service
    assert "net.ipv4.vs.%s pin every" % SWITCH in (out / "keeper.timer").read_text()


@pytest.mark.parametrize("live, logged", [
    ({"conn_reuse_mode": "0", SWITCH: "0"}, ["conn_reuse_mode from 0 to 1", SWITCH + " from 0 to 1"]),
    ({"conn_reuse_mode": "1", SWITCH: "0"}, [SWITCH + " from 0 to 1"]),
    ({"conn_reuse_mode": "0", SWITCH: "1"}, ["conn_reuse_mode from 0 to 1"]),
    ({"conn_reuse_mode": "1", SWITCH: "1"}, []),
])
def test_multi_key_keeper_checks_and_corrects_each(tmp_path, live, logged):
    result, _decision, out = run_role(tmp_path, facts_for({"conn_reuse_mode": 1, SWITCH: 1}))
    assert result.returncode == 0, result.stdout[-3000:]
    proc, after = run_keeper(tmp_path, out, live)
    assert proc.returncode == 0, proc.stdout
    assert after == {"conn_reuse_mode": "1", SWITCH: "1"}
    expected = ["<4>corrected net.ipv4.vs.%s (pinned in %s; kube-proxy or another writer changed it)"
                % (text, out / "pin.conf") for text in logged]
    assert proc.stdout.splitlines() == expected


def test_multi_key_keeper_reports_a_value_missing_from_the_pin_file(tmp_path):
    result, _decision, out = run_role(tmp_path, facts_for({"conn_reuse_mode": 1, SWITCH: 1}))
    assert result.returncode == 0, result.stdout[-3000:]
    pin = out / "pin.conf"
    pin.write_text(pin.read_text().replace("net.ipv4.vs.%s = 1\n" % SWITCH, ""))
    proc, after = run_keeper(tmp_path, out, {"conn_reuse_mode": "0", SWITCH: "0"})
    assert proc.returncode == 1
    assert after == {"conn_reuse_mode": "1", SWITCH: "0"}
    assert "<3>no net.ipv4.vs.%s value in %s: nothing to keep" % (SWITCH, pin) in proc.stdout


def test_a_kernel_without_the_switch_is_refused(tmp_path):
    facts = facts_for({"conn_reuse_mode": 1, SWITCH: 1}, sysctl={SWITCH: None})
    result, decision, _out = run_role(tmp_path, facts)
    assert result.returncode == 2 and decision is None, result.stdout[-3000:]
    assert "has no /proc/sys/net/ipv4/vs/%s, so it cannot be pinned" % SWITCH in result.stdout
    assert "Nothing was changed" in result.stdout


def test_a_sysctl_the_role_does_not_know_is_refused(tmp_path):
    facts = facts_for({"conn_reuse_mode": 1, "conntrack": 0}, sysctl={"conntrack": 1})
    result, decision, _out = run_role(tmp_path, facts)
    assert result.returncode == 2 and decision is None, result.stdout[-3000:]
    assert "not conntrack" in result.stdout and "Nothing was changed" in result.stdout


def test_a_later_file_that_turns_the_switch_off_at_boot_is_refused(tmp_path):
    facts = facts_for({"conn_reuse_mode": 1, SWITCH: 1},
                      persisted={SWITCH: {"value": "0", "file": "/etc/sysctl.d/99-vendor.conf"}})
    result, decision, _out = run_role(tmp_path, facts)
    assert result.returncode == 2 and decision is None, result.stdout[-3000:]
    assert "/etc/sysctl.d/99-vendor.conf sets net.ipv4.vs.%s=0" % SWITCH in result.stdout


def test_an_earlier_file_with_the_switch_off_is_overridden_by_the_pin(tmp_path):
    facts = facts_for({"conn_reuse_mode": 1, SWITCH: 1},
                      persisted={SWITCH: {"value": "0", "file": "/etc/sysctl.d/10-vendor.conf"}})
    result, decision, _out = run_role(tmp_path, facts)
    assert result.returncode == 0, result.stdout[-3000:]
    assert decision["set"] == {"conn_reuse_mode": 1, SWITCH: 1}


def test_a_second_run_keeps_the_switch_from_its_own_pin_file(tmp_path):
    # After the first run the node is safe: the classification proposes no pin, the role keeps its own.
    pin_file = "/etc/sysctl.d/90-kubenode-ipvs-reuse.conf"
    facts = facts_for(None, sysctl={"conn_reuse_mode": 1, SWITCH: 1},
                      persisted={"conn_reuse_mode": {"value": "1", "file": pin_file},
                                 SWITCH: {"value": "1", "file": pin_file}},
                      pin={"file": pin_file, "value": 1, "keeper": True},
                      classification={"verdict": "safe", "mitigation": "none", "pin_value": None, "pin_needs_keeper": None})
    result, decision, out = run_role(tmp_path, facts)
    assert result.returncode == 0, result.stdout[-3000:]
    assert decision["set"] == {"conn_reuse_mode": 1, SWITCH: 1} and decision["keeper"] is True
    assert (out / "pin.conf").read_text().endswith("net.ipv4.vs.%s = 1\n" % SWITCH)


@pytest.mark.parametrize("forced", [0, 1])
def test_a_forced_value_applies_to_conn_reuse_mode_and_keeps_the_switch(tmp_path, forced):
    result, decision, _out = run_role(tmp_path, facts_for({"conn_reuse_mode": 1, SWITCH: 1}),
                                      {"pin_sysctl_force": True, "pin_sysctl_value": forced})
    assert result.returncode == 0, result.stdout[-3000:]
    assert decision["set"] == {"conn_reuse_mode": forced, SWITCH: 1}


def test_a_value_other_than_the_safe_one_is_still_refused(tmp_path):
    result, decision, _out = run_role(tmp_path, facts_for({"conn_reuse_mode": 1, SWITCH: 1}), {"pin_sysctl_value": 0})
    assert result.returncode == 2 and decision is None, result.stdout[-3000:]
    assert "only 1 is safe" in result.stdout
