# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet report: turn per-node facts into records, a summary and Markdown. Pure functions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge as K
except ImportError:  # pragma: no cover - direct import from a checkout
    from . import knowledge as K  # type: ignore

REPORT_SCHEMA = 1
NEEDS_ACTION = ("problem1", "problem2", "unknown")
NEXT_STEPS = {
    "pin_sysctl": "ansible-playbook playbooks/mitigate.yml --limit '{nodes}' --check --diff, then without --check",
    "switch_iptables": "plan a switch to iptables mode (role kube_proxy_mode, opt-in variable "
                       "kube_proxy_mode_confirm_switch=true); change the cluster's source of truth as well",
    "os_upgrade": "ansible-playbook playbooks/mitigate.yml --limit '{nodes}' flags the nodes for an OS upgrade "
                  "(role os_upgrade_flag); upgrade to Ubuntu 22.04 or a kernel >= 5.9 / a known fixed build",
}


def dig(data, *keys):
    """data[k1][k2]...; None where a level is missing or not a dict."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def node_record(name, facts, failure=None):
    """One report record: the headline values, the reasons, and the facts they came from."""
    classification = dig(facts, "classification") or {}
    if not isinstance(facts, dict) or not classification:
        reason = failure or "no facts were gathered (host unreachable or the task failed)"
        return {"node": name, "verdict": "unknown", "mitigation": "none", "kernel_fix": None,
                "kernel": None, "os": None, "proxy_mode": None, "kube_proxy_version": None,
                "conn_reuse_mode": None, "conntrack": None, "expire_nodest_conn": None,
                "persisted_conn_reuse_mode": None, "pin_value": None, "pin_needs_keeper": None,
                "reasons": [{"rule": "no_facts", "text": reason, "source": "ansible run"}],
                "starts": None, "warnings": [], "missing": [], "facts": None}
    os_name = " ".join(str(part) for part in (dig(facts, "os", "id"), dig(facts, "os", "version_id")) if part)
    persisted = dig(facts, "persisted", "conn_reuse_mode", "value")
    return {
        "node": name,
        "verdict": classification.get("verdict", "unknown"),
        "mitigation": classification.get("mitigation", "none"),
        "kernel_fix": classification.get("kernel_fix"),
        "kernel": dig(facts, "kernel", "release"),
        "os": os_name or None,
        "proxy_mode": dig(facts, "kube_proxy", "mode"),
        "kube_proxy_version": dig(facts, "kube_proxy", "version"),
        "conn_reuse_mode": dig(facts, "sysctl", "conn_reuse_mode"),
        "conntrack": dig(facts, "sysctl", "conntrack"),
        "expire_nodest_conn": dig(facts, "sysctl", "expire_nodest_conn"),
        "persisted_conn_reuse_mode": persisted,
        "pin_value": classification.get("pin_value"),
        "pin_needs_keeper": classification.get("pin_needs_keeper"),
        # absent from engines before `starts` existed: the report then says nothing about when, rather than guess
        "starts": classification.get("starts"),
        "reasons": classification.get("reasons", []),
        "warnings": classification.get("warnings", []),
        "missing": facts.get("missing", []),
        "facts": dict((key, value) for key, value in facts.items() if key != "classification"),
    }


def fleet_report(nodes, generated_at=None, failures=None):
    """nodes: {name: ipvs_reuse facts or None}. Returns the report dict (JSON-ready)."""
    failures = failures or {}
    return _report_of([node_record(name, nodes[name], failures.get(name)) for name in sorted(nodes)], generated_at)


def _report_of(records, generated_at):
    counts = dict((verdict, 0) for verdict in K.VERDICTS)
    mitigations = dict((mitigation, 0) for mitigation in K.MITIGATIONS)
    for record in records:
        counts[record["verdict"]] = counts.get(record["verdict"], 0) + 1
        mitigations[record["mitigation"]] = mitigations.get(record["mitigation"], 0) + 1
    return {
        "schema": REPORT_SCHEMA,
        "generated_at": generated_at,
        "summary": {"nodes": len(records), "verdicts": counts, "mitigations": mitigations,
                    "needing_action": sum(1 for record in records if record["verdict"] in NEEDS_ACTION)},
        "nodes": records,
    }


def _partial_name(partial, index):
    return str(partial.get("partial") or partial.get("slice") or "partial %d" % (index + 1))


def merge_reports(partials):
    """One fleet report from the reports of parts of the fleet (sliced jobs): the same report an unsliced run over
    the union gives, with the latest generated_at. Raises ValueError for anything that cannot be merged safely:
    a partial that is not a report, partials of different schema versions, or one node with different data."""
    if not isinstance(partials, (list, tuple)) or not partials:
        raise ValueError("merge needs a non-empty list of fleet reports")
    records, origin, stamps = {}, {}, []
    for index, partial in enumerate(partials):
        name = _partial_name(partial, index) if isinstance(partial, dict) else "partial %d" % (index + 1)
        if not isinstance(partial, dict) or not isinstance(partial.get("nodes"), list):
            raise ValueError("%s is not a fleet report (a dict with 'schema' and 'nodes')" % name)
        if partial.get("schema") != REPORT_SCHEMA:
            raise ValueError("%s has report schema %r, this collection writes and merges schema %d: assess every "
                             "slice with the same collection version" % (name, partial.get("schema"), REPORT_SCHEMA))
        if partial.get("generated_at"):
            stamps.append(str(partial["generated_at"]))
        for record in partial["nodes"]:
            if not isinstance(record, dict) or "node" not in record or "verdict" not in record:
                raise ValueError("%s has a node record without 'node' and 'verdict'" % name)
            node = record["node"]
            if node in records and records[node] != record:
                raise ValueError("node %s is in %s and %s with different data: the slices overlap and were "
                                 "assessed at different times; merge partials of one run" % (node, origin[node], name))
            records.setdefault(node, record)
            origin.setdefault(node, name)
    return _report_of([records[node] for node in sorted(records)], max(stamps) if stamps else None)


# Nodes listed by name in the set_stats digest. AWX keeps the digest in the job's artifacts and its UI slows down on
# large ones; the counts stay complete and the full list is in fleet.json.
DIGEST_MAX_NODES = 200


def report_stats(report, max_nodes=DIGEST_MAX_NODES):
    """A digest for set_stats (AWX artifacts): the complete counts and up to max_nodes nodes needing action, worst
    first, with a note when the list was cut."""
    needing = [record for record in report["nodes"] if record["verdict"] in NEEDS_ACTION]
    needing.sort(key=lambda record: (NEEDS_ACTION.index(record["verdict"]), str(record["node"])))
    limit = max(0, int(max_nodes))
    digest = {
        "summary": report["summary"],
        "needing_action": [dict((key, record.get(key)) for key in ("node", "verdict", "mitigation", "kernel", "starts"))
                           for record in needing[:limit]],
    }
    if len(needing) > limit:
        digest["needing_action_cut"] = ("%d of %d nodes needing action are listed (worst first); the counts are "
                                        "complete, and fleet.json lists every node" % (limit, len(needing)))
    return digest


def _cell(value):
    if value is None:
        return "-"
    return str(value).replace("|", "\\|").replace("\n", " ")


DECIDING_RULES = ("live_state", "after_", "row", "decide", "no_facts", "mode_unknown", "kernel_unknown", "internal")


# Present versus latent: "at risk after a restart" must not read as "failing now".
STARTS_TEXT = {"now": "failing now", "after_kube_proxy_restart": "after kube-proxy's next start",
               "after_reboot": "after the next reboot"}


def starts_text(record):
    """When the record's problem appears, in words; "-" when the engine did not say (safe, or an older engine)."""
    return STARTS_TEXT.get(record.get("starts"), "-")


def deciding_reasons(record):
    """The texts of the reasons that decided a record's verdict and mitigation (for summaries), each with how sure
    it is when the engine says so."""
    return ["%s (%s)" % (reason.get("text", ""), reason["confidence"]) if reason.get("confidence")
            else reason.get("text", "")
            for reason in record.get("reasons") or []
            if isinstance(reason, dict) and str(reason.get("rule", "")).startswith(DECIDING_RULES)]


def fleet_markdown(report):
    """The Markdown summary: counts, nodes needing action with the deciding reason, next steps."""
    summary = report["summary"]
    lines = ["# IPVS connection-reuse assessment", ""]
    if report.get("generated_at"):
        lines += ["Generated %s for %d nodes." % (report["generated_at"], summary["nodes"]), ""]
    lines += ["## Verdicts", "", "| verdict | nodes | meaning |", "|---|---:|---|"]
    for verdict in K.VERDICTS:
        lines.append("| %s | %d | %s |" % (verdict, summary["verdicts"].get(verdict, 0), K.VERDICT_TEXT[verdict]))
    lines += ["", "## Nodes needing action", ""]
    needing = [record for record in report["nodes"] if record["verdict"] in NEEDS_ACTION]
    if not needing:
        lines.append("None: every node is safe or not applicable.")
    else:
        lines += ["| node | verdict | starts | mitigation | kernel | OS | kube-proxy "
                  "| conn_reuse_mode (live/persisted) | why |", "|---|---|---|---|---|---|---|---|---|"]
        for record in needing:
            deciding = deciding_reasons(record)
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s/%s | %s |" % (
                _cell(record["node"]), record["verdict"], starts_text(record), record["mitigation"], _cell(record["kernel"]),
                _cell(record["os"]), _cell(record["kube_proxy_version"]), _cell(record["conn_reuse_mode"]),
                _cell(record["persisted_conn_reuse_mode"]), _cell("; ".join(deciding))))
    lines += ["", "## What to do next", ""]
    steps = 0
    for mitigation in ("pin_sysctl", "switch_iptables", "os_upgrade"):
        nodes = [record["node"] for record in needing if record["mitigation"] == mitigation]
        if nodes:
            steps += 1
            lines.append("- **%s** (%d: %s): %s." % (mitigation, len(nodes), ", ".join(nodes[:10]) +
                                                     (", ..." if len(nodes) > 10 else ""),
                                                     NEXT_STEPS[mitigation].format(nodes=",".join(nodes))))
    unknown = [record["node"] for record in needing if record["verdict"] == "unknown"]
    if unknown:
        steps += 1
        lines.append("- **unknown** (%d: %s): read the reasons in the JSON report; supply what is missing "
                     "(for example `proxy_mode`/`kube_proxy_version`, or load ip_vs) and assess again."
                     % (len(unknown), ", ".join(unknown[:10]) + (", ..." if len(unknown) > 10 else "")))
    if not steps:
        lines.append("Nothing.")
    warned = [record for record in report["nodes"] if record["warnings"]]
    if warned:
        lines += ["", "## Warnings", ""]
        for record in warned:
            for warning in record["warnings"]:
                lines.append("- %s: %s" % (record["node"], warning))
    return "\n".join(lines) + "\n"
