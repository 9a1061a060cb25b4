# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-node Prometheus metrics (text exposition format 0.0.4) for node_exporter's textfile collector.

Pure: no I/O, standard library only, so the ipvs_reuse_metrics module can run it on the node and the
node_metrics filter on the controller. The output is deterministic for the same facts; only the
assessment timestamp sample changes from run to run, and it is always the last line so a writer can
tell "the metrics changed" from "only the timestamp moved" (see without_timestamp()).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.versions import int_or_none
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import dig
except ImportError:  # pragma: no cover - direct import from a checkout
    from . import knowledge  # type: ignore
    from .versions import int_or_none  # type: ignore
    from .report import dig  # type: ignore

PREFIX = "ipvs_reuse_"
TIMESTAMP_METRIC = PREFIX + "last_assessment_timestamp_seconds"
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# ipvs_reuse_kernel_fix{fix=...}: the label value is the fix's name, the classification key it is read from
# (until 1.1.0 the values were "reuse" and "weight0").
FIXES = tuple((name, knowledge.FIX_COMMITS[name].split()[0]) for name in knowledge.FIXES)


def _escape_label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text):
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(pairs):
    if not pairs:
        return ""
    return "{" + ",".join('%s="%s"' % (name, _escape_label(value)) for name, value in pairs) + "}"


def _number(value):
    if value is None:
        return "NaN"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(int(value))


class _Families(object):
    def __init__(self):
        self.lines = []

    def family(self, name, help_text, samples):
        """samples: [(label pairs, value)]; a family without samples is left out entirely."""
        if not samples:
            return
        self.lines.append("# HELP %s%s %s" % (PREFIX, name, _escape_help(help_text)))
        self.lines.append("# TYPE %s%s gauge" % (PREFIX, name))
        for labels, value in samples:
            self.lines.append("%s%s%s %s" % (PREFIX, name, _labels(labels), _number(value)))


def render_metrics(facts, timestamp=None, labels=None):
    """Render one node's ipvs_reuse facts (with classification) as Prometheus text.

    timestamp: seconds since the epoch of the assessment (int or float); None leaves the
    timestamp family out. labels: optional {name: value} added to every sample (for example
    cluster="prod"); node_exporter adds its own instance label, so no node name is needed.
    """
    facts = facts if isinstance(facts, dict) else {}
    if labels is not None and not isinstance(labels, dict):
        raise ValueError("labels must be a dict of label name to value")
    for name in (labels or {}):
        if not isinstance(name, str) or not _LABEL_NAME.match(name) or name.startswith("__") \
                or name in ("verdict", "mitigation", "fix", "commit", "kernel", "os", "proxy_mode",
                            "kube_proxy_version"):
            raise ValueError("invalid or reserved Prometheus label name %r: use [a-zA-Z_][a-zA-Z0-9_]*, not "
                             "starting with __, and none of the labels this collection sets" % (name,))
    extra = sorted((name, str(value)) for name, value in (labels or {}).items())
    classification = dig(facts, "classification") or {}
    verdict = classification.get("verdict") if classification.get("verdict") in knowledge.VERDICTS else "unknown"
    mitigation = classification.get("mitigation") if classification.get("mitigation") in knowledge.MITIGATIONS else "none"
    out = _Families()
    out.family("verdict", "Verdict of the IPVS connection-reuse assessment: 1 for the node's verdict, 0 for the others.",
               [(extra + [("verdict", name)], name == verdict) for name in knowledge.VERDICTS])
    out.family("mitigation", "Mitigation the assessment recommends: 1 for the chosen one, 0 for the others.",
               [(extra + [("mitigation", name)], name == mitigation) for name in knowledge.MITIGATIONS])
    fix_samples = []
    for name, commit in FIXES:
        value = classification.get(name)
        fix_samples.append((extra + [("fix", name), ("commit", commit)],
                            value if isinstance(value, bool) else None))
    if verdict != "not_applicable":
        out.family("kernel_fix", "Whether the kernel carries the fix (1), lacks it (0), or it cannot be told (NaN).",
                   fix_samples)
    live = int_or_none(dig(facts, "sysctl", "conn_reuse_mode"))
    out.family("conn_reuse_mode", "Current value of net.ipv4.vs.conn_reuse_mode (absent when it cannot be read).",
               [(extra, live)] if live is not None else [])
    persisted = int_or_none(dig(facts, "persisted", "conn_reuse_mode", "value"))
    out.family("persisted_conn_reuse_mode",
               "net.ipv4.vs.conn_reuse_mode as persisted in sysctl.conf/sysctl.d and applied at boot "
               "(absent when nothing persists it).",
               [(extra, persisted)] if persisted is not None else [])
    pin_value = int_or_none(classification.get("pin_value"))
    out.family("recommended_conn_reuse_mode", "conn_reuse_mode value that is safe to pin on this node "
               "(absent unless the mitigation is pin_sysctl).", [(extra, pin_value)] if pin_value is not None else [])
    info = [("kernel", dig(facts, "kernel", "release") or ""),
            ("os", " ".join(str(part) for part in (dig(facts, "os", "id"), dig(facts, "os", "version_id"))
                            if part)),
            ("proxy_mode", dig(facts, "kube_proxy", "mode") or ""),
            ("kube_proxy_version", dig(facts, "kube_proxy", "version") or "")]
    out.family("node_info", "Inputs of the assessment, as labels (value always 1).", [(extra + info, 1)])
    if timestamp is not None:
        out.family("last_assessment_timestamp_seconds",
                   "When the assessment ran (seconds since the epoch).", [(extra, float(timestamp))])
    return "\n".join(out.lines) + "\n"


def without_timestamp(text):
    """The text without the timestamp family: what decides whether the metrics changed."""
    if not isinstance(text, str):
        return ""
    kept = [line for line in text.splitlines()
            if not line.startswith((TIMESTAMP_METRIC, "# HELP " + TIMESTAMP_METRIC, "# TYPE " + TIMESTAMP_METRIC))]
    return "\n".join(kept) + ("\n" if kept else "")
