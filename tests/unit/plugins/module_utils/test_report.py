"""report.fleet_markdown: summary.md, line by line, for a small report with every kind of node (a pin, an upgrade,
an unknown host, a safe one) and for the demo fleet; table cells are escaped, next steps are shell-quoted."""
import pytest

from support import demo
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.knowledge import VERDICTS
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import NEEDS_ACTION, fleet_markdown, fleet_report

NOW = "2026-12-01T10:00:00Z"
VERDICT_TABLE = """\
| verdict | nodes | meaning |
|---|---:|---|
| not_applicable | {not_applicable} | kube-proxy does not run in IPVS mode |
| safe | {safe} | neither problem occurs |
| problem1 | {problem1} | problem 1: new connections on a reused client port go to an old, possibly deleted backend |
| problem2 | {problem2} | problem 2: the first SYN on a reused client port is dropped (about 1 s delay) |
| unknown | {unknown} | cannot be classified from the facts gathered |
"""
NODES_HEADER = ("| node | verdict | starts | mitigation | kernel | OS | kube-proxy | conn_reuse_mode (live/persisted) | why |\n"
                "|---|---|---|---|---|---|---|---|---|\n")


def facts(verdict, mitigation, starts=None, reasons=(), warnings=(), **classification):
    classification.update(verdict=verdict, mitigation=mitigation, starts=starts, reasons=list(reasons),
                          warnings=list(warnings))
    return {"kernel": {"release": "5.4.0-42-generic"}, "os": {"id": "ubuntu", "version_id": "20.04"},
            "kube_proxy": {"mode": "ipvs", "version": "v1.28.4"}, "sysctl": {"conn_reuse_mode": 0},
            "persisted": {"conn_reuse_mode": {"value": 0}}, "classification": classification}


PIN = facts("problem1", "pin_sysctl", "now", pin_value=1, pin_needs_keeper=True, warnings=["kube-proxy overrides it"],
            reasons=[{"rule": "row_3", "text": "fixed kernel, mode 0 (rows 2/3)", "confidence": "measured"},
                     {"rule": "kernel_fix", "text": "a reason that does not decide, left out of the summary"}])
UPGRADE = facts("problem2", "os_upgrade", "after_reboot", reasons=[{"rule": "decide_upgrade", "text": "no safe value"}])


def test_a_small_fleet_reads_as_expected_line_by_line():
    report = fleet_report({"n|pipe": PIN, "old": UPGRADE, "ok": facts("safe", "none"), "gone": None},
                          generated_at=NOW, cluster="prod",
                          run={"awx_job_id": 42, "awx_job_template_name": "assess", "awx_workflow_job_id": 7})
    assert fleet_markdown(report) == (
        "# IPVS connection-reuse assessment\n\n"
        "Cluster prod. Assessed 2026-12-01T10:00:00Z, 4 nodes. Written by AWX job 42 (template assess); "
        "workflow job 7.\n\n"
        "## Verdicts\n\n"
        + VERDICT_TABLE.format(not_applicable=0, safe=1, problem1=1, problem2=1, unknown=1) +
        "\n## Nodes needing action\n\n" + NODES_HEADER +
        "| gone | unknown | - | none | - | - | - | -/- | Could not be decided: no facts were gathered (host unreachable "
        "or the task failed). Supply what is missing and assess again. Reasons: no facts were gathered (host "
        "unreachable or the task failed) [no_facts]. |\n"
        "| n\\|pipe | problem1 | failing now | pin_sysctl | 5.4.0-42-generic | ubuntu 20.04 | v1.28.4 | 0/0 | New "
        "connections that reuse a client port go to the old backend, even one that was drained or deleted: requests "
        "fail after a rollout. This happens now. Fix: pin conn_reuse_mode=1; this kernel has the fix that makes that "
        "value safe. kube-proxy may set the value again when it starts, so the pin comes with a keeper that re-applies "
        "it. Reasons: fixed kernel, mode 0 (measured) [row_3]. |\n"
        "| old | problem2 | after the next reboot | os_upgrade | 5.4.0-42-generic | ubuntu 20.04 | v1.28.4 | 0/0 | The "
        "first packet (SYN) of a new connection on a reused client port is dropped: the client waits about 1 s. Not "
        "now: it starts after the next reboot. No value of conn_reuse_mode is safe on this kernel: upgrade the OS or "
        "kernel to one with the fix. Reasons: no safe value [decide_upgrade]. |\n"
        "\nThe rule ids after each reason are explained in docs/classification.md; fleet.json has every reason with "
        "its source and confidence.\n\n"
        "## What to do next\n\n"
        "- **pin_sysctl** (1: n|pipe): `ansible-playbook playbooks/mitigate.yml --limit 'n|pipe' --check --diff`, "
        "which shows what the pin would change; then run it without --check.\n"
        "- **os_upgrade** (1: old): `ansible-playbook playbooks/mitigate.yml --limit old`, which flags the nodes for "
        "an OS upgrade (role os_upgrade_flag); upgrade to Ubuntu 22.04 or a kernel >= 5.9 / a known fixed build.\n"
        "- **unknown** (1: gone): read the reasons in the JSON report; supply what is missing (for example "
        "`proxy_mode`/`kube_proxy_version`, or load ip_vs) and assess again.\n\n"
        "## Warnings\n\n"
        "- n|pipe: kube-proxy overrides it\n")


def test_a_fleet_with_nothing_to_do_says_so_and_nothing_about_an_unknown_run():
    report = fleet_report({"ok": facts("safe", "none"), "iptables": facts("not_applicable", "none")})
    assert fleet_markdown(report) == (
        "# IPVS connection-reuse assessment\n\n## Verdicts\n\n"
        + VERDICT_TABLE.format(not_applicable=1, safe=1, problem1=0, problem2=0, unknown=0) +
        "\n## Nodes needing action\n\nNone: every node is safe or not applicable.\n\n"
        "## What to do next\n\nNothing.\n")


def test_a_switch_is_a_decision_without_a_command_and_long_node_lists_are_cut():
    switch = facts("problem1", "switch_iptables", "after_kube_proxy_restart")
    names = ["node-%02d" % number for number in range(12)]
    report = fleet_report(dict((name, switch) for name in names), run={"id": "r1", "partials": ["a", "b"]})
    text = fleet_markdown(report)
    assert "Written by run r1; merged from 2 partial reports (a, b).\n" in text
    assert ("- **switch_iptables** (12: %s, ...): plan a switch to iptables mode (role kube_proxy_mode, opt-in "
            "variable kube_proxy_mode_confirm_switch=true); change the cluster's source of truth as well.\n"
            % ", ".join(names[:10])) in text
    row = "| node-00 | problem1 | after kube-proxy's next start | switch_iptables |"
    assert row in text
    assert "Not now: it starts when kube-proxy next starts. No value of conn_reuse_mode is safe on this kernel: switch " \
           "kube-proxy to iptables mode (your policy). |" in text


@pytest.mark.parametrize("value, cell", [("a|b", "a\\|b"), ("two\nlines", "two lines"), (None, "-"), (0, "0")])
def test_table_cells_escape_pipes_and_newlines(value, cell):
    node = facts("problem2", "os_upgrade", "now")
    node["kernel"]["release"] = value
    row = [line for line in fleet_markdown(fleet_report({"n1": node})).splitlines() if line.startswith("| n1 |")]
    assert row[0].startswith("| n1 | problem2 | failing now | os_upgrade | %s | ubuntu 20.04 |" % cell)


def test_the_demo_fleet_summary_lists_the_nodes_needing_action_worst_first_as_the_report_has_them():
    report = demo.report(cluster="demo")
    lines = fleet_markdown(report).splitlines()
    counts = dict((verdict, [demo.expected(name)["verdict"] for name in demo.NAMES].count(verdict)) for verdict in VERDICTS)
    assert "\n".join(lines[6:13]) + "\n" == VERDICT_TABLE.format(**counts)
    rows = [line.split(" | ") for line in lines if line.startswith("| ") and not line.startswith(("| verdict", "| node "))
            and " | " in line and line.split(" | ")[0][2:] in demo.NAMES]
    needing = [name for name in demo.NAMES if demo.expected(name)["verdict"] in NEEDS_ACTION]
    assert [row[0][2:] for row in rows] == needing  # in the report's (sorted) order
    for row in rows:
        expect = demo.expected(row[0][2:])
        assert (row[1], row[3]) == (expect["verdict"], expect["mitigation"]), row
    steps = [line for line in lines if line.startswith("- **")]
    assert [line.split("**")[1] for line in steps] == [
        step for step in ("pin_sysctl", "switch_iptables", "os_upgrade")
        if any(demo.expected(name)["mitigation"] == step for name in needing)] + ["unknown"]
