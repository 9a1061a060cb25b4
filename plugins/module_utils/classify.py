# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Classify one node from its ipvs_reuse facts. Pure: no I/O, standard library only.

Flow: read the facts -> establish the kernel's two fixes (knowledge.FIXES: known builds,
then version rules, then a measurement of this very build, which outranks both) -> model
the node in three states (live now, after kube-proxy's next start, after a reboot; an
offline image has only the state it boots into) -> classify each state with the decision
table -> the verdict is the live one, unless a later state has a problem (or, on a safe
node, is unknown); a kube-proxy version without patch number is classified once per patch
range of its minor release, and the worse is acted on -> decide the mitigation from the policy -> derive the plan each role
acts on (plan.py). Every step appends a reason naming its source.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.measured_fixes import overlay_measured_fixes
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.plan import derive_plan
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.versions import format_version, int_or_none, parse_version
except ImportError:  # pragma: no cover - direct import from a checkout
    from . import knowledge  # type: ignore
    from .measured_fixes import overlay_measured_fixes  # type: ignore
    from .plan import derive_plan  # type: ignore
    from .versions import format_version, int_or_none, parse_version  # type: ignore

# How bad a verdict is, to act on the worse of two (_classify_branches).
SEVERITY = {"safe": 0, "unknown": 1, "problem2": 2, "problem1": 2}


_PATCH_GIVEN_RE = re.compile(r"^\s*v?\d+\.\d+\.\d+")


class PolicyError(ValueError):
    """The policy given by the user cannot be applied."""


try:  # the regular expression parser of the standard library, to refuse patterns that backtrack exponentially
    import re._parser as _regex_parser  # Python >= 3.11
except ImportError:  # pragma: no cover - older Pythons
    import sre_parse as _regex_parser  # pylint: disable=deprecated-module

_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


def _nested_repeat(pattern):
    """True when a repeated part of the pattern itself contains a repetition (the catastrophic-backtracking shape).

    Site patterns are checked once, when the policy is read; the shipped ones have no such nesting.
    """
    def walk(items, inside_repeat):
        for op, argument in items:
            name = str(op)
            if name in _REPEATS:
                low, high, sub = argument
                if inside_repeat or walk(sub, high is _regex_parser.MAXREPEAT or high > 1):
                    return True
            elif name == "SUBPATTERN":
                if walk(argument[-1], inside_repeat):
                    return True
            elif name == "BRANCH":
                if any(walk(branch, inside_repeat) for branch in argument[1]):
                    return True
            elif name in ("ASSERT", "ASSERT_NOT"):
                if walk(argument[1], inside_repeat):
                    return True
        return False
    try:
        return walk(_regex_parser.parse(pattern), False)
    except Exception:  # noqa: BLE001 - re.compile already accepted it; an unknown shape is not refused here
        return False


def validate_policy(policy):
    """Merge a user policy over the default one; raise PolicyError on bad input."""
    merged = dict(knowledge.DEFAULT_POLICY)
    if policy is None:
        policy = {}
    if not isinstance(policy, dict):
        raise PolicyError("policy must be a dict, got %s" % type(policy).__name__)
    unknown_keys = sorted(set(policy) - set(knowledge.DEFAULT_POLICY))
    if unknown_keys:
        raise PolicyError("unknown policy keys: %s (known: %s)"
                          % (", ".join(unknown_keys), ", ".join(sorted(knowledge.DEFAULT_POLICY))))
    merged.update(policy)
    if not isinstance(merged["allow_pin"], bool):
        raise PolicyError("policy.allow_pin must be true or false")
    if merged["fallback_mitigation"] not in knowledge.FALLBACK_MITIGATIONS:
        raise PolicyError("policy.fallback_mitigation must be one of %s, got %r"
                          % (", ".join(knowledge.FALLBACK_MITIGATIONS), merged["fallback_mitigation"]))
    entries = merged["known_kernels"]
    if not isinstance(entries, list):
        raise PolicyError("policy.known_kernels must be a list of entries")
    for index, entry in enumerate(entries):
        where = "policy.known_kernels[%d]" % index
        if not isinstance(entry, dict):
            raise PolicyError("%s must be a dict" % where)
        if not entry.get("release_regex") and not entry.get("marker"):
            raise PolicyError("%s needs release_regex or marker" % where)
        if entry.get("release_regex"):
            try:
                re.compile(entry["release_regex"])
            except (re.error, TypeError) as exc:
                raise PolicyError("%s.release_regex is not a valid regular expression: %s" % (where, exc))
            if _nested_repeat(entry["release_regex"]):
                raise PolicyError("%s.release_regex %r repeats a group that itself repeats (such as (a+)+): that can "
                                  "take exponential time on a kernel release; write it without the nested repetition"
                                  % (where, entry["release_regex"][:80]))
        for name, old_name in sorted(_DEPRECATED_ENTRY_KEYS.items()):
            if old_name in entry and name in entry and entry[old_name] != entry[name]:
                raise PolicyError("%s gives both %s (deprecated) and %s, with different values: keep only %s"
                                  % (where, old_name, name, name))
        for key in knowledge.FIXES:
            if _entry_value(entry, key) not in (True, False, None):
                written = key if key in entry else _DEPRECATED_ENTRY_KEYS[key]
                raise PolicyError("%s.%s must be true, false or null" % (where, written))
    return merged


# known_kernels keys under their deprecated names: {new name: old name}, for the fixes and their build thresholds
_DEPRECATED_ENTRY_KEYS = dict(pair for old, new in knowledge.DEPRECATED_FIX_NAMES.items()
                              for pair in ((new, old), ("min_build_" + new, "min_build_" + old)))


def _entry_value(entry, key):
    """A known_kernels entry's ``key`` (a fix name or min_build_<fix name>), read under its deprecated name
    (fix2, fix1, min_build_fix2, min_build_fix1) where the entry has only that one."""
    if key not in entry and key in _DEPRECATED_ENTRY_KEYS:
        return entry.get(_DEPRECATED_ENTRY_KEYS[key])
    return entry.get(key)


def deprecated_policy_names(policy):
    """Warnings for known_kernels entries that use the deprecated names fix2/fix1 (read until the release named)."""
    warnings = []
    entries = policy.get("known_kernels") if isinstance(policy, dict) else None
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict):
            continue
        renamed = sorted((old, new) for new, old in _DEPRECATED_ENTRY_KEYS.items() if old in entry)
        if renamed:
            warnings.append("policy.known_kernels[%d] (%s) uses %s: deprecated names, read until %s; write %s"
                            % (index, entry.get("name", "unnamed"), ", ".join(old for old, _new in renamed),
                               knowledge.DEPRECATED_NAMES_REMOVED_IN, ", ".join(new for _old, new in renamed)))
    return warnings


# ---------------------------------------------------------------- reading facts

def _section(facts, name):
    value = facts.get(name) if isinstance(facts, dict) else None
    return value if isinstance(value, dict) else {}


def _str_or_none(value):
    return value if isinstance(value, str) and value.strip() else None


class _Reasons(list):
    def add(self, rule, text, source, confidence="observed"):
        """confidence: measured, verified, inferred, user, observed (read on the node) or assumed."""
        self.append({"rule": rule, "text": text, "source": source, "confidence": confidence})


# ------------------------------------------------------------- kernel knowledge

def _entry_matches(entry, release, markers):
    marker = entry.get("marker")
    if marker:
        return marker in markers
    try:
        match = re.search(entry.get("release_regex") or "", release or "")
    except (re.error, TypeError):
        return False
    if not match or not release:
        return False
    min_build = entry.get("min_build")
    if min_build is not None:
        try:
            return int(match.group(1)) >= int(min_build)
        except (IndexError, TypeError, ValueError):
            return False
    return True


def _entry_fixes(entry, release):
    """{"syn_drop_fix": .., "drained_backend_fix": ..} that a matching entry states; per-fix build thresholds decide
    where given."""
    stated = dict((key, _entry_value(entry, key)) for key in knowledge.FIXES)
    for key in knowledge.FIXES:
        threshold = _entry_value(entry, "min_build_" + key)
        if threshold is None:
            continue
        try:
            stated[key] = int(re.search(entry["release_regex"], release).group(1)) >= int(threshold)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError, re.error):
            stated[key] = None
    return stated


def _os_matches(entry, os_facts):
    for key in ("os_id", "os_version_id"):
        wanted = entry.get(key)
        if wanted is not None and str(wanted) != str(os_facts.get(key[3:]) or ""):
            return False
    return True


def _by_version(rules, version):
    for rule in rules:
        if rule["series"] is not None and tuple(version[:2]) != rule["series"]:
            continue
        if tuple(version) >= rule["min"]:
            return rule
    return None


_FIXES_CACHE = {}


def kernel_fixes(release, markers, os_facts, known_kernels, upstream=None, upstream_source=None):
    """Return ({"syn_drop_fix": bool|None, "drained_backend_fix": bool|None}, [(rule, text, source)]).

    Results for the shipped data alone are cached per (release, markers, OS): a fleet has few kernels.
    """
    key = None
    if not known_kernels:
        key = (release, upstream, upstream_source, tuple(sorted(markers)), str(os_facts.get("id")),
               str(os_facts.get("version_id")))
        if key in _FIXES_CACHE:
            found, notes = _FIXES_CACHE[key]
            return dict(found), list(notes)
    found, notes = _kernel_fixes(release, markers, os_facts, known_kernels, upstream, upstream_source)
    if key is not None and len(_FIXES_CACHE) < 4096:
        _FIXES_CACHE[key] = (dict(found), list(notes))
    return found, notes


def _kernel_fixes(release, markers, os_facts, known_kernels, upstream, upstream_source=None):
    found = dict.fromkeys(knowledge.FIXES)
    notes = []
    version = parse_version(release)
    # Distributions print a placeholder sublevel (Debian "5.10.0-28-amd64" is 5.10.223): the build
    # string's upstream version, when it is of the same series, is the one the version rules need.
    upstream_version = parse_version(upstream)
    via = ""
    if version is not None and upstream_version is not None and upstream_version[:2] == version[:2]:
        version = upstream_version
        via = " (upstream version %s named by the kernel's build string%s)" % (
            format_version(upstream_version), " in %s" % upstream_source if upstream_source else "")
    user_entries = list(known_kernels)
    for index, entry in enumerate(user_entries + knowledge.KNOWN_KERNELS):
        if not _entry_matches(entry, release, markers) or not _os_matches(entry, os_facts):
            continue
        confidence = "user" if index < len(user_entries) else entry.get("confidence", "verified")
        for key, value in sorted(_entry_fixes(entry, release).items(), key=lambda item: knowledge.FIXES.index(item[0])):
            if found[key] is None and value is not None:
                found[key] = value
                switch = " while net.ipv4.vs.%s is non-zero" % entry["switch"] if entry.get("switch") and value else ""
                notes.append(("known_kernel", "kernel %s matches known build '%s': %s %s%s"
                              % (release, entry.get("name", "unnamed"),
                                 "carries" if value else "lacks",
                                 knowledge.FIX_COMMITS[key], switch),
                              entry.get("source", "policy.known_kernels"), confidence))
        if entry.get("switch") and found[knowledge.SYN_DROP_FIX] is True:
            found["switch"] = entry["switch"]
        break
    if version is not None:
        for key, rules in ((knowledge.SYN_DROP_FIX, knowledge.SYN_DROP_FIX_BY_VERSION),
                           (knowledge.DRAINED_BACKEND_FIX, knowledge.DRAINED_BACKEND_FIX_BY_VERSION)):
            if found[key] is not None:
                continue
            rule = _by_version(rules, version)
            if rule is not None:
                found[key] = rule["fixed"]
                notes.append(("fix_by_version", "kernel %s %s %s%s"
                              % (format_version(version), "carries" if rule["fixed"] else "lacks",
                                 knowledge.FIX_COMMITS[key], via),
                              rule["source"], rule.get("confidence", "verified")))
    for key in knowledge.FIXES:
        if found[key] is None:
            notes.append(("fix_unknown", "cannot establish that kernel %s carries %s: counted as unfixed (add the "
                          "kernel to known_kernels to settle it)" % (release, knowledge.FIX_COMMITS[key]),
                          "domain reference: version rules and known builds", "assumed"))
    return found, notes


# ------------------------------------------------------------ kube-proxy model

def kube_proxy_line(version):
    if version is None:
        return None
    for line in knowledge.KUBE_PROXY_LINES:
        if tuple(line["first"]) <= tuple(version[:3]) <= tuple(line["last"]):
            return line
    return None


def kube_proxy_conn_reuse_write(line, kernel_version):
    """What kube-proxy writes to conn_reuse_mode at start: 0, "leave", or None (unknown)."""
    if line is None or kernel_version is None:
        return None
    rule = line["conn_reuse_mode"]
    below_sysctl = tuple(kernel_version[:2]) < knowledge.CONN_REUSE_MODE_SYSCTL_SINCE
    at_or_above_fix = tuple(kernel_version[:2]) >= knowledge.KUBE_PROXY_CONN_REUSE_FIXED_KERNEL
    if rule == "untouched":
        return "leave"
    if rule == "zero":
        return 0  # unconditionally; where the sysctl is missing kube-proxy fails to start (row 9)
    if rule == "zero_unless_old":
        return "leave" if below_sysctl else 0
    if rule == "zero_below_5_9":
        return "leave" if below_sysctl or at_or_above_fix else 0
    if rule == "uncertain_5_9":
        if below_sysctl:
            return "leave"
        return None if at_or_above_fix else 0
    return None


# ---------------------------------------------------------------- decision table

def classify_state(conn_reuse_mode, conntrack, expire_nodest, fixes):
    """Rows 2-7 of the decision table for one set of sysctl values."""
    if conn_reuse_mode is None or conntrack is None:
        return "unknown", "conn_reuse_mode or conntrack unknown in this state"
    if conn_reuse_mode == 0:
        if fixes[knowledge.DRAINED_BACKEND_FIX] is True and expire_nodest == 1:
            return "safe", ("conn_reuse_mode=0 with expire_nodest_conn=1 on a kernel with %s: new connections "
                            "to drained backends are rescheduled (row 6)" % knowledge.DRAINED_BACKEND_FIX_COMMIT)
        return "problem1", ("conn_reuse_mode=0: new connections on a reused client port stay on the old backend"
                            "%s (rows 2/3)" % ("" if expire_nodest == 1 else ", and expire_nodest_conn=%s" % expire_nodest))
    if conntrack == 1 and fixes[knowledge.SYN_DROP_FIX] is not True:
        return "problem2", ("conn_reuse_mode=%d with conntrack=1 on a kernel without %s: the first SYN on a "
                            "reused port is dropped (row 4)" % (conn_reuse_mode, knowledge.SYN_DROP_FIX_COMMIT))
    if conntrack == 1:
        return "safe", ("conn_reuse_mode=%d with conntrack=1 on a kernel with %s (row 5)"
                        % (conn_reuse_mode, knowledge.SYN_DROP_FIX_COMMIT))
    return "safe", ("conn_reuse_mode=%d with conntrack=%d: no SYN drop, but conntrack=0 was set by something "
                    "other than kube-proxy (row 7)" % (conn_reuse_mode, conntrack))


# ------------------------------------------------------------------- the engine

def _no_action(verdict, reasons, warnings):
    """The result for a node that needs nothing done (unknown or not applicable)."""
    return {"verdict": verdict, "mitigation": "none", knowledge.SYN_DROP_FIX: None, knowledge.DRAINED_BACKEND_FIX: None,
            "starts": None, "branches": [], "settle": None, "pin_sysctls": None, "pin_value": None,
            "pin_needs_keeper": None, "states": {}, "reasons": list(reasons), "warnings": warnings}


def _unknown(reasons, rule, text, source, extra=None):
    reasons.add(rule, text, source)
    result = _no_action("unknown", reasons, [])
    if extra:
        result.update(extra)
    return result


def classify(facts, policy=None):
    """Classify one node. Never raises on bad facts; raises PolicyError on a bad policy.

    The result carries the verdict, the mitigation and, under ``plan``, what each mitigation role must do."""
    merged_policy = validate_policy(policy)
    try:
        branches = _patch_branches(facts)
        if branches:
            result = _classify_branches(facts, merged_policy, branches)
        else:
            result = _classify(facts, merged_policy)
    except Exception as exc:  # noqa: BLE001 - a classifier must answer, not crash the fleet run
        reasons = _Reasons()
        result = _unknown(reasons, "internal_error", "the facts could not be read: %s: %s"
                          % (type(exc).__name__, exc), "classify.py")
    result["warnings"] = list(result["warnings"]) + deprecated_policy_names(merged_policy)
    # the names before 1.1.0, deprecated (knowledge.DEPRECATED_RESULT_NAMES)
    for old, new in knowledge.DEPRECATED_RESULT_NAMES.items():
        result[old] = result[new]
    result["plan"] = derive_plan(result, facts)
    return result


def _patch_branches(facts):
    """The patch ranges a kube-proxy version without a patch number ("v1.21") spans, where its line changed
    behaviour inside that minor release: [(label, exact version text, confidence)], one per range; [] where the
    version has a patch number, cannot be parsed, or its minor release behaves one way."""
    proxy = _section(facts, "kube_proxy") if isinstance(facts, dict) else {}
    text = _str_or_none(proxy.get("version"))
    version = parse_version(text)
    if version is None or _PATCH_GIVEN_RE.match(text):
        return []
    minor = tuple(version[:2])
    branches = []
    for line in knowledge.KUBE_PROXY_LINES:
        first, last = tuple(line["first"]), tuple(line["last"])
        if not first[:2] <= minor <= last[:2]:
            continue
        first_patch = first[2] if first[:2] == minor else 0
        last_patch = last[2] if last[:2] == minor else knowledge.LAST_PATCH
        label = "v%d.%d.%d%s" % (minor + (first_patch,) + (
            " and later" if last_patch == knowledge.LAST_PATCH else "-v%d.%d.%d" % (minor + (last_patch,)),))
        branches.append((label, "v%d.%d.%d" % (minor + (first_patch,)), line.get("confidence", "verified")))
    return branches if len(branches) > 1 else []


def _classify_branches(facts, policy, branches):
    """Classify once per patch range of the kube-proxy line and combine: the verdict is known where every branch
    gives the same verdict and mitigation; otherwise the worse branch is acted on (the earlier one on a tie) and
    ``settle`` names the fact that decides."""
    proxy = _section(facts, "kube_proxy")
    text = _str_or_none(proxy.get("version"))
    source = _str_or_none(proxy.get("version_source")) or "kube_proxy.version"
    outcomes = []
    for label, exact, _confidence in branches:
        branch_facts = dict(facts, kube_proxy=dict(proxy, version=exact))
        outcomes.append((label, _classify(branch_facts, policy)))
    summary = [{"kube_proxy": label, "verdict": outcome["verdict"], "mitigation": outcome["mitigation"],
                "starts": outcome.get("starts")} for label, outcome in outcomes]
    described = "; ".join("%s: %s (%s)" % (item["kube_proxy"], item["verdict"], item["mitigation"])
                          for item in summary)
    agree = len(set((item["verdict"], item["mitigation"]) for item in summary)) == 1
    chosen_label, result = outcomes[0]
    if agree:
        settle = None
        text_reason = ("kube-proxy version %s has no patch number; its patch releases behave %d ways here (%s) and "
                       "all give the same verdict, so it holds whichever runs" % (text, len(outcomes), described))
    else:
        for label, outcome in outcomes[1:]:
            if SEVERITY[outcome["verdict"]] > SEVERITY[result["verdict"]]:
                chosen_label, result = label, outcome
        settle = "pass kube_proxy_version with its patch number"
        text_reason = ("kube-proxy version %s has no patch number and its patch releases disagree here (%s): acting "
                       "on the worse, %s; %s to settle it" % (text, described, chosen_label, settle))
    reasons = _Reasons()
    confidence = "inferred" if any(item[2] == "inferred" for item in branches) else "verified"
    reasons.add("kube_proxy_branches", text_reason, source, "assumed" if settle else confidence)
    result["reasons"] = list(reasons) + list(result["reasons"])
    result["branches"] = summary
    result["settle"] = settle
    return result


KUBE_PROXY_MODES = frozenset(("ipvs", "iptables", "nftables", "kernelspace", "userspace"))


def _classify(facts, policy):
    reasons = _Reasons()
    warnings = []
    if not isinstance(facts, dict):
        return _unknown(reasons, "no_facts", "no ipvs_reuse facts were given", "input")
    gather_error = facts.get("gather_error")
    if gather_error:
        # an incomplete gather (its deadline passed) must not pass for a complete one
        return _unknown(reasons, "gather_incomplete", "the facts are incomplete: %s"
                        % (gather_error if isinstance(gather_error, str) else repr(gather_error))[:300],
                        "ipvs_facts gather_timeout")

    proxy = _section(facts, "kube_proxy")
    raw_mode = proxy.get("mode")
    mode = raw_mode.strip() if isinstance(raw_mode, str) and raw_mode.strip() else None
    mode_source = _str_or_none(proxy.get("mode_source")) or "kube_proxy.mode"
    ipvs = _section(facts, "ipvs")
    if mode is None and raw_mode not in (None, "") and not isinstance(raw_mode, str):
        mode = raw_mode  # a wrong type is malformed, not missing: rejected below with its repr
    if mode is not None and not (isinstance(mode, str) and mode in KUBE_PROXY_MODES):
        # Only kube-proxy's own mode names mean "not IPVS"; anything else must never become not_applicable.
        return _unknown(reasons, "mode_malformed", "the kube-proxy mode %r is not one of %s"
                        % (raw_mode, ", ".join(sorted(KUBE_PROXY_MODES))), mode_source)
    if mode is None:
        leftovers = ipvs.get("kube_ipvs0") is True or (int_or_none(ipvs.get("virtual_services")) or 0) > 0
        return _unknown(reasons, "mode_unknown",
                        "the kube-proxy mode could not be determined from any signal%s; pass proxy_mode"
                        % (" (IPVS state exists, but leftovers do not prove the current mode)" if leftovers else ""),
                        "kube_proxy.signals")
    # The mode kube-proxy takes at its next start (the cluster's ConfigMap), where it is known and differs.
    raw_configured = proxy.get("configured_mode")
    configured = raw_configured.strip() if isinstance(raw_configured, str) else None
    configured_source = _str_or_none(proxy.get("configured_mode_source")) or "kube_proxy.configured_mode"
    if raw_configured not in (None, "") and configured not in KUBE_PROXY_MODES:
        warnings.append("the configured kube-proxy mode %r is not a kube-proxy mode; ignored" % (raw_configured,))
        configured = None
    if configured == mode:
        configured = None
    if mode != "ipvs" and configured != "ipvs":
        reasons.add("row1_not_ipvs", "kube-proxy runs in %s mode, so the IPVS reuse bug does not apply" % mode,
                    mode_source)
        if ipvs.get("kube_ipvs0") is True or (int_or_none(ipvs.get("virtual_services")) or 0) > 0:
            warnings.append("IPVS leftovers (kube-ipvs0 or virtual services) exist although the mode is %s" % mode)
        return _no_action("not_applicable", reasons, warnings)
    if mode == "ipvs":
        reasons.add("mode_ipvs", "kube-proxy runs in IPVS mode", mode_source)
    else:
        reasons.add("mode_ipvs_next_start", "kube-proxy runs in %s mode now, but starts in IPVS mode next time"
                    % mode, configured_source)
    if configured is not None and configured != "ipvs":
        reasons.add("mode_not_ipvs_next_start", "kube-proxy starts in %s mode next time, so the IPVS reuse bug "
                    "ends with its next start" % configured, configured_source)

    kernel = _section(facts, "kernel")
    release = _str_or_none(kernel.get("release"))
    kernel_version = parse_version(release)
    if kernel_version is None:
        text = ("the kernel release %r cannot be parsed" % release) if release else "the kernel release is missing"
        if facts.get("live") is False and not release:
            text = ("offline image: no kernel in /boot (vmlinuz-<release>) or /lib/modules/<release>, so the kernel "
                    "it boots is unknown")
        return _unknown(reasons, "kernel_unknown", text, kernel.get("source") or (
            "/boot, /lib/modules" if facts.get("live") is False else "kernel.release"))
    sysctl = _section(facts, "sysctl")
    markers = [name for name, value in sysctl.items() if value is not None]

    proxy_version_text = _str_or_none(proxy.get("version"))
    proxy_version = parse_version(proxy_version_text)
    proxy_line = kube_proxy_line(proxy_version)
    proxy_source = _str_or_none(proxy.get("version_source")) or "kube_proxy.version"
    if proxy_version_text and proxy_version is None:
        warnings.append("kube-proxy version %r cannot be parsed; treated as unknown" % proxy_version_text)
    if proxy_version is not None and proxy_line is not None and not _PATCH_GIVEN_RE.match(proxy_version_text):
        # A minor release whose patch releases differ is classified once per patch range (_classify_branches);
        # here every patch release of the line behaves the same.
        reasons.add("kube_proxy_no_patch", "kube-proxy version %s has no patch number; every patch release of "
                    "v%d.%d behaves the same here" % ((proxy_version_text,) + tuple(proxy_version[:2])), proxy_source,
                    proxy_line.get("confidence", "verified"))

    if facts.get("live") is False:
        return _classify_image(facts, policy, reasons, warnings, mode, configured, release, kernel_version, proxy_line,
                               proxy_version_text, proxy_source)

    conn_reuse_mode_missing = (sysctl.get("conn_reuse_mode") is None
                               and _section(facts, "sysctl_errors").get("conn_reuse_mode") in (None, "missing"))
    # Row 9: a kernel without the sysctl always reuses (behaviour of problem 1). Vendor kernels
    # (RHEL 7's 3.10) carry the sysctl under an old number: the file decides, not the number.
    if kernel_version[:2] < knowledge.CONN_REUSE_MODE_SYSCTL_SINCE and ipvs.get("sysctl_dir") is True and conn_reuse_mode_missing:
        return _row9_old_kernel(release, proxy_line, proxy_version_text, reasons, warnings, policy)

    if ipvs.get("sysctl_dir") is False:
        return _unknown(reasons, "row8_no_vs_sysctls", "/proc/sys/net/ipv4/vs is missing (ip_vs not loaded?)",
                        "ipvs.sysctl_dir")
    conn_reuse_mode = int_or_none(sysctl.get("conn_reuse_mode"))
    conntrack = int_or_none(sysctl.get("conntrack"))
    expire_nodest = int_or_none(sysctl.get("expire_nodest_conn"))
    errors = _section(facts, "sysctl_errors")
    missing = [name for name, value in (("conn_reuse_mode", conn_reuse_mode), ("conntrack", conntrack),
                                        ("expire_nodest_conn", expire_nodest)) if value is None]
    if missing:
        return _unknown(reasons, "row8_values_unreadable", "cannot read net.ipv4.vs.%s: %s"
                        % (", ".join(missing), "; ".join("%s" % errors.get(name, "missing or not a number")
                                                         for name in missing)),
                        "/proc/sys/net/ipv4/vs")
    out_of_range = _out_of_range((("conn_reuse_mode", conn_reuse_mode), ("conntrack", conntrack),
                                  ("expire_nodest_conn", expire_nodest)))
    if out_of_range:
        return _unknown(reasons, "row8_values_out_of_range", "net.ipv4.vs values out of range: %s"
                        % ", ".join(out_of_range), "/proc/sys/net/ipv4/vs")

    fixes = _establish_fixes(facts, release, markers, policy, reasons)
    # A measurement on this very kernel build (ipvs_kernel_probe) outranks shipped and site knowledge.
    fixes, notes, measured_warnings = overlay_measured_fixes(fixes, facts.get("kernel_probe"), _section(facts, "kernel"))
    for rule, text, source, confidence in notes:
        reasons.add(rule, text, source, confidence)
    warnings.extend(measured_warnings)
    switch, state_fixes = _vendor_switch(facts, fixes, reasons, sysctl, ("live", "after_reboot"))
    state_fixes["after_kube_proxy_restart"] = state_fixes["live"]

    # The three states the node passes through.
    states = {"live": (conn_reuse_mode, conntrack, expire_nodest)}
    keeper_value = _keeper_value(facts)
    write = kube_proxy_conn_reuse_write(proxy_line, kernel_version)
    _kube_proxy_start_reason(reasons, proxy_line, write, proxy_version_text, kernel_version, proxy_source, "next")
    start_conntrack, start_expire = _start_values(proxy_line, expire_nodest)
    states["after_kube_proxy_restart"] = (_after_start(conn_reuse_mode, write, keeper_value), start_conntrack,
                                          start_expire)
    persisted = _section(facts, "persisted")
    persisted_conn_reuse_mode = int_or_none(_section(persisted, "conn_reuse_mode").get("value"))
    boot_conn_reuse_mode = (persisted_conn_reuse_mode if persisted_conn_reuse_mode is not None
                            else knowledge.KERNEL_DEFAULTS["conn_reuse_mode"])
    states["after_reboot"] = (_after_start(boot_conn_reuse_mode, write, keeper_value), start_conntrack, start_expire)
    if keeper_value is not None:
        reasons.add("pin_keeper", "a pin keeper re-asserts conn_reuse_mode=%d after each kube-proxy start"
                    % keeper_value, knowledge.PIN_KEEPER_UNIT)
    if persisted_conn_reuse_mode is not None:
        reasons.add("persisted", "conn_reuse_mode=%d is persisted and restored at boot" % persisted_conn_reuse_mode,
                    _section(persisted, "conn_reuse_mode").get("file") or "sysctl.d")

    classified = _classify_states(states, state_fixes, mode, configured)
    live_verdict, live_text = classified["live"]
    reasons.add("live_state", "now: " + live_text, "/proc/sys/net/ipv4/vs")
    verdict = live_verdict
    for name in ("after_kube_proxy_restart", "after_reboot"):
        state_verdict, state_text = classified[name]
        if state_verdict == live_verdict:
            continue
        if state_verdict == "unknown" and live_verdict == "safe":
            verdict = "unknown"
            reasons.add(name, "%s: %s; whether the node stays safe depends on the kube-proxy version"
                        % (name.replace("_", " "), state_text), proxy_source)
        elif state_verdict in ("problem1", "problem2"):
            if verdict in ("safe", "unknown"):
                verdict = state_verdict
            reasons.add(name, "%s: %s" % (name.replace("_", " "), state_text), proxy_source)
    if conntrack == 0 or expire_nodest == 0:
        warnings.append("conntrack=%d, expire_nodest_conn=%d differ from what kube-proxy sets (1, 1): something "
                        "overrode kube-proxy; restore its values (never set conntrack=0: it breaks NodePort)"
                        % (conntrack, expire_nodest))
    result = _decide(verdict, fixes, write, reasons, warnings, policy, _state_summary(states, classified),
                     expire_nodest=(expire_nodest, start_expire),
                     switch=switch if any(state_fixes[name] is not fixes for name in state_fixes) else None)
    if verdict in ("problem1", "problem2"):
        result["starts"] = next({"live": "now"}.get(name, name) for name in
                                ("live", "after_kube_proxy_restart", "after_reboot") if classified[name][0] == verdict)
    return result


# ------------------------------------------------------- steps shared by both paths

def _row9_old_kernel(release, proxy_line, proxy_version_text, reasons, warnings, policy):
    """Row 9: a kernel older than 4.1 without conn_reuse_mode always reuses (problem 1)."""
    reasons.add("row9_old_kernel", "kernel %s is older than 4.1 and has no conn_reuse_mode: IPVS always "
                "sends a reused port to the old backend" % release, "d752c3645717 (4.1)")
    if proxy_line is not None and proxy_line["fails_without_sysctl"]:
        reasons.add("row9_kube_proxy_fails", "kube-proxy %s cannot start in IPVS mode on this kernel"
                    % proxy_version_text, proxy_line["source"])
    return _decide("problem1", dict.fromkeys(knowledge.FIXES, False), None, reasons, warnings, policy, {})


def _out_of_range(values):
    """conn_reuse_mode is a small bitmap (0-3), conntrack and expire_nodest_conn are switches: anything else is not
    a value a kernel holds, and reading -5 as "at least 1" would invent a state."""
    highest = {"conn_reuse_mode": 3, "conntrack": 1, "expire_nodest_conn": 1}
    return ["%s=%d" % (name, value) for name, value in values if not 0 <= value <= highest[name]]


def _establish_fixes(facts, release, markers, policy, reasons):
    kernel = _section(facts, "kernel")
    fixes, notes = kernel_fixes(release, markers, _section(facts, "os"), policy["known_kernels"],
                                _str_or_none(kernel.get("upstream_version")),
                                _str_or_none(kernel.get("upstream_source")))
    for rule, text, source, confidence in notes:
        reasons.add(rule, text, source, confidence)
    return fixes


def _vendor_switch(facts, fixes, reasons, sysctl, state_names):
    """The fixes per state where a vendor switch (TencentOS' conn_reuse_old_conntrack) turns the reuse fix on or off.

    kube-proxy leaves the switch alone; a boot restores the persisted value or the patch's default (1)."""
    switch = fixes.get("switch")
    state_fixes = {"live": fixes, "after_kube_proxy_restart": fixes, "after_reboot": fixes}
    if switch:
        persisted_switch = int_or_none(_section(_section(facts, "persisted"), switch).get("value"))
        for name, value, where in (("live", int_or_none(sysctl.get(switch)), "/proc/sys/net/ipv4/vs/" + switch),
                                   ("after_reboot", 1 if persisted_switch is None else persisted_switch,
                                    "sysctl files" if persisted_switch is not None else "the patch's default (1)")):
            if name in state_names and value == 0:
                state_fixes[name] = dict(fixes, **{knowledge.SYN_DROP_FIX: False})
                reasons.add("vendor_switch_off", "%s: net.ipv4.vs.%s=0 (%s) turns the vendor's reuse fix off"
                            % (name.replace("_", " "), switch, where), _switch_source(switch), "verified")
    return switch, state_fixes


def _switch_source(switch):
    """The source of the shipped known_kernels entry that names the vendor switch."""
    return next((entry["source"] for entry in knowledge.KNOWN_KERNELS if entry.get("switch") == switch),
                "policy.known_kernels")


def _keeper_value(facts):
    pin = _section(facts, "pin")
    return int_or_none(pin.get("value")) if pin.get("keeper") is True else None


def _kube_proxy_start_reason(reasons, proxy_line, write, proxy_version_text, kernel_version, proxy_source, which):
    """Say what kube-proxy writes to conn_reuse_mode at its ``which`` ("next" or "first") start.

    What it writes is a prediction from its release line, so the reason carries the line's confidence (verified or
    inferred), on a live node as on an image."""
    confidence = proxy_line.get("confidence", "verified") if proxy_line is not None else "observed"
    if proxy_line is None:
        reasons.add("kube_proxy_unknown", "kube-proxy version %s: what it writes at its %s start is unknown"
                    % (proxy_version_text or "not found", which), proxy_source)
    elif write is None:
        reasons.add("kube_proxy_uncertain", "kube-proxy %s may or may not write conn_reuse_mode=0 at its %s "
                    "start on kernel %s" % (proxy_version_text, which, format_version(kernel_version)), proxy_line["source"],
                    confidence)
    elif write == "leave":
        reasons.add("kube_proxy_leaves", "kube-proxy %s leaves conn_reuse_mode as it is on kernel %s"
                    % (proxy_version_text, format_version(kernel_version)), proxy_line["source"], confidence)
    else:
        reasons.add("kube_proxy_writes", "kube-proxy %s writes conn_reuse_mode=0 at every start on kernel %s "
                    "(it reads only the version number)" % (proxy_version_text, format_version(kernel_version)),
                    proxy_line["source"], confidence)


def _after_start(value_before, write, keeper_value):
    """conn_reuse_mode after kube-proxy's start: a pin keeper's value, else kube-proxy's write (None: unknown)."""
    if keeper_value is not None:
        return keeper_value
    if write == "leave":
        return value_before
    return write  # 0, or None when unknown


def _start_values(proxy_line, expire_before):
    """(conntrack, expire_nodest_conn) after kube-proxy's start: every line sets conntrack=1; most set
    expire_nodest_conn=1, the oldest leave it as it was; unknown without a known line."""
    writes_expire = proxy_line is not None and proxy_line["writes_expire"] is True
    start_conntrack = 1 if proxy_line is not None else None
    start_expire = 1 if writes_expire else (expire_before if proxy_line is not None and proxy_line["writes_expire"] is False
                                            else None)
    return start_conntrack, start_expire


def _classify_states(states, state_fixes, mode, configured):
    classified = {}
    for name, (conn_reuse_mode, conntrack, expire_nodest) in states.items():
        state_mode = mode if name == "live" else (configured or mode)
        if state_mode != "ipvs":
            classified[name] = ("safe", "kube-proxy in %s mode: the IPVS reuse bug does not apply" % state_mode)
        else:
            classified[name] = classify_state(conn_reuse_mode, conntrack, expire_nodest, state_fixes[name])
    return classified


def _state_summary(states, classified):
    return dict((name, {"conn_reuse_mode": values[0], "conntrack": values[1],
                        "expire_nodest_conn": values[2], "verdict": classified[name][0]})
                for name, values in states.items())


# ------------------------------------------------------------- offline images

BOOT_SYSCTLS = ("conn_reuse_mode", "conntrack", "expire_nodest_conn")


def _boot_values(facts, reasons):
    """The net.ipv4.vs values an image boots with: its sysctl files (systemd-sysctl order, gathered as
    ``persisted``), else the kernel's defaults. Returns ({name: int or None}, [malformed descriptions])."""
    persisted = _section(facts, "persisted")
    values, malformed = {}, []
    for name in BOOT_SYSCTLS:
        entry = _section(persisted, name)
        raw = entry.get("value")
        if raw is None:
            values[name] = knowledge.KERNEL_DEFAULTS[name]
            reasons.add("boot_value", "at boot net.ipv4.vs.%s=%d: no sysctl file of the image sets it, so the kernel "
                        "default holds" % (name, values[name]), knowledge.KERNEL_DEFAULTS_SOURCE, "verified")
            continue
        source = _str_or_none(entry.get("file")) or "the image's sysctl files"
        values[name] = int_or_none(raw)
        if values[name] is None:
            malformed.append("%s=%r (%s)" % (name, raw if isinstance(raw, str) else repr(raw), source))
            continue
        reasons.add("boot_value", "at boot net.ipv4.vs.%s=%d, set by the image's sysctl file %s (the last assignment "
                    "in systemd-sysctl order wins)" % (name, values[name], source), source, "observed")
    return values, malformed


def _classify_image(facts, policy, reasons, warnings, mode, configured, release, kernel_version, proxy_line,
                    proxy_version_text, proxy_source):
    """An offline image (no live /proc): its only state is the one it boots into, after kube-proxy's first start.

    The result's only state is ``after_reboot`` (for an image: from its first boot), and ``starts`` is
    ``after_reboot`` where that state has a problem."""
    kernel = _section(facts, "kernel")
    ipvs = _section(facts, "ipvs")
    root = _str_or_none(facts.get("root")) or "the given root"
    reasons.add("offline_image", "offline image (no live /proc below %s): assessed by the state it boots into, "
                "after kube-proxy's first start; it has no live state" % root, "ipvs_facts live=false", "observed")
    installed = kernel.get("installed") if isinstance(kernel.get("installed"), list) else []
    selection = _str_or_none(kernel.get("selection")) or "the kernel found in /boot or /lib/modules"
    reasons.add("image_kernel", "the image boots kernel %s: %s%s" % (
        release, selection, "; installed: %s" % ", ".join(str(item)[:80] for item in installed[:8])
        if len(installed) > 1 else ""), _str_or_none(kernel.get("source")) or "/boot", "observed")
    if ipvs.get("built") == "not built":
        return _unknown(reasons, "image_no_ip_vs", "kernel %s is built without IPVS (CONFIG_IP_VS is not set): "
                        "kube-proxy cannot run in IPVS mode on this image" % release,
                        "/boot/config-%s" % release)

    boot, malformed = _boot_values(facts, reasons)
    if malformed:
        return _unknown(reasons, "boot_values_malformed", "the image's sysctl files set values that are not "
                        "integers: %s" % ", ".join(malformed), "sysctl files")
    out_of_range = _out_of_range((name, boot[name]) for name in BOOT_SYSCTLS)
    if out_of_range:
        return _unknown(reasons, "boot_values_out_of_range", "the image's sysctl files set net.ipv4.vs values out of "
                        "range: %s" % ", ".join(out_of_range), "sysctl files")

    fixes = _establish_fixes(facts, release, [], policy, reasons)
    switch, state_fixes = _vendor_switch(facts, fixes, reasons, {}, ("after_reboot",))
    keeper_value = _keeper_value(facts)
    write = kube_proxy_conn_reuse_write(proxy_line, kernel_version)
    _kube_proxy_start_reason(reasons, proxy_line, write, proxy_version_text, kernel_version, proxy_source, "first")
    start_conntrack, start_expire = _start_values(proxy_line, boot["expire_nodest_conn"])
    if keeper_value is not None:
        reasons.add("pin_keeper", "a pin keeper re-asserts conn_reuse_mode=%d after each kube-proxy start"
                    % keeper_value, knowledge.PIN_KEEPER_UNIT)
    states = {"after_reboot": (_after_start(boot["conn_reuse_mode"], write, keeper_value), start_conntrack,
                               start_expire)}
    classified = _classify_states(states, state_fixes, mode, configured)
    verdict, text = classified["after_reboot"]
    reasons.add("after_boot_state", "after boot: " + text, "the boot-time values above, then kube-proxy's first start", "inferred")

    if kernel_version[:2] < knowledge.CONN_REUSE_MODE_SYSCTL_SINCE:
        # Whether this kernel has conn_reuse_mode (RHEL 7 backported it) shows only on a booted node. Without it,
        # row 9 applies (problem 1); the verdict is known only where both possibilities agree.
        if verdict != "problem1":
            return _unknown(reasons, "image_old_kernel", "kernel %s is older than 4.1: without conn_reuse_mode it "
                            "has problem 1 (row 9), with a vendor backport it is %s; which one only a booted node "
                            "shows (/proc/sys/net/ipv4/vs/conn_reuse_mode)" % (release, verdict),
                            "d752c3645717 (4.1)")
        reasons.add("image_old_kernel", "kernel %s is older than 4.1: with or without conn_reuse_mode (a vendor "
                    "backport) it has problem 1 after boot" % release, "d752c3645717 (4.1)", "inferred")
    result = _decide(verdict, fixes, write, reasons, warnings, policy, _state_summary(states, classified),
                     expire_nodest=(start_expire, start_expire),
                     switch=switch if state_fixes["after_reboot"] is not fixes else None)
    if verdict in ("problem1", "problem2"):
        result["starts"] = "after_reboot"
    return result


def _decide(verdict, fixes, kube_proxy_write, reasons, warnings, policy, states, expire_nodest=(None, None),
            switch=None):
    """Pick the mitigation for a verdict (the 'decide' step).

    expire_nodest is (live value, value after kube-proxy's next start): a pin of conn_reuse_mode=0 is
    safe only where expire_nodest_conn=1 holds in both, since the pin does not set expire_nodest_conn.
    """
    pin_value = None
    pin_0_holds = expire_nodest == (1, 1)
    if verdict in ("safe", "unknown", "not_applicable"):
        mitigation = "none"
    elif fixes[knowledge.SYN_DROP_FIX] is True and policy["allow_pin"]:
        mitigation, pin_value = "pin_sysctl", 1
        reasons.add("decide_pin_1", "the kernel has the reuse fix: conn_reuse_mode=1 is safe to pin", "rows 2/5")
    elif fixes[knowledge.DRAINED_BACKEND_FIX] is True and pin_0_holds and policy["allow_pin"]:
        mitigation, pin_value = "pin_sysctl", 0
        reasons.add("decide_pin_0", "no reuse fix, but the weight-0 fix with expire_nodest_conn=1: "
                    "conn_reuse_mode=0 is safe to pin", "row 6")
    else:
        mitigation = policy["fallback_mitigation"]
        if fixes[knowledge.DRAINED_BACKEND_FIX] is True and policy["allow_pin"]:
            reasons.add("decide_no_pin_0", "conn_reuse_mode=0 would be safe with the weight-0 fix only where "
                        "expire_nodest_conn=1 holds now and after kube-proxy's next start (now %s, after start %s); "
                        "pinning conn_reuse_mode does not change it" % expire_nodest, "row 6")
        reasons.add("decide_fallback", "no conn_reuse_mode value is safe on this kernel (pinning 1 gives problem 2, "
                    "pinning 0 gives problem 1): %s" % knowledge.MITIGATION_TEXT[mitigation], "policy.fallback_mitigation")
    needs_keeper = None
    if pin_value is not None:
        needs_keeper = kube_proxy_write != "leave"
        if needs_keeper:
            reasons.add("decide_keeper", "kube-proxy rewrites conn_reuse_mode at start (or may): the pin must be "
                        "re-asserted after every kube-proxy start", "domain reference: kube-proxy side")
    pin_sysctls = None
    if pin_value is not None:
        pin_sysctls = {"conn_reuse_mode": pin_value}
        if switch and pin_value == 1:
            # the vendor's fix is what makes conn_reuse_mode=1 safe: it must be on and stay on
            pin_sysctls[switch] = 1
            reasons.add("decide_pin_switch", "pin net.ipv4.vs.%s=1 as well: the vendor's reuse fix works only while "
                        "it is on" % switch, _switch_source(switch), "verified")
    result = {"verdict": verdict, "mitigation": mitigation, "pin_value": pin_value, "pin_needs_keeper": needs_keeper,
              "pin_sysctls": pin_sysctls, "starts": None, "branches": [], "settle": None,
              "states": states, "reasons": list(reasons), "warnings": warnings}
    result.update((name, fixes[name]) for name in knowledge.FIXES)
    return result
