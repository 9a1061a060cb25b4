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

# Commit ids, used in the text of reasons.
FIX2_COMMIT = "f0a5e4d7a594 (ipvs: allow connection reuse for unconfirmed conntrack)"
FIX1_COMMIT = "c95c07836fa4 (ipvs: Fix reuse connection if RS weight is 0)"

# The sysctl appears with d752c3645717 in 4.1; below that IPVS always reuses.
CONN_REUSE_MODE_SYSCTL_SINCE = (4, 1)

# Version-based knowledge of the reuse fix (FIX2). A rule matches on the
# kernel's leading numbers. "fixed": True/False/None (None = cannot be told).
FIX2_BY_VERSION = [
    {"series": None, "min": (5, 9, 0), "fixed": True,
     "source": "mainline 5.9 (" + FIX2_COMMIT + ")"},
    {"series": (5, 8), "min": (5, 8, 2), "fixed": True,
     "source": "stable 5.8.2 backport of " + FIX2_COMMIT},
    {"series": (4, 19), "min": (4, 19, 140), "fixed": True,
     "source": "stable 4.19.140 backport of " + FIX2_COMMIT},
]

# FIX1: stable backports went out on 2021-11-29; stable only takes commits that
# are already in mainline, so the 5.16 release (2022-01) carries it. Backports
# to 5.15/5.4/4.19/4.14 have no verified first release: unknown.
FIX1_BY_VERSION = [
    {"series": None, "min": (5, 16, 0), "fixed": True,
     "source": "mainline by 5.16 (" + FIX1_COMMIT + ", stable backports 2021-11-29)"},
    # The first 5.10.y release with the backport is unverified; this lower bound is what was measured.
    {"series": (5, 10), "min": (5, 10, 223), "fixed": True,
     "source": "measured in this project's lab (docs/lab.md): Debian 11 kernel 5.10.223, conn_reuse_mode=0 with "
               "expire_nodest_conn=1, a drained backend got 0 of 7 reused-port connections"},
]

# Vendor kernels that carry fixes under older version numbers, and kernels known
# to lack them. First match wins; user entries (policy.known_kernels) come first.
# Keys: name, release_regex (re.search on the kernel release), optional
# os_id / os_version_id, optional min_build with build_regex (a numeric group
# compared to min_build), fix2 / fix1 (True/False/None), source.
KNOWN_KERNELS = [
    {"name": "Huawei EulerOS 2.9 x86 (reuse fix from h686)",
     "release_regex": r"^4\.18\.0-147\.5\.1\.6\.h(\d+)", "min_build": 686,
     "fix2": True, "fix1": None,
     "source": "Huawei CCE FAQ cce_faq_00409 / cce_faq_00427"},
    {"name": "Huawei EulerOS 2.9 ARM (reuse fix from h584)",
     "release_regex": r"^4\.19\.90-vhulk2103\.1\.0\.h(\d+)", "min_build": 584,
     "fix2": True, "fix1": None,
     "source": "Huawei CCE FAQ cce_faq_00409 / cce_faq_00427"},
    {"name": "TencentOS kernel (conn_reuse_old_conntrack patch)",
     "marker": "conn_reuse_old_conntrack",
     "fix2": True, "fix1": None,
     "source": "Tencent/TencentOS-kernel PR #17 (sysctl net.ipv4.vs.conn_reuse_old_conntrack)"},
    {"name": "RHEL/CentOS 7 kernel 3.10.0",
     "release_regex": r"^3\.10\.0-\d+.*\.el7",
     "fix2": False, "fix1": False,
     "source": "reports of 1 s delays with conn_reuse_mode=1 on 3.10.0-*.el7 (domain reference)"},
]

# What kube-proxy writes at start (NewProxier), per release line. Versions are
# (major, minor) ranges, inclusive. "conn_reuse_mode" is one of:
#   "untouched"           never writes it
#   "zero"                writes 0 (and fails to start where the sysctl is missing)
#   "zero_unless_old"     kernel < 4.1: leaves it; else writes 0
#   "zero_below_5_9"      kernel < 4.1 or >= 5.9: leaves it; else writes 0
#   "uncertain"           a patch release may or may not carry a change: unknown
# kube-proxy compares only the leading numbers of the release (it cannot see
# vendor backports).
KUBE_PROXY_LINES = [
    {"first": (1, 0), "last": (1, 10), "conn_reuse_mode": "untouched",
     "writes_expire": False, "fails_without_sysctl": False,
     "source": "kubernetes proxier.go before #71834"},
    {"first": (1, 11), "last": (1, 12), "conn_reuse_mode": "uncertain",
     "writes_expire": None, "fails_without_sysctl": None,
     "source": "#71834 was cherry-picked into some 1.11/1.12 patch releases (which ones: UNVERIFIED)"},
    {"first": (1, 13), "last": (1, 18), "conn_reuse_mode": "zero",
     "writes_expire": True, "fails_without_sysctl": True,
     "source": "kubernetes #71834; start failure on kernels < 4.1: #71114, #82065"},
    {"first": (1, 19), "last": (1, 19), "conn_reuse_mode": "zero_unless_old",
     "writes_expire": True, "fails_without_sysctl": False,
     "source": "kubernetes #88541"},
    {"first": (1, 20), "last": (1, 21), "conn_reuse_mode": "uncertain_5_9",
     "writes_expire": True, "fails_without_sysctl": False,
     "source": "#88541; the >= 5.9 exception came to 1.20/1.21 with #107437/#107438 "
               "(patch versions UNVERIFIED)"},
    {"first": (1, 22), "last": (99, 99), "conn_reuse_mode": "zero_below_5_9",
     "writes_expire": True, "fails_without_sysctl": False,
     "source": "kubernetes #102122 (IPVSConnReuseModeFixedKernelVersion = 5.9)"},
]
KUBE_PROXY_CONN_REUSE_FIXED_KERNEL = (5, 9)

# The kernel's own default when nothing sets the value at boot.
KERNEL_DEFAULTS = {"conn_reuse_mode": 1, "conntrack": 0, "expire_nodest_conn": 0}

# What the pin_sysctl role installs; the facts module looks for these so the
# engine knows a pin is kept across kube-proxy restarts.
PIN_SYSCTL_FILE = "/etc/sysctl.d/90-kubenode-ipvs-reuse.conf"
PIN_KEEPER_UNIT = "/etc/systemd/system/kubenode-ipvs-reuse-pin.service"

VERDICTS = ("not_applicable", "safe", "problem1", "problem2", "unknown")
MITIGATIONS = ("none", "pin_sysctl", "switch_iptables", "os_upgrade")
FALLBACK_MITIGATIONS = ("os_upgrade", "switch_iptables")

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
