# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is known about kernels and kube-proxy, as data.

Every entry names its source. The classification engine (classify.py) reads
these tables; it contains no version numbers of its own. Users extend the kernel
table from inventory through the policy key ``known_kernels`` (their entries are
searched first). Facts marked UNVERIFIED in the domain reference are encoded as
"unknown" (None), which the engine treats conservatively.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The two kernel fixes every verdict rests on, under the names used in facts, results, metrics and docs:
# - syn_drop_fix, f0a5e4d7a594 ("FIX2" in the domain reference, mainline 5.9): on a reused client port with
#   conntrack active, IPVS no longer drops the first SYN (problem 2, about 1 s delay);
# - drained_backend_fix, c95c07836fa4 ("FIX1", mainline 5.16): with conn_reuse_mode=0 and expire_nodest_conn=1, a
#   new connection on a reused port that hits a backend drained to weight 0 is rescheduled (problem 1 on drain).
SYN_DROP_FIX = "syn_drop_fix"
DRAINED_BACKEND_FIX = "drained_backend_fix"
FIXES = (SYN_DROP_FIX, DRAINED_BACKEND_FIX)
# Commit ids, used in the text of reasons.
SYN_DROP_FIX_COMMIT = "f0a5e4d7a594 (ipvs: allow connection reuse for unconfirmed conntrack)"
DRAINED_BACKEND_FIX_COMMIT = "c95c07836fa4 (ipvs: Fix reuse connection if RS weight is 0)"
FIX_COMMITS = {SYN_DROP_FIX: SYN_DROP_FIX_COMMIT, DRAINED_BACKEND_FIX: DRAINED_BACKEND_FIX_COMMIT}
# The names before 1.1.0, deprecated, read and still written until 2.0.0 (changelogs/fragments/fix_names.yml):
# fix2/fix1 in known_kernels entries (also min_build_fix2/min_build_fix1) and in ipvs_kernel_probe's results;
# kernel_fix/weight0_fix in the classification result and the report records.
DEPRECATED_FIX_NAMES = {"fix2": SYN_DROP_FIX, "fix1": DRAINED_BACKEND_FIX}
DEPRECATED_RESULT_NAMES = {"kernel_fix": SYN_DROP_FIX, "weight0_fix": DRAINED_BACKEND_FIX}
DEPRECATED_NAMES_REMOVED_IN = "2.0.0"

# The sysctl appears with d752c3645717 in 4.1; below that IPVS always reuses.
CONN_REUSE_MODE_SYSCTL_SINCE = (4, 1)

# Version-based knowledge of both fixes. A rule matches on the kernel's leading numbers (or on the upstream
# version a distribution names in its build string, when it is of the same series): "series" is the (major,
# minor) it applies to, None for every series; "min" the first version it covers; "fixed": True/False from "min" on.
# The first rule that matches counts. "confidence": verified (from a primary source, named in "source") or inferred. A version below every rule of
# its series is not counted as lacking the fix by these rules: distributions print a placeholder sublevel
# (Debian's 4.19.0-25 is 4.19.289), so only the upstream version can tell; without it the fix is unknown and
# the engine takes the conservative branch.
# First stable release of each fix, verified 2026-12-01 from the "Linux X.Y.Z" announcements on the stable list
# (domain reference, section "First stable release carrying each fix"; Message-Ids at lore.kernel.org/r/<id>).
STABLE = "stable announcement "
SYN_DROP_FIX_BY_VERSION = [
    {"series": None, "min": (5, 9, 0), "fixed": True, "confidence": "verified",
     "source": "mainline 5.9 (" + SYN_DROP_FIX_COMMIT + ")"},
    {"series": (5, 8), "min": (5, 8, 2), "fixed": True, "confidence": "verified",
     "source": STABLE + "Linux 5.8.2 (1597827101207207@kroah.com)"},
    {"series": (5, 4), "min": (5, 4, 59), "fixed": True, "confidence": "verified",
     "source": STABLE + "Linux 5.4.59 (159782708615222@kroah.com)"},
    {"series": (4, 19), "min": (4, 19, 140), "fixed": True, "confidence": "verified",
     "source": STABLE + "Linux 4.19.140 (159782707958181@kroah.com)"},
    {"series": (4, 14), "min": (4, 14, 194), "fixed": True, "confidence": "verified",
     "source": STABLE + "Linux 4.14.194 (159800994416237@kroah.com)"},
]

DRAINED_BACKEND_FIX_BY_VERSION = [
    {"series": None, "min": (5, 16, 0), "fixed": True, "confidence": "verified",
     "source": "mainline 5.16, in 5.16-rc3 (" + DRAINED_BACKEND_FIX_COMMIT + "; 20211126205348.1807629-1-kuba@kernel.org)"},
    {"series": (5, 15), "min": (5, 15, 6), "fixed": True, "confidence": "verified",
     "source": STABLE + "Linux 5.15.6 (16383471855080@kroah.com)"},
    {"series": (5, 10), "min": (5, 10, 83), "fixed": True, "confidence": "verified",
     "source": STABLE + "Linux 5.10.83 (163834792423293@kroah.com)"},
    {"series": (5, 8), "min": (5, 8, 0), "fixed": False, "confidence": "verified",
     "source": "5.8.y reached its end of life before " + DRAINED_BACKEND_FIX_COMMIT + " (domain reference)"},
    {"series": (5, 4), "min": (5, 4, 163), "fixed": True, "confidence": "verified",
     "source": STABLE + "Linux 5.4.163 (1638347941163164@kroah.com)"},
    {"series": (4, 19), "min": (4, 19, 219), "fixed": True, "confidence": "verified",
     "source": STABLE + "Linux 4.19.219 (16383479463828@kroah.com)"},
    {"series": (4, 14), "min": (4, 14, 257), "fixed": True, "confidence": "verified",
     "source": STABLE + "Linux 4.14.257 (163895207666254@kroah.com)"},
]

# Vendor kernels that carry fixes under older version numbers, and kernels known
# to lack them. First match wins; user entries (policy.known_kernels) come first.
# Keys: name; release_regex (re.search on the kernel release) or marker (a net.ipv4.vs sysctl whose presence
# identifies the kernel); optional os_id / os_version_id (compared to the node's os.id / os.version_id);
# optional min_build (the entry matches only where release_regex's first group, a number, is at least
# min_build); or per-fix thresholds min_build_syn_drop_fix / min_build_drained_backend_fix (the fix is present
# from that build on and absent below it); syn_drop_fix / drained_backend_fix (True/False/None); source;
# confidence (verified or inferred; user entries are "user").
# A "switch" entry names a sysctl whose value turns the vendor's own syn_drop_fix on
# (non-zero) or off (0): the fix is present only while it is on.
KNOWN_KERNELS = [
    {"name": "Ubuntu focal 5.4.0-N generic/lowlatency (ABI number)",
     "release_regex": r"^5\.4\.0-(\d+)-(?:generic|lowlatency)$",
     "min_build_syn_drop_fix": 48, "min_build_drained_backend_fix": 100, "confidence": "verified",
     "source": "focal kernel debian.master/changelog: 5.4.0-48.52 'Focal update: v5.4.59 upstream stable release' "
               "(syn_drop_fix), 5.4.0-100.113 'Focal update: v5.4.163' (drained_backend_fix)"},
    {"name": "Huawei EulerOS 2.9 x86 (reuse fix from h686)",
     "release_regex": r"^4\.18\.0-147\.5\.1\.6\.h(\d+)", "min_build": 686,
     "syn_drop_fix": True, "drained_backend_fix": None, "confidence": "verified",
     "source": "Huawei CCE FAQ cce_faq_00409 / cce_faq_00427"},
    {"name": "Huawei EulerOS 2.9 ARM (reuse fix from h584)",
     "release_regex": r"^4\.19\.90-vhulk2103\.1\.0\.h(\d+)", "min_build": 584,
     "syn_drop_fix": True, "drained_backend_fix": None, "confidence": "verified",
     "source": "Huawei CCE FAQ cce_faq_00409 / cce_faq_00427"},
    {"name": "TencentOS / Alibaba Cloud Linux 2 kernel (conn_reuse_old_conntrack switch)",
     "marker": "conn_reuse_old_conntrack", "switch": "conn_reuse_old_conntrack",
     "syn_drop_fix": True, "drained_backend_fix": None, "confidence": "verified",
     "source": "Tencent/TencentOS-kernel a01a9445 (PR #17): the reuse fix is active only while "
               "net.ipv4.vs.conn_reuse_old_conntrack is non-zero (its ipvs-sysctl documentation)"},
    {"name": "RHEL/CentOS 7 kernel 3.10.0",
     "release_regex": r"^3\.10\.0-\d+.*\.el7",
     "syn_drop_fix": False, "drained_backend_fix": False, "confidence": "inferred",
     "source": "reports of 1 s delays with conn_reuse_mode=1 on 3.10.0-*.el7 (domain reference)"},
]

# What kube-proxy writes at start (NewProxier), per release line. Versions are (major, minor, patch) ranges,
# inclusive; LAST_PATCH stands for every later patch release. A line is split at the patch release where a change
# was cherry-picked into it. "conn_reuse_mode" is one of (classify.kube_proxy_conn_reuse_write reads them):
#   "untouched"           never writes it
#   "zero"                writes 0 (and fails to start where the sysctl is missing)
#   "zero_unless_old"     kernel < 4.1: leaves it; else writes 0
#   "zero_below_5_9"      kernel < 4.1 or >= 5.9: leaves it; else writes 0
#   "uncertain_5_9"       kernel < 4.1: leaves it; >= 5.9: may or may not leave it (unknown); else writes 0
#                         (for a line whose patch releases are not known to carry #102122; no line uses it now)
# "writes_expire": it writes expire_nodest_conn=1 (and expire_quiescent_template=1) at start;
# "fails_without_sysctl": it fails to start in IPVS mode on a kernel without conn_reuse_mode (row 9);
# "confidence": verified or inferred (the reasons carry it); "source": where it is written down.
# kube-proxy compares only the leading numbers of the release (it cannot see vendor backports).
LAST_PATCH = 999999
KUBE_PROXY_LINES = [
    {"first": (1, 0, 0), "last": (1, 10, LAST_PATCH), "conn_reuse_mode": "untouched",
     "writes_expire": False, "fails_without_sysctl": False, "confidence": "verified",
     "source": "kubernetes proxier.go before #71834"},
    {"first": (1, 11, 0), "last": (1, 11, 6), "conn_reuse_mode": "untouched",
     "writes_expire": False, "fails_without_sysctl": False, "confidence": "verified",
     "source": "CHANGELOG-1.11.md: #71834 first listed under v1.11.7"},
    {"first": (1, 11, 7), "last": (1, 11, LAST_PATCH), "conn_reuse_mode": "zero",
     "writes_expire": True, "fails_without_sysctl": True, "confidence": "verified",
     "source": "CHANGELOG-1.11.md: cherry-pick #72100 of #71114/#71834 in v1.11.7"},
    {"first": (1, 12, 0), "last": (1, 12, 4), "conn_reuse_mode": "untouched",
     "writes_expire": False, "fails_without_sysctl": False, "confidence": "verified",
     "source": "CHANGELOG-1.12.md: #71834 first listed under v1.12.5"},
    {"first": (1, 12, 5), "last": (1, 18, LAST_PATCH), "conn_reuse_mode": "zero",
     "writes_expire": True, "fails_without_sysctl": True, "confidence": "verified",
     "source": "kubernetes #71834 (1.13; v1.12.5 by cherry-pick #72101); start failure on kernels < 4.1: "
               "#71114, #82065"},
    {"first": (1, 19, 0), "last": (1, 20, 14), "conn_reuse_mode": "zero_unless_old",
     "writes_expire": True, "fails_without_sysctl": False, "confidence": "verified",
     "source": "kubernetes #88541"},
    {"first": (1, 20, 15), "last": (1, 20, LAST_PATCH), "conn_reuse_mode": "zero_below_5_9",
     "writes_expire": True, "fails_without_sysctl": False, "confidence": "inferred",
     "source": "cherry-pick #107438 of #102122, merged 2022-01-11; first in v1.20.15 (strong inference from the "
               "January 2022 patch-release schedule: no changelog names it)"},
    {"first": (1, 21, 0), "last": (1, 21, 8), "conn_reuse_mode": "zero_unless_old",
     "writes_expire": True, "fails_without_sysctl": False, "confidence": "inferred",
     "source": "kubernetes #88541; v1.21.8 (2021-12-15) predates cherry-pick #107437 (strong inference)"},
    {"first": (1, 21, 9), "last": (1, 21, LAST_PATCH), "conn_reuse_mode": "zero_below_5_9",
     "writes_expire": True, "fails_without_sysctl": False, "confidence": "inferred",
     "source": "cherry-pick #107437 of #102122, merged 2022-01-11; first in v1.21.9 (strong inference from the "
               "January 2022 patch-release schedule: no changelog names it)"},
    {"first": (1, 22, 0), "last": (99, 99, LAST_PATCH), "conn_reuse_mode": "zero_below_5_9",
     "writes_expire": True, "fails_without_sysctl": False, "confidence": "verified",
     "source": "kubernetes #102122 (IPVSConnReuseModeFixedKernelVersion = 5.9)"},
]
KUBE_PROXY_CONN_REUSE_FIXED_KERNEL = (5, 9)

# The kernel's own default when nothing sets the value at boot.
KERNEL_DEFAULTS = {"conn_reuse_mode": 1, "conntrack": 0, "expire_nodest_conn": 0}
KERNEL_DEFAULTS_SOURCE = ("Linux Documentation/networking/ipvs-sysctl: conn_reuse_mode default 1, conntrack and "
                          "expire_nodest_conn default 0")

# What the pin_sysctl role installs; the facts module looks for the pin file and the keeper's service so the
# engine knows a pin is kept across kube-proxy restarts. roles/pin_sysctl/vars/main.yml names the same paths
# (tests/unit/test_one_home.py fails when they drift).
PIN_SYSCTL_FILE = "/etc/sysctl.d/90-kubenode-ipvs-reuse.conf"
PIN_KEEPER_NAME = "kubenode-ipvs-reuse-pin"
PIN_KEEPER_UNIT = "/etc/systemd/system/" + PIN_KEEPER_NAME + ".service"
PIN_PATHS = {
    "file": PIN_SYSCTL_FILE,
    "modules_file": "/etc/modules-load.d/90-kubenode-ipvs-reuse.conf",
    "keeper_script": "/usr/local/sbin/" + PIN_KEEPER_NAME,
    "keeper_service": PIN_KEEPER_UNIT,
    "keeper_timer": "/etc/systemd/system/" + PIN_KEEPER_NAME + ".timer",
    "keeper_name": PIN_KEEPER_NAME,
    "record": "/var/lib/kubenode-ipvs-reuse/pin_sysctl.json",
}
# The sysctls (under net.ipv4.vs) the pin may set: conn_reuse_mode, and the vendor switches of KNOWN_KERNELS
# ("switch") that a reuse fix depends on. The conn_reuse_mode module's `name` and the role refuse any other.
PINNABLE_SYSCTLS = ("conn_reuse_mode", "conn_reuse_old_conntrack")

VERDICTS = ("not_applicable", "safe", "problem1", "problem2", "unknown")
MITIGATIONS = ("none", "pin_sysctl", "switch_iptables", "os_upgrade")
FALLBACK_MITIGATIONS = ("os_upgrade", "switch_iptables")
# The role that carries out each mitigation (plugins/module_utils/plan.py gives each one its entry of the plan).
MITIGATION_ROLES = {"pin_sysctl": "pin_sysctl", "switch_iptables": "kube_proxy_mode", "os_upgrade": "os_upgrade_flag"}

VERDICT_TEXT = {
    "not_applicable": "kube-proxy does not run in IPVS mode",
    "safe": "neither problem occurs",
    "problem1": "problem 1: new connections on a reused client port go to an old, possibly deleted backend",
    "problem2": "problem 2: the first SYN on a reused client port is dropped (about 1 s delay)",
    "unknown": "cannot be classified from the facts gathered",
}

MITIGATION_TEXT = {
    "none": "nothing to do",
    "pin_sysctl": "pin net.ipv4.vs.conn_reuse_mode to the safe value (role pin_sysctl)",
    "switch_iptables": "switch kube-proxy to iptables mode (role kube_proxy_mode)",
    "os_upgrade": "upgrade the OS/kernel to one with the fix, e.g. Ubuntu 22.04 or kernel >= 5.9 (role os_upgrade_flag)",
}

DEFAULT_POLICY = {
    # pin the sysctl where pinning is safe for the node's kernel
    "allow_pin": True,
    # what to do where pinning cannot help: os_upgrade or switch_iptables
    "fallback_mitigation": "os_upgrade",
    # user kernel knowledge, searched before KNOWN_KERNELS
    "known_kernels": [],
}
