# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measured fixes outrank knowledge. Pure: no I/O, standard library only.

The ipvs_kernel_probe module measures syn_drop_fix and drained_backend_fix on a node's own kernel. Its result, attached to a
node's facts as ``kernel_probe``, is laid over what the version rules and the known builds (shipped or the
site's) say, for the same kernel release and build string only. Where the two disagree, the measurement
wins and a warning says so: either the knowledge is wrong or the measurement found something worth
reporting upstream.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge
except ImportError:  # pragma: no cover - direct import from a checkout
    from . import knowledge  # type: ignore

COMMITS = {knowledge.SYN_DROP_FIX: "f0a5e4d7a594 (the SYN-drop fix)",
           knowledge.DRAINED_BACKEND_FIX: "c95c07836fa4 (the drained-backend fix)"}
SOURCE = "kubenode.ipvs_reuse.ipvs_kernel_probe"
# {name: deprecated name} of a probe result's keys: a result kept from a probe before 1.1.0 has only the old ones
_OLD_PROBE_KEYS = dict((new, old) for old, new in knowledge.DEPRECATED_FIX_NAMES.items())


def _text(value, limit=300):
    return value[:limit] if isinstance(value, str) and value.strip() else None


def _probe_value(probe, key, suffix=""):
    """probe[key + suffix], or the same under the deprecated name (fix2, fix1) where only that one is there."""
    if key + suffix in probe:
        return probe[key + suffix]
    return probe.get(_OLD_PROBE_KEYS[key] + suffix)


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
    for key in knowledge.FIXES:
        measured = _probe_value(probe, key)
        figures = _text(_probe_value(probe, key, "_reason")) or "no figures"
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
