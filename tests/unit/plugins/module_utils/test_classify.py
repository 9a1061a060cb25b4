"""The classification engine, table-driven: every row of the domain decision table, backported
builds, each kube-proxy release line, the three node states, the policy, malformed input."""
import copy

import pytest

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge as K
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import (
    PolicyError, classify, kube_proxy_conn_reuse_write, kube_proxy_line, parse_version, validate_policy)


def node(kernel="5.4.0-150-custom", mode="ipvs", kp="v1.28.4", crm=0, ct=1, end=1, persisted=None,
         markers=None, pin=None, os_id="ubuntu", os_version="20.04"):
    facts = {
        "kernel": {"release": kernel},
        "os": {"id": os_id, "version_id": os_version},
        "ipvs": {"loaded": True, "sysctl_dir": True},
        "sysctl": {"conn_reuse_mode": crm, "conntrack": ct, "expire_nodest_conn": end,
                   "expire_quiescent_template": 1},
        "sysctl_errors": {},
        "persisted": {} if persisted is None else {"conn_reuse_mode": {"value": str(persisted),
                                                                       "file": "/etc/sysctl.d/x.conf"}},
        "pin": pin or {"file": None, "value": None, "keeper": False},
        "kube_proxy": {"mode": mode, "version": kp, "mode_source": "test", "version_source": "test"},
    }
    facts["sysctl"].update(markers or {})
    return facts


def rules(result):
    return [reason["rule"] for reason in result["reasons"]]


# (id, facts, verdict, mitigation, syn_drop_fix)
DECISION_TABLE = [
    ("row1 iptables", node(mode="iptables"), "not_applicable", "none", None),
    ("row1 nftables", node(mode="nftables"), "not_applicable", "none", None),
    ("row2 crm0 syn_drop_fix (5.10, kp 1.28 leaves it)", node(kernel="5.10.0-28-amd64", crm=0, persisted=0),
     "problem1", "pin_sysctl", True),
    ("row3 crm0 no syn_drop_fix (5.4 unknown)", node(crm=0), "problem1", "os_upgrade", None),
    ("row3 crm0 RHEL7 known unfixed", node(kernel="3.10.0-1160.el7.x86_64", kp="v1.18.20", crm=0),
     "problem1", "os_upgrade", False),
    ("row4 crm1 ct1 no syn_drop_fix", node(kernel="4.18.0-477.el8.x86_64", kp="v1.20.15", crm=1),
     "problem2", "os_upgrade", None),
    ("row5 crm1 ct1 syn_drop_fix (6.1, kp 1.28)", node(kernel="6.1.0-18-amd64", crm=1), "safe", "none", True),
    ("row6 crm0 drained_backend_fix end1 (6.1)", node(kernel="6.1.0-18-amd64", crm=0), "safe", "none", True),
    ("row6 does not apply with end=0", node(kernel="6.1.0-18-amd64", kp="v1.0.0", crm=0, end=0),
     "problem1", "pin_sysctl", True),
    ("row7 ct0 on fixed kernel, kp 1.28", node(kernel="6.1.0-18-amd64", crm=1, ct=0), "safe", "none", True),
    ("row7 ct0 on unfixed kernel: kube-proxy sets ct=1 at start", node(kernel="5.4.0-1-generic", kp="v1.10.0",
                                                                       crm=1, ct=0), "problem2", "os_upgrade", False),
    ("row9 kernel < 4.1 without the sysctl", dict(node(kernel="3.18.0-1", kp="v1.17.0", crm=None),
                                                  sysctl_errors={"conn_reuse_mode": "missing"}),
     "problem1", "os_upgrade", False),
]


@pytest.mark.parametrize("facts,verdict,mitigation,syn_drop_fix",
                         [row[1:] for row in DECISION_TABLE], ids=[row[0] for row in DECISION_TABLE])
def test_decision_table(facts, verdict, mitigation, syn_drop_fix):
    result = classify(facts)
    assert (result["verdict"], result["mitigation"], result["syn_drop_fix"]) == (verdict, mitigation, syn_drop_fix), \
        result["reasons"]
    assert result["reasons"], "every verdict explains itself"
    assert all(reason["source"] and reason["text"] for reason in result["reasons"])


def test_row8_missing_vs_directory_is_unknown():
    facts = node()
    facts["ipvs"]["sysctl_dir"] = False
    result = classify(facts)
    assert (result["verdict"], result["mitigation"]) == ("unknown", "none")
    assert "row8_no_vs_sysctls" in rules(result)


def test_row8_unreadable_value_is_unknown_and_says_why():
    facts = node(crm=None)
    facts["sysctl_errors"] = {"conn_reuse_mode": "Permission denied"}
    result = classify(facts)
    assert result["verdict"] == "unknown"
    assert "Permission denied" in result["reasons"][-1]["text"]


def test_row9_kube_proxy_that_cannot_start_is_named():
    facts = dict(node(kernel="3.18.0-1", kp="v1.15.3", crm=None), sysctl_errors={"conn_reuse_mode": "missing"})
    assert "row9_kube_proxy_fails" in rules(classify(facts))


def test_rhel7_has_the_sysctl_under_an_old_number():
    """A 3.10 vendor kernel with the sysctl is classified by its value, not as row 9."""
    result = classify(node(kernel="3.10.0-1160.el7.x86_64", kp="v1.21.0", crm=1))
    assert result["verdict"] == "problem2"
    assert "row9_old_kernel" not in rules(result)


# Backported kernels: the version number alone would say "unfixed".
BACKPORTS = [
    # (name, release, marker sysctls, syn_drop_fix, verdict with crm=1 and kube-proxy 1.22, which writes 0
    # below 5.9 by version number: problem1 on fixed backports, problem2 now where the fix is missing)
    ("EulerOS x86 h686", "4.18.0-147.5.1.6.h686.eulerosv2r9.x86_64", {}, True, "problem1"),
    ("EulerOS x86 h998", "4.18.0-147.5.1.6.h998.eulerosv2r9.x86_64", {}, True, "problem1"),
    ("EulerOS x86 h600 (before the fix)", "4.18.0-147.5.1.6.h600.eulerosv2r9.x86_64", {}, None, "problem2"),
    ("EulerOS ARM h584", "4.19.90-vhulk2103.1.0.h584.eulerosv2r9.aarch64", {}, True, "problem1"),
    ("EulerOS ARM h500 (before the fix)", "4.19.90-vhulk2103.1.0.h500.eulerosv2r9.aarch64", {}, None, "problem2"),
    ("TencentOS marker sysctl", "4.14.105-1-tlinux3-0013", {"conn_reuse_old_conntrack": 1}, True, "problem1"),
    ("stable 4.19.140", "4.19.140", {}, True, "problem1"),
    ("stable 4.19.139", "4.19.139", {}, None, "problem2"),
    ("stable 5.8.2", "5.8.2-arch1", {}, True, "problem1"),
    ("5.8.1", "5.8.1", {}, None, "problem2"),
    ("5.9 mainline: kube-proxy leaves the value", "5.9.0-1-amd64", {}, True, "safe"),
    ("5.7.y UNVERIFIED", "5.7.19", {}, None, "problem2"),
]


@pytest.mark.parametrize("release,markers,fixed,verdict", [row[1:] for row in BACKPORTS],
                         ids=[row[0] for row in BACKPORTS])
def test_backported_kernels(release, markers, fixed, verdict):
    result = classify(node(kernel=release, crm=1, kp="v1.22.0", markers=markers))
    assert (result["syn_drop_fix"], result["verdict"]) == (fixed, verdict)
    assert result["mitigation"] == ("pin_sysctl" if fixed and verdict != "safe" else
                                    "none" if verdict == "safe" else "os_upgrade")


def test_user_known_kernels_come_first_and_can_declare_a_build_unfixed():
    facts = node(kernel="6.1.192-ipvs-prefix-lab", crm=1, kp="v1.28.4")
    assert classify(facts)["verdict"] == "safe"
    policy = {"known_kernels": [{"name": "lab", "release_regex": "-ipvs-prefix-lab", "syn_drop_fix": False,
                                 "drained_backend_fix": True, "source": "lab"}]}
    result = classify(facts, policy)
    assert (result["verdict"], result["syn_drop_fix"], result["drained_backend_fix"]) == ("problem2", False, True)
    # weight-0 fix with expire_nodest_conn=1 from kube-proxy: pinning 0 is the safe pin
    assert (result["mitigation"], result["pin_value"]) == ("pin_sysctl", 0)
    assert any(reason["source"] == "lab" for reason in result["reasons"])


def test_pin_0_needs_expire_nodest_conn_1_now_as_well():
    # The lab measured problem 1 after pinning 0 on a node whose expire_nodest_conn was 0: the pin does not set it.
    policy = {"known_kernels": [{"name": "lab", "release_regex": "-ipvs-prefix-lab", "syn_drop_fix": False,
                                 "drained_backend_fix": True, "source": "lab"}]}
    result = classify(node(kernel="6.1.192-ipvs-prefix-lab", crm=1, end=0, kp="v1.28.4"), policy)
    assert (result["verdict"], result["mitigation"], result["pin_value"]) == ("problem2", "os_upgrade", None)
    assert "decide_no_pin_0" in [reason["rule"] for reason in result["reasons"]]


# The lab's two rebuilt kernels as the lab declares them (tests/lab/run_lab.py LAB_KNOWN_KERNELS): each entry must
# match only its own build, and the one without the weight-0 fix must give problem 1 for conn_reuse_mode=0 even
# with expire_nodest_conn=1 (measured in docs/lab.md, row lab-nofix1-6.1 0/1).
LAB_POLICY = {"known_kernels": [
    {"name": "lab pre-5.9 rebuild", "release_regex": "-ipvs-prefix-lab", "syn_drop_fix": False, "drained_backend_fix": True,
     "source": "tests/guests/lab-kernel"},
    {"name": "lab pre-5.9 rebuild without the weight-0 fix", "release_regex": "-ipvs-nofix2-nofix1-lab$",
     "syn_drop_fix": False, "drained_backend_fix": False, "source": "tests/guests/lab-kernel"},
]}


@pytest.mark.parametrize("release,crm,end,verdict,mitigation,drained_backend_fix", [
    ("6.1.192-ipvs-prefix-lab", 0, 0, "problem1", "os_upgrade", True),
    ("6.1.192-ipvs-prefix-lab", 0, 1, "safe", "none", True),
    ("6.1.192-ipvs-prefix-lab", 1, 1, "problem2", "pin_sysctl", True),
    ("6.1.192-ipvs-nofix2-nofix1-lab", 0, 0, "problem1", "os_upgrade", False),
    ("6.1.192-ipvs-nofix2-nofix1-lab", 0, 1, "problem1", "os_upgrade", False),
    ("6.1.192-ipvs-nofix2-nofix1-lab", 1, 0, "problem2", "os_upgrade", False),
    ("6.1.192-ipvs-nofix2-nofix1-lab", 1, 1, "problem2", "os_upgrade", False),
])
def test_lab_kernels_with_and_without_the_weight0_fix(release, crm, end, verdict, mitigation, drained_backend_fix):
    result = classify(node(kernel=release, crm=crm, end=end, persisted=crm, kp="v1.28.4"), LAB_POLICY)
    assert (result["verdict"], result["mitigation"], result["syn_drop_fix"], result["drained_backend_fix"]) == \
        (verdict, mitigation, False, drained_backend_fix)


def test_user_known_kernels_can_declare_a_build_fixed():
    facts = node(kernel="5.4.0-1103-acme", crm=0, kp="v1.28.4")
    policy = {"known_kernels": [{"release_regex": r"^5\.4\.0-1\d{3}-acme", "syn_drop_fix": True, "source": "acme"}]}
    result = classify(facts, policy)
    assert (result["verdict"], result["mitigation"], result["pin_value"], result["pin_needs_keeper"]) == \
        ("problem1", "pin_sysctl", 1, True)


KUBE_PROXY_LINES = [
    # (kube-proxy, kernel, what it writes at start)
    ("v1.10.13", "5.4.0", "leave"),
    ("v1.11.6", "5.4.0", "leave"),
    ("v1.11.7", "5.4.0", 0),
    ("v1.11.10", "5.4.0", 0),
    ("v1.12.4", "6.1.0", "leave"),
    ("v1.12.5", "6.1.0", 0),
    ("v1.20.14", "6.1.0", 0),
    ("v1.20.15", "6.1.0", "leave"),
    ("v1.21.8", "6.1.0", 0),
    ("v1.21.9", "6.1.0", "leave"),
    ("v1.13.0", "5.4.0", 0),
    ("v1.18.20", "6.1.0", 0),
    ("v1.18.20", "3.10.0", 0),  # writes unconditionally (RHEL 7 kernels carry the sysctl)
    ("v1.19.16", "6.1.0", 0),
    ("v1.19.16", "3.10.0", "leave"),
    ("v1.20.15", "5.4.0", 0),
    ("v1.21.14", "6.1.0", "leave"),
    ("v1.22.0", "5.4.0", 0),
    ("v1.22.0", "5.9.0", "leave"),
    ("v1.27.3-eks-a5565ad", "6.1.0", "leave"),
    ("v1.25.9+k3s1", "5.10.0", "leave"),
    ("1.21.14", "5.4.0", 0),
    ("v1.35.0", "4.18.0", 0),
]


@pytest.mark.parametrize("kube_proxy,kernel,writes", KUBE_PROXY_LINES)
def test_kube_proxy_release_lines(kube_proxy, kernel, writes):
    assert kube_proxy_conn_reuse_write(kube_proxy_line(parse_version(kube_proxy)), parse_version(kernel)) == writes


def test_kube_proxy_rewrite_turns_a_safe_node_into_problem1():
    """crm=1 on a fixed backport kernel is safe now, but kube-proxy 1.22 writes 0 at its next start."""
    result = classify(node(kernel="4.19.150", crm=1, kp="v1.24.0"))
    assert result["states"]["live"]["verdict"] == "safe"
    assert result["states"]["after_kube_proxy_restart"]["verdict"] == "problem1"
    assert (result["verdict"], result["pin_value"], result["pin_needs_keeper"]) == ("problem1", 1, True)


def test_pin_keeper_keeps_the_node_safe():
    result = classify(node(kernel="4.19.150", crm=1, kp="v1.24.0", persisted=1,
                           pin={"file": K.PIN_SYSCTL_FILE, "value": 1, "keeper": True}))
    assert (result["verdict"], result["mitigation"]) == ("safe", "none")
    assert "pin_keeper" in rules(result)


def test_persisted_zero_returns_at_reboot():
    """kube-proxy 1.28 leaves the value on 5.10: a persisted 0 comes back at boot."""
    result = classify(node(kernel="5.10.0-28-amd64", crm=1, persisted=0))
    assert result["states"]["live"]["verdict"] == "safe"
    assert result["states"]["after_reboot"]["verdict"] == "problem1"
    assert result["verdict"] == "problem1"
    assert result["pin_needs_keeper"] is False


def test_unknown_kube_proxy_version_makes_a_safe_looking_node_unknown_when_it_matters():
    result = classify(node(kernel="4.19.150", crm=1, kp=None))
    assert result["verdict"] == "unknown" and result["mitigation"] == "none"


def test_unknown_kube_proxy_version_does_not_matter_on_6_1():
    """On a kernel with both fixes every value kube-proxy may write is safe."""
    result = classify(node(kernel="6.1.0-18-amd64", crm=1, kp=None))
    assert result["verdict"] in ("safe", "unknown")
    # kube-proxy's expire_nodest_conn write is unknown without a version, so row 6 cannot be proven
    assert result["mitigation"] == "none"


def test_policy_switch_iptables_replaces_os_upgrade():
    result = classify(node(crm=0), {"fallback_mitigation": "switch_iptables"})
    assert result["mitigation"] == "switch_iptables"


def test_policy_without_pinning():
    result = classify(node(kernel="5.10.0-28-amd64", crm=0, persisted=0), {"allow_pin": False})
    assert (result["verdict"], result["mitigation"]) == ("problem1", "os_upgrade")


@pytest.mark.parametrize("policy,message", [
    ("pin", "must be a dict"),
    ({"fallback_mitigation": "pin_sysctl"}, "fallback_mitigation"),
    ({"allow_pin": "yes"}, "allow_pin"),
    ({"typo": 1}, "unknown policy keys: typo"),
    ({"known_kernels": [{"syn_drop_fix": True}]}, "needs release_regex or marker"),
    ({"known_kernels": [{"release_regex": "(", "syn_drop_fix": True}]}, "not a valid regular expression"),
    ({"known_kernels": [{"release_regex": "x", "syn_drop_fix": "yes"}]}, "syn_drop_fix must be"),
    ({"known_kernels": "x"}, "must be a list"),
])
def test_bad_policy_is_refused_with_a_clear_message(policy, message):
    with pytest.raises(PolicyError, match=message):
        classify(node(), policy)


MALFORMED = [
    ("None", None),
    ("list", []),
    ("empty dict", {}),
    ("mode missing", dict(node(), kube_proxy={})),
    ("kernel garbage", dict(node(), kernel={"release": "\x00\xff garbage"})),
    ("kernel empty", dict(node(), kernel={"release": ""})),
    ("kernel not a dict", dict(node(), kernel="5.4")),
    ("sysctl strings", dict(node(), sysctl={"conn_reuse_mode": "abc", "conntrack": "1", "expire_nodest_conn": 1})),
    ("sysctl bools", dict(node(), sysctl={"conn_reuse_mode": True, "conntrack": 1, "expire_nodest_conn": 1})),
    ("sysctl missing", dict(node(), sysctl=None)),
]


@pytest.mark.parametrize("facts", [row[1] for row in MALFORMED], ids=[row[0] for row in MALFORMED])
def test_malformed_facts_give_unknown(facts):
    result = classify(copy.deepcopy(facts))
    assert (result["verdict"], result["mitigation"]) == ("unknown", "none")
    assert result["reasons"]


def test_kube_proxy_version_garbage_is_a_warning_not_a_crash():
    result = classify(node(kernel="6.1.0-18-amd64", crm=1, kp="latest"))
    assert any("cannot be parsed" in warning for warning in result["warnings"])


@pytest.mark.parametrize("text,version", [
    ("v1.28.4", (1, 28, 4)), ("1.21.14", (1, 21, 14)), ("v1.27.3-eks-a5565ad", (1, 27, 3)),
    ("v1.25.9+k3s1", (1, 25, 9)), ("4.18.0-305.el8", (4, 18, 0)), ("5.10", (5, 10, 0)),
    ("", None), ("latest", None), (None, None), (5, None),
])
def test_parse_version(text, version):
    assert parse_version(text) == version


def test_upstream_version_from_the_build_string_decides_the_version_rules():
    """Debian prints 5.10.0-28-amd64 for 5.10.223; the lab measured the weight-0 fix there."""
    facts = node(kernel="5.10.0-28-amd64", crm=0, persisted=0)
    assert classify(facts)["verdict"] == "problem1"
    facts["kernel"]["upstream_version"] = "5.10.223"
    result = classify(facts)
    assert (result["verdict"], result["drained_backend_fix"]) == ("safe", True)
    facts["kernel"]["upstream_version"] = "5.10.82"
    assert classify(facts)["drained_backend_fix"] is None
    facts["kernel"]["upstream_version"] = "5.10.83"
    assert classify(facts)["drained_backend_fix"] is True
    facts["kernel"]["upstream_version"] = "6.1.0"  # another series: ignored
    assert classify(facts)["drained_backend_fix"] is None


@pytest.mark.parametrize("release,expected", [
    (None, "the kernel release is missing"),
    ("", "the kernel release is missing"),
    ("garbage", "the kernel release 'garbage' cannot be parsed"),
])
def test_unparsable_kernel_release_sentence(release, expected):
    facts = node()
    facts["kernel"]["release"] = release
    result = classify(facts)
    assert result["verdict"] == "unknown"
    assert [r["text"] for r in result["reasons"] if r["rule"] == "kernel_unknown"] == [expected]


@pytest.mark.parametrize("raw_mode", ["IPVS ", "ipvs\x00", "bogus", 7, ["ipvs"], "ip vs"])
def test_malformed_mode_is_unknown_never_not_applicable(raw_mode):
    facts = node()
    facts["kube_proxy"]["mode"] = raw_mode
    result = classify(facts)
    assert result["verdict"] == "unknown"
    assert any(r["rule"] == "mode_malformed" and repr(raw_mode) in r["text"] for r in result["reasons"])


def test_mode_is_trimmed():
    facts = node(kernel="6.1.0-18-amd64", crm=1)
    facts["kube_proxy"]["mode"] = "  ipvs\n"
    assert classify(facts)["verdict"] == "safe"


def test_incomplete_gather_is_unknown_even_with_complete_facts():
    facts = node(kernel="6.1.0-18-amd64", crm=1)
    assert classify(facts)["verdict"] == "safe"
    facts["gather_error"] = "gathering took longer than 15 s"
    result = classify(facts)
    assert result["verdict"] == "unknown"
    assert [r["text"] for r in result["reasons"] if r["rule"] == "gather_incomplete"] == [
        "the facts are incomplete: gathering took longer than 15 s"]


# Both fixes at every stable boundary (domain reference, "First stable release carrying each fix"):
# (series, first release with syn_drop_fix or None, first release with drained_backend_fix or None)
STABLE_BOUNDARIES = [
    ("4.14", 194, 257), ("4.19", 140, 219), ("5.4", 59, 163), ("5.8", 2, None), ("5.10", None, 83),
    ("5.15", None, 6),
]


def _fixes_of(upstream):
    """A Debian-style release with a placeholder sublevel, the upstream version in the build string."""
    series = upstream.rsplit(".", 1)[0]
    facts = node(kernel="%s.0-99-amd64" % series, crm=1)
    facts["kernel"]["upstream_version"] = upstream
    facts["kernel"]["upstream_source"] = "/proc/sys/kernel/version"
    result = classify(facts)
    return result["syn_drop_fix"], result["drained_backend_fix"], result


@pytest.mark.parametrize("series,syn_drop_fix_from,drained_backend_fix_from", STABLE_BOUNDARIES)
def test_each_stable_series_at_its_boundaries(series, syn_drop_fix_from, drained_backend_fix_from):
    for key, first in ((0, syn_drop_fix_from), (1, drained_backend_fix_from)):
        if first is None:
            continue
        assert _fixes_of("%s.%d" % (series, first - 1))[key] is None
        assert _fixes_of("%s.%d" % (series, first))[key] is True
    if drained_backend_fix_from is None and series == "5.8":
        assert _fixes_of("5.8.18")[1] is False  # 5.8.y ended before the weight-0 fix


def test_mainline_boundaries():
    assert _fixes_of("5.9.0")[0] is True and _fixes_of("5.9.0")[1] is None
    assert _fixes_of("5.16.0")[1] is True


def test_reasons_carry_source_and_confidence():
    _syn_drop_fix, _drained_backend_fix, result = _fixes_of("5.4.231")
    by_version = [reason for reason in result["reasons"] if reason["rule"] == "fix_by_version"]
    assert [reason["confidence"] for reason in by_version] == ["verified", "verified"]
    assert "159782708615222@kroah.com" in by_version[0]["source"]
    assert "/proc/sys/kernel/version" in by_version[0]["text"]
    assert all(reason.get("confidence") for reason in result["reasons"])


@pytest.mark.parametrize("kp,confidence", [("v1.21.9", "inferred"), ("v1.21.3", "inferred"), ("v1.20.15", "inferred"),
                                           ("v1.22.0", "verified"), ("v1.18.20", "verified")])
def test_kube_proxy_start_reason_has_its_release_lines_confidence_on_a_live_node(kp, confidence):
    """What kube-proxy writes at its next start is a prediction from its release line (knowledge.KUBE_PROXY_LINES),
    not something read on the node: the reason says how sure that line is."""
    result = classify(node(kernel="6.1.0", kp=kp, crm=1, end=1))
    start = [reason for reason in result["reasons"] if reason["rule"].startswith("kube_proxy_")
             and reason["rule"] in ("kube_proxy_writes", "kube_proxy_leaves", "kube_proxy_uncertain")]
    assert len(start) == 1 and start[0]["confidence"] == confidence, start


@pytest.mark.parametrize("abi,syn_drop_fix,drained_backend_fix", [
    (47, False, False), (48, True, False), (99, True, False), (100, True, True), (150, True, True)])
def test_ubuntu_focal_abi_numbers(abi, syn_drop_fix, drained_backend_fix):
    result = classify(node(kernel="5.4.0-%d-generic" % abi, crm=0))
    assert (result["syn_drop_fix"], result["drained_backend_fix"]) == (syn_drop_fix, drained_backend_fix)


def test_up_to_date_ubuntu_2004_is_safe_with_kube_proxys_own_settings():
    """5.4.0-150 carries both fixes: kube-proxy's 0 with expire_nodest_conn=1 is safe (row 6), no OS upgrade."""
    result = classify(node(kernel="5.4.0-150-generic", kp="v1.28.4", crm=0, end=1))
    assert (result["verdict"], result["mitigation"]) == ("safe", "none")


def test_focal_cloud_flavour_is_not_judged_by_its_abi_number():
    facts = node(kernel="5.4.0-1103-aws", crm=0)
    assert classify(facts)["syn_drop_fix"] is None
    facts["kernel"]["upstream_version"] = "5.4.231"
    assert (classify(facts)["syn_drop_fix"], classify(facts)["drained_backend_fix"]) == (True, True)


def _tencent(live_switch, persisted_switch=None, crm=1):
    # kube-proxy writes 0 at every start on 4.14 (problem 1 without drained_backend_fix): a kept pin of 1 is what makes the switch
    # matter, so the node is modelled with the pin_sysctl keeper in place
    facts = node(kernel="4.14.105-19-0019", crm=crm, markers={"conn_reuse_old_conntrack": live_switch},
                 pin={"file": "/etc/sysctl.d/90-kubenode-ipvs-reuse.conf", "value": 1, "keeper": True})
    if persisted_switch is not None:
        facts["persisted"]["conn_reuse_old_conntrack"] = {"value": str(persisted_switch), "file": "/etc/sysctl.conf"}
    return classify(facts)


def test_tencentos_switch_on_is_safe():
    result = _tencent(1)
    assert (result["verdict"], result["syn_drop_fix"]) == ("safe", True)


def test_tencentos_without_a_pin_has_problem1_after_kube_proxy_restart():
    facts = node(kernel="4.14.105-19-0019", crm=1, markers={"conn_reuse_old_conntrack": 1})
    result = classify(facts)
    assert (result["verdict"], result["starts"]) == ("problem1", "after_kube_proxy_restart")
    assert result["pin_sysctls"] == {"conn_reuse_mode": 1}


def test_tencentos_switch_off_is_problem2_now_and_pins_the_switch():
    result = _tencent(0)
    assert (result["verdict"], result["starts"], result["mitigation"]) == ("problem2", "now", "pin_sysctl")
    assert result["pin_sysctls"] == {"conn_reuse_mode": 1, "conn_reuse_old_conntrack": 1}
    assert result["pin_value"] == 1


def test_tencentos_switch_persisted_off_is_problem2_after_reboot():
    result = _tencent(1, persisted_switch=0)
    assert (result["verdict"], result["starts"]) == ("problem2", "after_reboot")
    assert result["pin_sysctls"] == {"conn_reuse_mode": 1, "conn_reuse_old_conntrack": 1}


def test_starts_after_kube_proxy_restart():
    """crm=1 on a fixed 5.4 kernel without drained_backend_fix is safe now; kube-proxy 1.22 writes 0 at its next start."""
    facts = node(kernel="5.4.0-60-generic", kp="v1.22.0", crm=1)
    result = classify(facts)
    assert (result["verdict"], result["starts"]) == ("problem1", "after_kube_proxy_restart")
    assert result["pin_sysctls"] == {"conn_reuse_mode": 1}


def test_kube_proxy_1_21_0_on_debian_12_gets_a_verdict():
    result = classify(node(kernel="6.1.0-18-amd64", kp="v1.21.0", crm=1))
    assert result["verdict"] == "safe"


def test_a_version_without_patch_number_takes_the_worse_branch_and_says_how_to_settle():
    """5.10.50 carries the reuse fix but not the weight-0 fix (5.10.83), conn_reuse_mode=1 now (safe): v1.21.0-v1.21.8
    write 0 at their next start (problem 1), v1.21.9 and later leave 1 on kernels >= 5.9 (safe)."""
    result = classify(node(kernel="5.10.50-generic", kp="v1.21", crm=1))
    assert result["verdict"] == "problem1"
    assert result["settle"] == "pass kube_proxy_version with its patch number"
    assert [(b["kube_proxy"], b["verdict"]) for b in result["branches"]] == [
        ("v1.21.0-v1.21.8", "problem1"), ("v1.21.9 and later", "safe")]
    first = result["reasons"][0]
    assert (first["rule"], first["confidence"]) == ("kube_proxy_branches", "assumed")
    assert "acting on the worse, v1.21.0-v1.21.8" in first["text"]


def test_patch_branches_that_agree_give_a_verdict_without_anything_to_settle():
    """Debian 12's 6.1 has both fixes: v1.21.0-v1.21.8 write 0 (safe with the weight-0 fix and
    expire_nodest_conn=1), v1.21.9 and later leave 1 (safe): the verdict is known whichever patch runs."""
    result = classify(node(kernel="6.1.0-18-amd64", kp="v1.21", crm=1))
    assert result["verdict"] == "safe"
    assert result["settle"] is None
    assert [b["verdict"] for b in result["branches"]] == ["safe", "safe"]
    first = result["reasons"][0]
    assert (first["rule"], first["confidence"]) == ("kube_proxy_branches", "inferred")
    assert "all give the same verdict" in first["text"]


def test_the_earliest_patch_is_not_always_the_worse_branch():
    """v1.12.0-v1.12.4 leave conn_reuse_mode alone, v1.12.5 and later write 0. A 4.19.100 kernel (before both stable
    backports), conn_reuse_mode=1 and conntrack=0 now (safe, row 7): at kube-proxy's next start the early patches set
    conntrack=1 and keep 1 (problem 2), the later ones write 0 (problem 1). The branches disagree: the earlier one is
    acted on at equal severity, and the answer says what settles it."""
    result = classify(node(kernel="4.19.100", kp="v1.12", crm=1, ct=0, end=0))
    assert [(b["kube_proxy"], b["verdict"], b["starts"]) for b in result["branches"]] == [
        ("v1.12.0-v1.12.4", "problem2", "after_kube_proxy_restart"),
        ("v1.12.5 and later", "problem1", "after_kube_proxy_restart")]
    assert (result["verdict"], result["starts"]) == ("problem2", "after_kube_proxy_restart")
    assert result["settle"] == "pass kube_proxy_version with its patch number"


def test_a_version_without_patch_number_on_a_uniform_line_has_no_branches():
    result = classify(node(kernel="5.4.0-150-generic", kp="v1.28", crm=1))
    assert result["branches"] == [] and result["settle"] is None
    assert any(reason["rule"] == "kube_proxy_no_patch" and "behaves the same" in reason["text"]
               for reason in result["reasons"])


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a*)*b", r"(?:x|y+)+z", r"((ab)*)+"])
def test_site_regex_with_nested_repetition_is_refused(pattern):
    with pytest.raises(PolicyError, match="repeats a group that itself repeats"):
        validate_policy({"known_kernels": [{"release_regex": pattern, "syn_drop_fix": False}]})


@pytest.mark.parametrize("pattern", [r"^5\.4\.0-1\d+-acme", r"-ipvs-prefix-lab", r"^4\.18\.0-147\.5\.1\.6\.h(\d+)",
                                     r"(ab)+c", r"^5\.10\.0-(\d+)-(?:amd64|cloud-amd64)$"])
def test_ordinary_site_regexes_are_accepted(pattern):
    validate_policy({"known_kernels": [{"release_regex": pattern, "syn_drop_fix": False}]})


def test_shipped_knowledge_has_no_nested_repetition():
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import _nested_repeat
    assert not [entry["name"] for entry in knowledge.KNOWN_KERNELS
                if entry.get("release_regex") and _nested_repeat(entry["release_regex"])]


@pytest.mark.parametrize("values", [{"crm": -5}, {"crm": 7}, {"ct": 2}, {"end": -1}])
def test_out_of_range_sysctl_values_are_unknown(values):
    result = classify(node(kernel="6.1.0-18-amd64", **values))
    assert result["verdict"] == "unknown"
    assert rules(result)[-1] == "row8_values_out_of_range"


def test_configmap_switching_to_iptables_ends_the_problem_at_the_next_start():
    facts = node(kernel="5.4.0-42-generic", kp="v1.22.0", crm=0)
    assert classify(facts)["verdict"] == "problem1"
    facts["kube_proxy"].update(configured_mode="iptables", configured_mode_source="ConfigMap kube-system/kube-proxy")
    result = classify(facts)
    assert (result["verdict"], result["starts"]) == ("problem1", "now")
    assert result["states"]["after_kube_proxy_restart"]["verdict"] == "safe"
    assert "mode_not_ipvs_next_start" in rules(result)


def test_configmap_switching_to_ipvs_is_a_problem_after_the_next_start():
    facts = node(kernel="5.4.0-42-generic", kp="v1.22.0", crm=1, mode="iptables")
    assert classify(facts)["verdict"] == "not_applicable"
    facts["kube_proxy"]["configured_mode"] = "ipvs"
    result = classify(facts)
    assert (result["verdict"], result["starts"]) == ("problem1", "after_kube_proxy_restart")
    assert result["states"]["live"]["verdict"] == "safe"


@pytest.mark.parametrize("configured", ["bogus", 3, "IPVS"])
def test_a_malformed_configured_mode_is_ignored_with_a_warning(configured):
    facts = node(kernel="6.1.0-18-amd64", crm=1)
    facts["kube_proxy"]["configured_mode"] = configured
    result = classify(facts)
    assert result["verdict"] == "safe" and any("configured kube-proxy mode" in w for w in result["warnings"])


def test_known_kernels_entries_with_the_deprecated_names_still_apply_with_a_warning():
    facts = node(kernel="6.1.192-ipvs-prefix-lab", crm=1, kp="v1.28.4")
    new = {"name": "lab", "release_regex": "-ipvs-prefix-lab", "syn_drop_fix": False, "drained_backend_fix": True}
    old = {"name": "lab", "release_regex": "-ipvs-prefix-lab", "fix2": False, "fix1": True}
    with_new, with_old = classify(facts, {"known_kernels": [new]}), classify(facts, {"known_kernels": [old]})
    assert (with_old["verdict"], with_old["syn_drop_fix"], with_old["drained_backend_fix"]) == ("problem2", False, True)
    assert with_old["reasons"] == with_new["reasons"]
    assert not any("deprecated" in warning for warning in with_new["warnings"])
    warning, = [warning for warning in with_old["warnings"] if "deprecated" in warning]
    assert "known_kernels[0] (lab) uses fix1, fix2" in warning and "drained_backend_fix, syn_drop_fix" in warning


def test_deprecated_build_thresholds_still_apply():
    facts = node(kernel="5.4.0-77-acme", crm=1, kp="v1.28.4")
    entry = {"name": "acme", "release_regex": r"^5\.4\.0-(\d+)-acme$", "min_build_fix2": 70, "min_build_fix1": 80}
    result = classify(facts, {"known_kernels": [entry]})
    assert (result["syn_drop_fix"], result["drained_backend_fix"]) == (True, False)
    assert any("min_build_fix1, min_build_fix2" in warning for warning in result["warnings"])


def test_an_entry_may_not_give_both_names_with_different_values():
    entry = {"release_regex": "x", "fix2": True, "syn_drop_fix": False}
    with pytest.raises(PolicyError, match="both fix2 .deprecated. and syn_drop_fix"):
        validate_policy({"known_kernels": [entry]})
    validate_policy({"known_kernels": [dict(entry, syn_drop_fix=True)]})
    with pytest.raises(PolicyError, match=r"known_kernels\[0\].fix1 must be true, false or null"):
        validate_policy({"known_kernels": [{"release_regex": "x", "fix1": "yes"}]})


@pytest.mark.parametrize("facts", [node(kernel="6.1.0-18-amd64", crm=1), node(crm=0), node(mode="iptables"),
                                   node(kernel="3.18.0-1", kp="v1.17.0", crm=None), {}])
def test_the_deprecated_result_names_carry_the_same_values(facts):
    result = classify(facts)
    assert (result["kernel_fix"], result["weight0_fix"]) == (result["syn_drop_fix"], result["drained_backend_fix"])
