"""Measured fixes (ipvs_kernel_probe) in the classification: they outrank knowledge, for the same build only."""
import copy

import pytest

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import classify
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.measured_fixes import overlay_measured_fixes

LAB_BUILD = "#1 SMP PREEMPT_DYNAMIC Tue Dec  1 10:00:00 UTC 2026"
RHEL_BUILD = "#1 SMP Thu Mar 30 12:00:00 EDT 2023"


def node(release, build, crm=1, kp="v1.28.4"):
    return {
        "live": True,
        "kernel": {"release": release, "build": build},
        "os": {"id": "debian", "version_id": "12"},
        "ipvs": {"loaded": True, "sysctl_dir": True},
        "sysctl": {"conn_reuse_mode": crm, "conntrack": 1, "expire_nodest_conn": 1, "expire_quiescent_template": 1},
        "sysctl_errors": {},
        "persisted": {},
        "pin": {"file": None, "value": None, "keeper": False},
        "kube_proxy": {"mode": "ipvs", "version": kp, "mode_source": "test", "version_source": "test"},
    }


def measured(release, build, syn_drop_fix, drained_backend_fix, probed=True):
    return {"probed": probed, "syn_drop_fix": syn_drop_fix, "drained_backend_fix": drained_backend_fix,
            "node": "node-a", "measured_at": "2026-12-02T12:00:00Z", "kernel": {"release": release, "build": build},
            "syn_drop_fix_reason": ("5 of 5 connects from a reused client port took >= 500 ms (median 1031.0 ms, "
                                    "max 1044.0 ms)"),
            "drained_backend_fix_reason": ("0 of 5 new connections from a reused client port reached backend be1 "
                                           "after it was drained")}


def with_probe(facts, probe):
    facts = copy.deepcopy(facts)
    facts["kernel_probe"] = probe
    return facts


LAB = node("6.1.192-ipvs-prefix-lab", LAB_BUILD)


def test_lab_kernel_without_known_kernels_entry_gets_the_measured_verdict_and_a_warning():
    # the version rules call 6.1 fixed; the lab kernel has the pre-5.9 condition
    assert classify(LAB)["verdict"] == "safe"
    result = classify(with_probe(LAB, measured("6.1.192-ipvs-prefix-lab", LAB_BUILD, False, True)))
    assert (result["verdict"], result["syn_drop_fix"], result["drained_backend_fix"]) == ("problem2", False, True)
    assert (result["mitigation"], result["pin_value"]) == ("pin_sysctl", 0)
    reason = next(r for r in result["reasons"] if r["rule"] == "measured_syn_drop_fix")
    assert reason["confidence"] == "measured"
    assert "measured on node-a at 2026-12-02T12:00:00Z" in reason["text"] and "median 1031.0 ms" in reason["text"]
    assert any("report it upstream" in warning and "measured on node-a" in warning for warning in result["warnings"])


def test_measurement_settles_an_undocumented_vendor_build():
    rhel = node("4.18.0-477.el8.x86_64", RHEL_BUILD, kp="v1.20.15")
    assert classify(rhel)["syn_drop_fix"] is None
    result = classify(with_probe(rhel, measured("4.18.0-477.el8.x86_64", RHEL_BUILD, True, True)))
    assert (result["verdict"], result["syn_drop_fix"]) == ("safe", True)
    assert not any("upstream" in warning for warning in result["warnings"])  # filling a gap is no disagreement


def test_measurement_outranks_a_site_entry_too():
    policy = {"known_kernels": [{"name": "lab", "release_regex": "-ipvs-prefix-lab", "syn_drop_fix": True,
                                 "drained_backend_fix": True}]}
    result = classify(with_probe(LAB, measured("6.1.192-ipvs-prefix-lab", LAB_BUILD, False, True)), policy)
    assert result["syn_drop_fix"] is False and result["verdict"] == "problem2"
    assert any("known_kernels" in warning for warning in result["warnings"])


@pytest.mark.parametrize("release, build", [
    ("6.1.192-ipvs-prefix-lab", "#2 SMP PREEMPT_DYNAMIC another build"),   # same release, other build
    ("6.1.0-28-cloud-amd64", LAB_BUILD),                                    # other release
    ("6.1.192-ipvs-prefix-lab", None),
])
def test_a_measurement_of_another_build_is_not_applied(release, build):
    result = classify(with_probe(LAB, measured(release, build, False, False)))
    assert (result["verdict"], result["syn_drop_fix"]) == ("safe", True)
    assert any("not applied" in warning for warning in result["warnings"])


def test_a_node_without_build_string_takes_no_measurement():
    facts = copy.deepcopy(LAB)
    facts["kernel"]["build"] = None
    result = classify(with_probe(facts, measured("6.1.192-ipvs-prefix-lab", LAB_BUILD, False, True)))
    assert result["syn_drop_fix"] is True and any("not applied" in warning for warning in result["warnings"])


def test_a_probe_that_measured_nothing_changes_nothing_and_says_why():
    probe = dict(measured("6.1.192-ipvs-prefix-lab", LAB_BUILD, None, None, probed=False),
                 reason="cannot probe: ipvsadm missing")
    result = classify(with_probe(LAB, probe))
    assert classify(LAB)["verdict"] == result["verdict"] == "safe"
    assert any(r["rule"] == "measured_none" and "ipvsadm missing" in r["text"] for r in result["reasons"])


def test_one_fix_measured_the_other_left_to_knowledge():
    rhel = node("4.18.0-477.el8.x86_64", RHEL_BUILD, kp="v1.20.15", crm=0)
    result = classify(with_probe(rhel, measured("4.18.0-477.el8.x86_64", RHEL_BUILD, None, True)))
    assert (result["syn_drop_fix"], result["drained_backend_fix"]) == (None, True)
    assert "measured_syn_drop_fix_unknown" in [r["rule"] for r in result["reasons"]]


@pytest.mark.parametrize("probe", [None, {}, "syn_drop_fix=true", ["x"], {"probed": "yes"}])
def test_malformed_probe_input_changes_nothing(probe):
    fixes = {"syn_drop_fix": True, "drained_backend_fix": True}
    got, _notes, _warnings = overlay_measured_fixes(fixes, probe, {"release": "6.1.192-ipvs-prefix-lab",
                                                                   "build": LAB_BUILD})
    assert got == fixes


def test_non_boolean_measured_values_are_ignored_with_a_warning():
    probe = measured("6.1.192-ipvs-prefix-lab", LAB_BUILD, "false", 0)
    got, _notes, warnings = overlay_measured_fixes({"syn_drop_fix": True, "drained_backend_fix": True}, probe, LAB["kernel"])
    assert got == {"syn_drop_fix": True, "drained_backend_fix": True}
    assert len(warnings) == 2


def test_a_probe_result_with_the_deprecated_names_still_counts():
    """A probe result kept from before 1.1.0 has fix2/fix1 and their reasons only."""
    new = measured("6.1.192-ipvs-prefix-lab", LAB_BUILD, False, True)
    old = dict((key, value) for key, value in new.items() if "_fix" not in key)
    old.update(fix2=False, fix1=True, fix2_reason=new["syn_drop_fix_reason"],
               fix1_reason=new["drained_backend_fix_reason"])
    known = {"syn_drop_fix": True, "drained_backend_fix": None}
    got, notes, _warnings = overlay_measured_fixes(known, old, LAB["kernel"])
    assert got == {"syn_drop_fix": False, "drained_backend_fix": True}
    rules = [rule for rule, _text, _source, _confidence in notes]
    assert rules == ["measured_syn_drop_fix", "measured_drained_backend_fix"]
    assert "1031.0 ms" in notes[0][1]
