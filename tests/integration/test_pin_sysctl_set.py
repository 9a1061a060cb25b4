"""pin_sysctl with the classification's pin_sysctls: the decision and the files it renders.

Guests cannot carry the TencentOS sysctl (net.ipv4.vs.conn_reuse_old_conntrack: Debian's kernel has no such
switch), so this runs the role's decision on the controller (connection local, check mode, nothing on this machine
is touched) with facts shaped as the engine returns them, then renders the role's own templates with the decided
variables into a temporary directory. The keeper script is run against a stand-in for /proc/sys/net/ipv4/vs.

The single-key case (every kernel but the vendor one) must render exactly the bytes the role wrote before it
learned to pin a set: tests/integration/golden/pin_sysctl holds them (rendered from the templates of commit
51cefb0, the last without multi-key support); molecule/pin_sysctl checks the same bytes on a real guest.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from support.pin_keeper import GOLDEN, RENDERED, SWITCH, facts_for, run_keeper, run_role  # noqa: E402


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


def metrics_of(path):
    """{sample name with labels: value} of a keeper metrics file, parsed as Prometheus does (prometheus_client)."""
    from prometheus_client.parser import text_string_to_metric_families
    found = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            labels = ",".join('%s="%s"' % pair for pair in sorted(sample.labels.items()))
            found["%s{%s}" % (sample.name, labels) if labels else sample.name] = sample.value
    return found


def corrections(name):
    return 'ipvs_reuse_keeper_corrections_total{sysctl="net.ipv4.vs.%s"}' % name


def last_correction(name):
    return 'ipvs_reuse_keeper_last_correction_timestamp_seconds{sysctl="net.ipv4.vs.%s"}' % name


CHECKED = "ipvs_reuse_keeper_last_check_timestamp_seconds"


def test_single_key_keeper_counts_its_corrections_in_a_textfile(tmp_path):
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    result, _decision, out = run_role(tmp_path, facts_for({"conn_reuse_mode": 1}),
                                      {"pin_sysctl_keeper_textfile_dir": str(textfile_dir)})
    assert result.returncode == 0, result.stdout[-3000:]
    prom = textfile_dir / "ipvs_reuse_keeper.prom"
    # a check with nothing to correct: counter 0, no correction time yet
    proc, live = run_keeper(tmp_path, out, {"conn_reuse_mode": 1}, now=1000)
    assert proc.returncode == 0 and proc.stdout == "" and live == {"conn_reuse_mode": "1"}
    assert metrics_of(prom) == {corrections("conn_reuse_mode"): 0, CHECKED: 1000}
    # kube-proxy wrote 0: corrected, logged as before, counted
    proc, live = run_keeper(tmp_path, out, {"conn_reuse_mode": 0}, now=1010)
    assert proc.returncode == 0 and live == {"conn_reuse_mode": "1"}
    assert proc.stdout == ("<4>corrected net.ipv4.vs.conn_reuse_mode from 0 to 1 (pinned in %s; kube-proxy or another "
                           "writer changed it)\n" % (out / "pin.conf"))
    assert metrics_of(prom) == {corrections("conn_reuse_mode"): 1, last_correction("conn_reuse_mode"): 1010, CHECKED: 1010}
    # a later check keeps the count and the correction time; another correction counts on from the file
    run_keeper(tmp_path, out, {}, now=1020)
    assert metrics_of(prom) == {corrections("conn_reuse_mode"): 1, last_correction("conn_reuse_mode"): 1010, CHECKED: 1020}
    run_keeper(tmp_path, out, {"conn_reuse_mode": 0}, now=1030)
    assert metrics_of(prom) == {corrections("conn_reuse_mode"): 2, last_correction("conn_reuse_mode"): 1030, CHECKED: 1030}
    assert oct(prom.stat().st_mode & 0o777) == "0o644"
    assert sorted(path.name for path in textfile_dir.iterdir()) == ["ipvs_reuse_keeper.prom"]  # no temporary file left


def test_multi_key_keeper_counts_each_sysctl(tmp_path):
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    result, _decision, out = run_role(tmp_path, facts_for({"conn_reuse_mode": 1, SWITCH: 1}),
                                      {"pin_sysctl_keeper_textfile_dir": str(textfile_dir) + "/"})
    assert result.returncode == 0, result.stdout[-3000:]
    run_keeper(tmp_path, out, {"conn_reuse_mode": 0, SWITCH: 0}, now=50)
    proc, after = run_keeper(tmp_path, out, {"conn_reuse_mode": 0, SWITCH: 1}, now=60)
    assert proc.returncode == 0 and after == {"conn_reuse_mode": "1", SWITCH: "1"}
    assert metrics_of(textfile_dir / "ipvs_reuse_keeper.prom") == {
        corrections("conn_reuse_mode"): 2, last_correction("conn_reuse_mode"): 60,
        corrections(SWITCH): 1, last_correction(SWITCH): 50, CHECKED: 60}


def test_without_the_directory_the_keeper_writes_nothing_and_still_keeps_the_pin(tmp_path):
    missing = tmp_path / "no-such-dir"
    result, _decision, out = run_role(tmp_path, facts_for({"conn_reuse_mode": 1}),
                                      {"pin_sysctl_keeper_textfile_dir": str(missing)})
    assert result.returncode == 0, result.stdout[-3000:]
    proc, live = run_keeper(tmp_path, out, {"conn_reuse_mode": 0}, now=5)
    assert proc.returncode == 0 and live == {"conn_reuse_mode": "1"}
    assert proc.stdout.startswith("<4>corrected net.ipv4.vs.conn_reuse_mode from 0 to 1") and proc.stdout.count("\n") == 1
    assert not missing.exists()


@pytest.mark.parametrize("hostile", ["fifo", "symlink", "garbage", "directory"])
def test_a_hostile_textfile_neither_hangs_nor_leaks_nor_stops_the_pin(tmp_path, hostile):
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    prom = textfile_dir / "ipvs_reuse_keeper.prom"
    elsewhere = tmp_path / "elsewhere.prom"
    elsewhere.write_text('ipvs_reuse_keeper_corrections_total{sysctl="net.ipv4.vs.conn_reuse_mode"} 41\n')
    if hostile == "fifo":
        os.mkfifo(str(prom))
    elif hostile == "symlink":
        prom.symlink_to(elsewhere)
    elif hostile == "garbage":
        prom.write_text('ipvs_reuse_keeper_corrections_total{sysctl="net.ipv4.vs.conn_reuse_mode"} 99999999999999999999\n'
                        + "x" * 200000 + "\n")
    else:
        prom.mkdir()
    result, _decision, out = run_role(tmp_path, facts_for({"conn_reuse_mode": 1}),
                                      {"pin_sysctl_keeper_textfile_dir": str(textfile_dir)})
    assert result.returncode == 0, result.stdout[-3000:]
    proc, live = run_keeper(tmp_path, out, {"conn_reuse_mode": 0}, now=7)  # run_keeper times out rather than hang
    assert proc.returncode == 0 and live == {"conn_reuse_mode": "1"}, proc.stdout
    assert elsewhere.read_text().endswith(" 41\n")  # never written through the link
    if hostile == "directory":
        assert prom.is_dir() and "not writing keeper metrics: %s is a directory" % prom in proc.stdout
    else:
        # not read (a FIFO, a link) or not believed (an out-of-range count): the count starts again
        assert prom.is_file() and not prom.is_symlink()
        assert metrics_of(prom)[corrections("conn_reuse_mode")] == 1


def test_single_key_keeper_with_a_textfile_renders_the_reviewed_bytes(tmp_path):
    """The keeper with metrics, for the directory node_exporter's Debian package reads: the golden file is the
    script reviewed when the metrics were added (the default, without a directory, stays keeper.sh above)."""
    result, _decision, out = run_role(tmp_path, facts_for({"conn_reuse_mode": 1}),
                                      {"pin_sysctl_keeper_textfile_dir": "/var/lib/prometheus/node-exporter"})
    assert result.returncode == 0, result.stdout[-3000:]
    with open(os.path.join(GOLDEN, "keeper-textfile.sh"), "rb") as golden:
        assert (out / "keeper.sh").read_bytes() == golden.read()
