"""The guests' kube-proxy TEST STAND-IN (molecule/resources/files/kube-proxy-stand-in) writes the sysctls the
engine's data says the real kube-proxy writes, version by version: a scenario whose stand-in disagrees with the
engine tests the wrong node (the pin_sysctl scenario once ran a "v1.21.14" that wrote 0 on 6.1, which the real
v1.21.14 does not).

The stand-in's own write_sysctls runs in bash, with only its effects stubbed (no /proc, no modprobe). It models
kube-proxy 1.13 and later, on kernels that have the sysctl (4.1 and later)."""
import os
import re
import subprocess

import pytest

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge as K

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STAND_IN = os.path.join(REPO, "molecule", "resources", "files", "kube-proxy-stand-in")
KERNELS = ["4.1.0", "5.4.0", "5.8.18", "5.9.0", "6.1.0"]


def stand_in_functions():
    """The stand-in's shell functions (everything before its command dispatch)."""
    with open(STAND_IN) as handle:
        text = handle.read()
    return text[:text.index('\ncase "${1:-}" in')].replace("set -euo pipefail", "set -uo pipefail")


def stand_in_writes(kube_proxy, kernel):
    script = stand_in_functions() + """
write_sysctl() { echo "$1=$2"; }
modprobe() { :; }
kernel_version() { echo "%s"; }
KUBE_PROXY_VERSION=%s
write_sysctls
""" % (kernel, kube_proxy)
    run = subprocess.run(["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=60, check=True)
    return dict(line.split("=", 1) for line in run.stdout.split())


def engine_sets_zero(line, kernel):
    rule = line["conn_reuse_mode"]
    if rule in ("zero", "zero_unless_old"):
        return True
    assert rule == "zero_below_5_9", rule
    return tuple(int(part) for part in kernel.split(".")) < K.KUBE_PROXY_CONN_REUSE_FIXED_KERNEL


def boundary_versions():
    for line in K.KUBE_PROXY_LINES:
        if line["first"] < (1, 13, 0):
            continue
        last = line["last"] if line["last"][2] != K.LAST_PATCH else line["last"][:2] + (99,)
        for version in (line["first"], last):
            if version[:2] <= (1, 35):
                yield "v%d.%d.%d" % version, line


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("version,line", list(boundary_versions()), ids=lambda value: value
                         if isinstance(value, str) else "")
def test_stand_in_writes_what_the_engine_expects(version, line, kernel):
    writes = stand_in_writes(version, kernel)
    assert (writes.get("net.ipv4.vs.conn_reuse_mode") == "0") == engine_sets_zero(line, kernel), (version, kernel)
    assert (writes.get("net.ipv4.vs.expire_nodest_conn") == "1") == line["writes_expire"], (version, kernel)


def test_scenarios_use_real_kube_proxy_versions():
    """Every scenario's stand-in version, and the one the scenarios share (molecule's base config), names a real
    release line of the engine's data."""
    paths = [os.path.join(REPO, "molecule", scenario, "molecule.yml")
             for scenario in sorted(os.listdir(os.path.join(REPO, "molecule")))]
    paths.append(os.path.join(REPO, ".config", "molecule", "config.yml"))
    checked = []
    for path in paths:
        if not os.path.exists(path):
            continue
        with open(path) as handle:
            for version in re.findall(r"kube_proxy_stand_in_version: *v?([\d.]+)", handle.read()):
                parts = tuple(int(part) for part in version.split("."))
                assert any(line["first"] <= parts <= line["last"] for line in K.KUBE_PROXY_LINES), (path, version)
                checked.append(os.path.relpath(path, REPO))
    assert ".config/molecule/config.yml" in checked and "molecule/pin_sysctl/molecule.yml" in checked, checked
