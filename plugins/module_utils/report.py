# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet report: turn per-node facts into records, a summary and Markdown. Pure functions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    from shlex import quote as shell_quote
except ImportError:  # pragma: no cover - Python 2
    from pipes import quote as shell_quote

try:
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge
except ImportError:  # pragma: no cover - direct import from a checkout
    from . import knowledge  # type: ignore

REPORT_SCHEMA = 1
NEEDS_ACTION = ("problem1", "problem2", "unknown")
# What to do next per mitigation: the command to run (None where the step is a decision, not a command) and what
# it does. {nodes} is the comma-separated list of the nodes concerned, quoted for a POSIX shell (node names come
# from inventories, which may hold anything).
NEXT_STEPS = {
    "pin_sysctl": ("ansible-playbook playbooks/mitigate.yml --limit {nodes} --check --diff",
                   "shows what the pin would change; then run it without --check"),
    "switch_iptables": (None, "plan a switch to iptables mode (role kube_proxy_mode, opt-in variable "
                              "kube_proxy_mode_confirm_switch=true); change the cluster's source of truth as well"),
    "os_upgrade": ("ansible-playbook playbooks/mitigate.yml --limit {nodes}",
                   "flags the nodes for an OS upgrade (role os_upgrade_flag); upgrade to Ubuntu 22.04 or a kernel "
                   ">= 5.9 / a known fixed build"),
}
UNKNOWN_STEP = ("read the reasons in the JSON report; supply what is missing (for example `proxy_mode`/"
                "`kube_proxy_version`, or load ip_vs) and assess again")


def dig(data, *keys):
    """data[k1][k2]...; None where a level is missing or not a dict."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _fix(classification, name, deprecated_name):
    return classification[name] if name in classification else classification.get(deprecated_name)


def node_record(name, facts, failure=None):
    """One report record: the headline values, the reasons, and the facts they came from."""
    classification = dig(facts, "classification") or {}
    if not isinstance(facts, dict) or not classification:
        reason = failure or "no facts were gathered (host unreachable or the task failed)"
        return {"node": name, "verdict": "unknown", "mitigation": "none", "syn_drop_fix": None,
                "drained_backend_fix": None, "kernel_fix": None, "kernel": None, "os": None, "proxy_mode": None,
                "kube_proxy_version": None,
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
        # a classification made before 1.1.0 has only the deprecated names; kernel_fix is still written until 2.0.0
        "syn_drop_fix": _fix(classification, "syn_drop_fix", "kernel_fix"),
        "drained_backend_fix": _fix(classification, "drained_backend_fix", "weight0_fix"),
        "kernel_fix": _fix(classification, "syn_drop_fix", "kernel_fix"),
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


# The identity of the run that wrote a report (AWX passes awx_job_id, awx_job_template_name and, inside a workflow,
# awx_workflow_job_id as extra variables); a merged report lists its partials' ids under "partials".
RUN_KEYS = ("id", "awx_job_id", "awx_job_template_name", "awx_workflow_job_id", "partials")


def run_identity(run):
    """The run identity to store in a report: the known keys with a value, and an id (the AWX job's when there is
    one, else the given run id); None without any."""
    if not isinstance(run, dict):
        return None
    kept = dict((key, run[key]) for key in RUN_KEYS if run.get(key) not in (None, "", []))
    if "awx_job_id" in kept:
        kept["id"] = "awx-job-%s" % kept["awx_job_id"]
    return kept or None


def fleet_report(nodes, generated_at=None, failures=None, cluster=None, run=None):
    """nodes: {name: ipvs_reuse facts or None}. Returns the report dict (JSON-ready). generated_at is the time of
    the assessment, cluster the name to show, run the identity of the run (see run_identity)."""
    failures = failures or {}
    return _report_of([node_record(name, nodes[name], failures.get(name)) for name in sorted(nodes)], generated_at,
                      cluster, run_identity(run))


def _report_of(records, generated_at, cluster=None, run=None):
    counts = dict((verdict, 0) for verdict in knowledge.VERDICTS)
    mitigations = dict((mitigation, 0) for mitigation in knowledge.MITIGATIONS)
    for record in records:
        counts[record["verdict"]] = counts.get(record["verdict"], 0) + 1
        mitigations[record["mitigation"]] = mitigations.get(record["mitigation"], 0) + 1
    return {
        "schema": REPORT_SCHEMA,
        "generated_at": generated_at,
        "cluster": cluster or None,
        "run": run or None,
        "summary": {"nodes": len(records), "verdicts": counts, "mitigations": mitigations,
                    "needing_action": sum(1 for record in records if record["verdict"] in NEEDS_ACTION)},
        "nodes": records,
    }


# The parts of a report that differ between two runs over an unchanged fleet: when it was made and by which run.
RUN_SPECIFIC = ("generated_at", "run")


def _partial_name(partial, index):
    run_id = dig(partial, "run", "id")
    return "partial %d%s" % (index + 1, " (run %s)" % run_id if run_id else "")


def merge_reports(partials, run=None):
    """One fleet report from the reports of parts of the fleet (sliced jobs): the same report an unsliced run over
    the union gives, with the latest generated_at and, as run, the given run identity with the ids of the partials.
    Raises ValueError for anything that cannot be merged safely: a partial that is not a report, partials of
    different schema versions or of different clusters, or one node with different data."""
    if not isinstance(partials, (list, tuple)) or not partials:
        raise ValueError("merge needs a non-empty list of fleet reports")
    records, origin, stamps, clusters, run_ids = {}, {}, [], {}, []
    for index, partial in enumerate(partials):
        name = _partial_name(partial, index) if isinstance(partial, dict) else "partial %d" % (index + 1)
        if not isinstance(partial, dict) or not isinstance(partial.get("nodes"), list):
            raise ValueError("%s is not a fleet report (a dict with 'schema' and 'nodes')" % name)
        if partial.get("schema") != REPORT_SCHEMA:
            raise ValueError("%s has report schema %r, this collection writes and merges schema %d: assess every "
                             "slice with the same collection version" % (name, partial.get("schema"), REPORT_SCHEMA))
        if partial.get("generated_at"):
            stamps.append(str(partial["generated_at"]))
        if partial.get("cluster"):
            clusters.setdefault(str(partial["cluster"]), name)
        if dig(partial, "run", "id"):
            run_ids.append(str(partial["run"]["id"]))
        for record in partial["nodes"]:
            if not isinstance(record, dict) or "node" not in record or "verdict" not in record:
                raise ValueError("%s has a node record without 'node' and 'verdict'" % name)
            node = record["node"]
            if node in records and records[node] != record:
                raise ValueError("node %s is in %s and %s with different data: the slices overlap and were "
                                 "assessed at different times; merge partials of one run" % (node, origin[node], name))
            records.setdefault(node, record)
            origin.setdefault(node, name)
    if len(clusters) > 1:
        raise ValueError("the partials are of different clusters (%s): merge the slices of one cluster"
                         % ", ".join("%s in %s" % item for item in sorted(clusters.items())))
    merged_run = dict(run_identity(run) or {}, partials=sorted(run_ids)) if run_ids else run_identity(run)
    return _report_of([records[node] for node in sorted(records)], max(stamps) if stamps else None,
                      next(iter(clusters), None), merged_run)


# Nodes listed by name in the set_stats digest. AWX keeps the digest in the job's artifacts and its UI slows down on
# large ones; the counts stay complete and the full list is in fleet.json.
DIGEST_MAX_NODES = 200


def report_stats(report, max_nodes=DIGEST_MAX_NODES):
    """A digest for set_stats (AWX artifacts): when, which cluster and which run, the complete counts and up to
    max_nodes nodes needing action, worst first, with a note when the list was cut."""
    needing = [record for record in report["nodes"] if record["verdict"] in NEEDS_ACTION]
    needing.sort(key=lambda record: (NEEDS_ACTION.index(record["verdict"]), str(record["node"])))
    limit = max(0, int(max_nodes))
    digest = {
        "generated_at": report.get("generated_at"),
        "cluster": report.get("cluster"),
        "run": report.get("run"),
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


def deciding_reasons(record, with_confidence=True):
    """The texts of the reasons that decided a record's verdict and mitigation (for summaries), each with how sure
    it is when the engine says so."""
    return ["%s (%s)" % (reason.get("text", ""), reason["confidence"]) if reason.get("confidence") and with_confidence
            else reason.get("text", "")
            for reason in _deciding(record)]


def _deciding(record):
    return [reason for reason in record.get("reasons") or []
            if isinstance(reason, dict) and str(reason.get("rule", "")).startswith(DECIDING_RULES)]


# The engine's reason texts name the rows of the domain table ("(rows 2/3)"): the reports move that reference, with
# the rule id, out of the text an operator reads and into a tooltip (HTML) or a rule list (Markdown).
ROW_REFERENCE = re.compile(r" \((rows? [0-9/]+)\)")
RULES_DOC = "docs/classification.md"


def deciding_reason_parts(record):
    """The deciding reasons as dicts: text (without the domain table reference), confidence, rule id, rows (the domain
    table rows the text named)."""
    parts = []
    for reason in _deciding(record):
        text = str(reason.get("text", ""))
        parts.append({"text": ROW_REFERENCE.sub("", text), "confidence": reason.get("confidence"),
                      "rule": reason.get("rule"), "rows": ROW_REFERENCE.findall(text)})
    return parts


def next_steps(report):
    """What to do next, as summary.md and fleet.html show it: [{"step", "nodes", "command", "text"}], one entry per
    mitigation with nodes needing it, then one for the unknown nodes. command is None where the step is not one."""
    needing = [record for record in report["nodes"] if record["verdict"] in NEEDS_ACTION]
    steps = []
    for mitigation in ("pin_sysctl", "switch_iptables", "os_upgrade"):
        nodes = [str(record["node"]) for record in needing if record["mitigation"] == mitigation]
        if nodes:
            command, text = NEXT_STEPS[mitigation]
            steps.append({"step": mitigation, "nodes": nodes, "text": text,
                          "command": command.format(nodes=shell_quote(",".join(nodes))) if command else None})
    unknown = [str(record["node"]) for record in needing if record["verdict"] == "unknown"]
    if unknown:
        steps.append({"step": "unknown", "nodes": unknown, "command": None, "text": UNKNOWN_STEP})
    return steps


def _some(nodes, limit=10):
    return ", ".join(nodes[:limit]) + (", ..." if len(nodes) > limit else "")


def run_text(report):
    """Which run wrote the report, in words ("" when the report does not say)."""
    run = report.get("run") if isinstance(report.get("run"), dict) else {}
    parts = []
    if run.get("awx_job_id") is not None:
        parts.append("AWX job %s" % run["awx_job_id"])
        if run.get("awx_job_template_name"):
            parts[-1] += " (template %s)" % run["awx_job_template_name"]
        if run.get("awx_workflow_job_id") is not None:
            parts.append("workflow job %s" % run["awx_workflow_job_id"])
    elif run.get("id"):
        parts.append("run %s" % run["id"])
    if run.get("partials"):
        parts.append("merged from %d partial reports (%s)" % (len(run["partials"]), _some(run["partials"], 5)))
    return "; ".join(parts)


# The "why" in an operator's words, from the record's verdict, timing and mitigation (the engine's reasons, with
# their rule ids, stay in fleet.json and below this text in fleet.html).
PROBLEM_WORDS = {
    "problem1": "New connections that reuse a client port go to the old backend, even one that was drained or "
                "deleted: requests fail after a rollout.",
    "problem2": "The first packet (SYN) of a new connection on a reused client port is dropped: the client waits "
                "about 1 s.",
}
WHEN_WORDS = {
    "now": "This happens now.",
    "after_kube_proxy_restart": "Not now: it starts when kube-proxy next starts.",
    "after_reboot": "Not now: it starts after the next reboot.",
}


def plain_why(record):
    """One or a few sentences an operator reads without the decision table."""
    verdict, mitigation = record.get("verdict"), record.get("mitigation")
    if verdict == "not_applicable":
        mode = record.get("proxy_mode")
        return "kube-proxy does not use IPVS here%s, so this bug does not apply." % (" (mode %s)" % mode if mode else "")
    if verdict == "safe":
        return "Neither problem occurs now, after kube-proxy's next start or after a reboot."
    if verdict == "unknown":
        found = deciding_reasons(record, with_confidence=False)
        return "Could not be decided: %s. Supply what is missing and assess again." % (
            "; ".join(found) if found else "a needed fact is missing")
    sentences = [PROBLEM_WORDS.get(verdict, knowledge.VERDICT_TEXT.get(verdict, str(verdict)))]
    if record.get("starts") in WHEN_WORDS:
        sentences.append(WHEN_WORDS[record["starts"]])
    if mitigation == "pin_sysctl" and record.get("pin_value") is not None:
        sentences.append("Fix: pin conn_reuse_mode=%s; this kernel has the fix that makes that value safe."
                         % record["pin_value"])
        if record.get("pin_needs_keeper"):
            sentences.append("kube-proxy may set the value again when it starts, so the pin comes with a keeper "
                             "that re-applies it.")
    elif mitigation == "os_upgrade":
        sentences.append("No value of conn_reuse_mode is safe on this kernel: upgrade the OS or kernel to one with "
                         "the fix.")
    elif mitigation == "switch_iptables":
        sentences.append("No value of conn_reuse_mode is safe on this kernel: switch kube-proxy to iptables mode "
                         "(your policy).")
    return " ".join(sentences)


def markdown_why(record):
    """The "why" cell of summary.md: the operator's words, then the engine's deciding reasons (how sure each is) with
    their rule ids."""
    reasons = ["%s%s [%s]" % (part["text"], " (%s)" % part["confidence"] if part["confidence"] else "", part["rule"])
               for part in deciding_reason_parts(record)]
    return plain_why(record) + (" Reasons: %s." % "; ".join(reasons) if reasons else "")


def fleet_markdown(report):
    """The Markdown summary: counts, nodes needing action with the deciding reason, next steps."""
    summary = report["summary"]
    lines = ["# IPVS connection-reuse assessment", ""]
    about = []
    if report.get("cluster"):
        about.append("Cluster %s." % _cell(report["cluster"]))
    if report.get("generated_at"):
        about.append("Assessed %s, %d nodes." % (_cell(report["generated_at"]), summary["nodes"]))
    if run_text(report):
        about.append("Written by %s." % _cell(run_text(report)))
    if about:
        lines += [" ".join(about), ""]
    lines += ["## Verdicts", "", "| verdict | nodes | meaning |", "|---|---:|---|"]
    for verdict in knowledge.VERDICTS:
        lines.append("| %s | %d | %s |" % (verdict, summary["verdicts"].get(verdict, 0), knowledge.VERDICT_TEXT[verdict]))
    lines += ["", "## Nodes needing action", ""]
    needing = [record for record in report["nodes"] if record["verdict"] in NEEDS_ACTION]
    if not needing:
        lines.append("None: every node is safe or not applicable.")
    else:
        lines += ["| node | verdict | starts | mitigation | kernel | OS | kube-proxy "
                  "| conn_reuse_mode (live/persisted) | why |", "|---|---|---|---|---|---|---|---|---|"]
        for record in needing:
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s/%s | %s |" % (
                _cell(record["node"]), record["verdict"], starts_text(record), record["mitigation"], _cell(record["kernel"]),
                _cell(record["os"]), _cell(record["kube_proxy_version"]), _cell(record["conn_reuse_mode"]),
                _cell(record["persisted_conn_reuse_mode"]), _cell(markdown_why(record))))
        lines += ["", "The rule ids after each reason are explained in %s; fleet.json has every reason with its "
                  "source and confidence." % RULES_DOC]
    lines += ["", "## What to do next", ""]
    steps = next_steps(report)
    for step in steps:
        lines.append("- **%s** (%d: %s): %s%s." % (
            step["step"], len(step["nodes"]), _some(step["nodes"]),
            "`%s`, which " % step["command"] if step["command"] else "", step["text"]))
    if not steps:
        lines.append("Nothing.")
    warned = [record for record in report["nodes"] if record["warnings"]]
    if warned:
        lines += ["", "## Warnings", ""]
        for record in warned:
            for warning in record["warnings"]:
                lines.append("- %s: %s" % (record["node"], warning))
    return "\n".join(lines) + "\n"
