# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measured fixes outrank knowledge. Pure: no I/O, standard library only.

The ipvs_kernel_probe module measures FIX2 and FIX1 on a node's own kernel. Its result, attached to a
node's facts as ``kernel_probe``, is laid over what the version rules and the known builds (shipped or the
site's) say, for the same kernel release and build string only. Where the two disagree, the measurement
wins and a warning says so: either the knowledge is wrong or the measurement found something worth
reporting upstream.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

COMMITS = {"fix2": "f0a5e4d7a594 (the reuse fix)", "fix1": "c95c07836fa4 (the weight-0 fix)"}
SOURCE = "kubenode.ipvs_reuse.ipvs_kernel_probe"


def _text(value, limit=300):
    return value[:limit] if isinstance(value, str) and value.strip() else None


def overlay_measured_fixes(fixes, probe, kernel):
    """Return (fixes, [(rule, text, source, confidence)], [warning]) with the measured fixes laid over ``fixes``.

    ``probe`` is the ``probe`` result of ipvs_kernel_probe (or None); ``kernel`` the node's kernel facts. A
    measurement applies only to the same release and build string; anything else is ignored with a warning.
    """
    if not isinstance(probe, dict) or not probe:
        return fixes, [], []
    if probe.get("probed") is not True:
        reason = _text(probe.get("reason")) or "no reason given"
        return fixes, [("measured_none", "the kernel probe measured nothing: %s" % reason, SOURCE, "observed")], []
    measured_kernel = probe.get("kernel") if isinstance(probe.get("kernel"), dict) else {}
    release, build = _text((kernel or {}).get("release")), _text((kernel or {}).get("build"))
    if not release or not build or measured_kernel.get("release") != release or measured_kernel.get("build") != build:
        return fixes, [], ["a kernel probe result was given for kernel %r (%r), but this node runs %r (%r): not applied"
                           % (measured_kernel.get("release"), measured_kernel.get("build"), release, build)]
    where = "measured on %s at %s" % (_text(probe.get("node")) or "an unnamed node",
                                      _text(probe.get("measured_at")) or "an unknown time")
    result = dict(fixes)
    notes = []
    warnings = []
    for key in ("fix2", "fix1"):
        measured = probe.get(key)
        figures = _text(probe.get(key + "_reason")) or "no figures"
        if measured is None:
            notes.append(("measured_" + key + "_unknown", "%s: %s not settled (%s); the knowledge above stands"
                          % (where, COMMITS[key], figures), SOURCE, "observed"))
            continue
        if not isinstance(measured, bool):
            warnings.append("kernel probe: %s is %r, not true, false or null: ignored" % (key, measured))
            continue
        known = fixes.get(key)
        notes.append(("measured_" + key, "%s: kernel %s %s %s: %s; the measurement outranks shipped and site "
                      "knowledge" % (where, release, "carries" if measured else "lacks", COMMITS[key], figures),
                      SOURCE, "measured"))
        if known is not None and known != measured:
            warnings.append("kernel %s: %s says it %s %s, but the kept knowledge (version rules or known_kernels) "
                            "says it %s it; the measurement was used. Check the known_kernels entry, and if the "
                            "shipped data is wrong, report it upstream (with the figures: %s)"
                            % (release, where, "carries" if measured else "lacks", COMMITS[key],
                               "carries" if known else "lacks", figures))
        result[key] = measured
    return result, notes, warnings
