"""The kernel probe's pure parts: deciding from measured figures, names, cleanup by prefix, module needs.

The measurement itself needs IPVS and runs on qemu guests (tests/lab/kernel_probe_lab.py). One test here runs the
namespace plumbing for real (namespaces, veth pairs, the forked agents, HTTP over a reused port) where this
machine allows it (root and `ip netns`), with the backend reached by routing instead of IPVS.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import kernel_probe as kp
from ansible_collections.kubenode.ipvs_reuse.plugins.modules import ipvs_kernel_probe
from support.return_docs import check_result, documented_paths

# keyed by the names of the steps that ran, described in RETURN in words
PROBE_KEYED_BY_DATA = ("probe.timings_ms",)
# returned only when something went wrong, which the runs here are made not to
PROBE_ONLY_ON_FAILURE = {"probe.cleanup_error", "probe.warning", "probe.reuse.seed.error",
                         "probe.reuse.connections[].error", "probe.drain.seed.error", "probe.drain.connections[].error"}


def undocumented(result):
    """What RETURN of ipvs_kernel_probe misses of the module's result for this run_probe result."""
    return check_result(ipvs_kernel_probe.module_result(result), ipvs_kernel_probe.RETURN, PROBE_KEYED_BY_DATA)[0]


def conn(ms, backend="be1", error=None):
    made = {"connect_ms": ms, "backend": None if error else backend}
    if error:
        made["error"] = error
    return made


FAST = [conn(3.1), conn(2.9, "be2"), conn(4.0), conn(3.3, "be2"), conn(3.0)]
SLOW = [conn(1031.0), conn(1042.5, "be2"), conn(1029.9), conn(1050.0, "be2"), conn(1033.3)]


@pytest.mark.parametrize("connections, conntrack, expected", [
    (FAST, 12, True),
    (SLOW, 12, False),
    (SLOW[:3] + FAST[:2], 12, False),         # 3 of 5 slow: most of them
    (SLOW[:2] + FAST[:3], 12, None),          # 2 of 5 slow: neither
    (SLOW[:1] + FAST[:4], 12, None),          # one slow connect is not "fixed"
    (FAST, 0, None),                          # conntrack inactive: fast proves nothing
    (FAST, None, None),                       # count unreadable
    (FAST[:4] + [conn(3000.0, error="timed out")], 12, None),
    ([], 12, None),
])
def test_decide_syn_drop_fix(connections, conntrack, expected):
    value, reason = kp.decide_syn_drop_fix({"seed": conn(3.0), "connections": connections}, conntrack)
    assert value is expected
    assert reason


def test_decide_syn_drop_fix_inactive_conntrack_never_says_fixed_and_says_why():
    value, reason = kp.decide_syn_drop_fix({"seed": conn(3.0), "connections": FAST}, 0)
    assert value is None and "conntrack" in reason


def test_decide_syn_drop_fix_failed_seed():
    assert kp.decide_syn_drop_fix({"seed": conn(3000.0, error="timed out"), "connections": FAST}, 5)[0] is None


@pytest.mark.parametrize("connections, expected", [
    ([conn(3.0, "be2")] * 5, True),
    ([conn(3.0, "be1")] * 5, False),
    ([conn(1040.0, "be2")] + [conn(3.0, "be2")] * 4, True),    # a slow reschedule still avoids the drained one
    ([conn(3.0, "be2")] * 4 + [conn(3.0, "be1")], False),      # any hit is problem 1
    ([conn(3.0, "be2")] * 4 + [conn(3000.0, error="timed out")], None),
    ([conn(3.0, "be1")] * 4 + [conn(3000.0, error="timed out")], False),
    ([], None),
])
def test_decide_drained_backend_fix(connections, expected):
    value, reason = kp.decide_drained_backend_fix({"seed": conn(3.0, "be1"), "drained_backend": "be1",
                                                   "connections": connections})
    assert value is expected
    assert reason


def test_decide_drained_backend_fix_without_a_drained_backend():
    drain = {"seed": conn(3.0, error="refused"), "drained_backend": None, "connections": []}
    assert kp.decide_drained_backend_fix(drain)[0] is None


def test_series_summary():
    summary = kp.series_summary(SLOW[:3] + FAST[:2] + [conn(9.0, error="reset")])
    assert summary == {"median_ms": 1029.9, "max_ms": 1042.5, "slow": 3, "errors": 1}


def test_namespace_names_carry_the_prefix_and_match_the_leftover_pattern():
    names = kp.namespace_names("0a1b2c3d")
    assert sorted(names) == sorted(kp.ROLES)
    assert all(name.startswith(kp.PREFIX) for name in names.values())
    assert kp.leftover_namespaces(list(names.values()) + ["be1", "cni-1234"]) == sorted(names.values())
    for bad in ("0a1b2c3", "0A1B2C3D", "0a1b2c3d; rm", None):
        with pytest.raises(ValueError):
            kp.namespace_names(bad)


@pytest.mark.parametrize("name", [
    "kubenode-ipvsprobe-", "kubenode-ipvsprobe-0a1b2c3d-other", "kubenode-ipvsprobe-0a1b2c3d-client\nnetns del x",
    "kubenode-ipvsprobe-0a1b2c3d-client ", "xkubenode-ipvsprobe-0a1b2c3d-client", "kubenode-ipvsprobe-zzzzzzzz-be1",
    "be1", "client", "director",
])
def test_leftover_namespaces_never_picks_a_name_the_probe_does_not_make(name):
    assert kp.leftover_namespaces([name]) == []


class FakeSystem:
    """Stands in for NodeSystem: namespaces with inodes, processes in them, and `ip -batch`."""

    def __init__(self, namespaces, processes, fail_batch=False):
        self.namespaces = dict(namespaces)   # name -> inode
        self.processes = dict(processes)     # pid -> inode of its netns
        self.killed = []
        self.batches = []
        self.fail_batch = fail_batch

    def list_netns(self):
        return list(self.namespaces)

    def netns_inode(self, name):
        return self.namespaces.get(name)

    def pids_in_netns(self, inode):
        return sorted(pid for pid, ino in self.processes.items() if ino == inode)

    def kill(self, pid):
        self.killed.append(pid)
        self.processes.pop(pid, None)

    def ip_batch(self, lines, netns=None, timeout=10):
        self.batches.append(list(lines))
        if self.fail_batch and len(lines) > 1:
            return 1, "Command failed -:1"
        for line in lines:
            assert line.startswith("netns del ")
            self.namespaces.pop(line.split()[-1], None)
        return 0, ""


def test_clean_leftovers_removes_only_the_probes_namespaces_and_their_processes():
    old = kp.namespace_names("deadbeef")
    namespaces = dict((name, 100 + index) for index, name in enumerate(sorted(old.values())))
    namespaces.update({"be1": 7, "cni-abc": 8, "kubenode-ipvsprobe-notours": 9})
    processes = {4001: namespaces[old["be1"]], 4002: namespaces[old["be2"]], 50: 7, 51: 8, 52: 9, 1: 4026531840}
    system = FakeSystem(namespaces, processes)
    removed, error = kp.clean_leftovers(system)
    assert error is None
    assert removed == sorted(old.values())
    assert sorted(system.killed) == [4001, 4002]
    assert sorted(system.namespaces) == ["be1", "cni-abc", "kubenode-ipvsprobe-notours"]
    assert system.batches == [["netns del %s" % name for name in sorted(old.values())]]


def test_clean_leftovers_with_nothing_left_runs_nothing():
    system = FakeSystem({"be1": 7}, {50: 7})
    assert kp.clean_leftovers(system) == ([], None)
    assert system.batches == [] and system.killed == []


def test_cleanup_falls_back_to_one_namespace_at_a_time():
    old = kp.namespace_names("0badf00d")
    system = FakeSystem(dict((name, 1) for name in old.values()), {}, fail_batch=True)
    assert kp.remove_namespaces(system, list(old.values())) is None
    assert system.namespaces == {}
    assert len(system.batches) == 1 + 4


@pytest.mark.parametrize("line, name", [
    ("kernel/drivers/net/veth.ko: ", "veth"),
    ("kernel/net/netfilter/xt_MASQUERADE.ko.xz: kernel/net/netfilter/nf_nat.ko.xz", "xt_MASQUERADE"),
    ("kernel/net/ipv4/netfilter/iptable_nat.ko.zst:", "iptable_nat"),
    ("kernel/drivers/net/ipvlan/ipvtap.ko.gz:", "ipvtap"),
    ("kernel/net/netfilter/nf-conntrack.ko", "nf_conntrack"),
])
def test_module_names_from_module_lists(line, name):
    assert kp.parse_module_list(line) == {name}


def test_proc_modules():
    text = "ip_vs_rr 12288 1 - Live 0x0\nip_vs 200704 3 ip_vs_rr, Live 0x0\n"
    assert kp.parse_proc_modules(text) == {"ip_vs_rr", "ip_vs"}


TOOLS = {"iptables-legacy-restore": "/usr/sbin/iptables-legacy-restore",
         "iptables-nft-restore": "/usr/sbin/iptables-nft-restore", "nft": "/usr/sbin/nft"}
INSTALLED = {"veth", "ip_vs_rr", "ip_vs_wrr", "iptable_nat", "xt_MASQUERADE", "nft_chain_nat", "nft_compat", "nft_masq"}


@pytest.mark.parametrize("loaded, builtin, installed, tools, scheduler, firewall, refusal", [
    # a kube-proxy IPVS node on Debian 12 (iptables-nft): everything it uses is loaded
    ({"veth", "ip_vs", "ip_vs_rr", "nft_chain_nat", "nft_compat", "xt_MASQUERADE"}, set(), INSTALLED, TOOLS,
     "rr", "iptables-nft", None),
    # an iptables-legacy node
    ({"veth", "ip_vs", "ip_vs_rr", "iptable_nat", "xt_MASQUERADE"}, set(), INSTALLED, TOOLS,
     "rr", "iptables-legacy", None),
    # veth not loaded: the probe would load it
    ({"ip_vs", "ip_vs_rr", "iptable_nat", "xt_MASQUERADE"}, set(), INSTALLED, TOOLS, None, None, "veth"),
    # only wrr loaded: rr would be loaded on demand, wrr is used
    ({"veth", "ip_vs", "ip_vs_wrr", "iptable_nat", "xt_MASQUERADE"}, set(), INSTALLED, TOOLS,
     "wrr", "iptables-legacy", None),
    # no scheduler loaded
    ({"veth", "ip_vs", "iptable_nat", "xt_MASQUERADE"}, set(), INSTALLED, TOOLS, None, None, "scheduler"),
    # nat table not loaded in any flavour
    ({"veth", "ip_vs", "ip_vs_rr"}, set(), INSTALLED, TOOLS, "rr", None, "without loading a module"),
    # the nat modules are loaded but the tool is missing
    ({"veth", "ip_vs", "ip_vs_rr", "iptable_nat", "xt_MASQUERADE"}, set(), INSTALLED,
     {"iptables-legacy-restore": None, "iptables-nft-restore": None, "nft": None}, "rr", None, "no iptables-legacy-restore"),
    # built in (modules.builtin) counts as present
    (set(), {"veth", "ip_vs", "ip_vs_rr", "iptable_nat", "xt_MASQUERADE"}, set(), TOOLS, "rr", "iptables-legacy", None),
    # a kernel with everything built in and no /lib/modules for it (the lab kernel): nothing can be loaded
    (set(), None, None, TOOLS, "rr", "iptables-legacy", None),
    # no module support at all
    (None, None, None, TOOLS, "rr", "iptables-legacy", None),
])
def test_choose_setup(loaded, builtin, installed, tools, scheduler, firewall, refusal):
    got_scheduler, got_firewall, got_refusal = kp.choose_setup(loaded, builtin, installed, tools)
    assert got_scheduler == scheduler
    assert (got_firewall or {}).get("name") == firewall
    if refusal is None:
        assert got_refusal is None
    else:
        assert refusal in got_refusal


def test_ipvs_rules_and_batches_name_the_probe_addresses_only():
    rules = kp.ipvs_rules("rr")
    assert rules.splitlines() == ["-A -t 198.18.0.10:80 -s rr", "-a -t 198.18.0.10:80 -r 198.18.2.2:80 -m -w 1",
                                  "-a -t 198.18.0.10:80 -r 198.18.3.2:80 -m -w 1"]
    lines = kp.ip_batch_for_peer("client", "kubenode-ipvsprobe-0a1b2c3d-director")
    assert lines[0] == "link add eth0 type veth peer name pc netns kubenode-ipvsprobe-0a1b2c3d-director"
    assert "10.0.2." not in "".join(lines + kp.ip_batch_for_director()) + rules


def test_refuses_without_root(monkeypatch):
    monkeypatch.setattr(kp.os, "geteuid", lambda: 1000)
    result = kp.run_probe(timeout=5)
    assert (result["syn_drop_fix"], result["drained_backend_fix"], result["probed"]) == (None, None, False)
    assert (result["fix2"], result["fix1"]) == (None, None)  # the deprecated names, until 2.0.0
    assert "needs root" in result["reason"]
    assert result["kernel"]["release"]
    assert undocumented(result) == []


def test_refuses_without_ip_vs(monkeypatch):
    monkeypatch.setattr(kp.os, "geteuid", lambda: 0)
    real_isdir = os.path.isdir
    monkeypatch.setattr(kp.os.path, "isdir", lambda path: False if path == "/proc/sys/net/ipv4/vs" else real_isdir(path))
    result = kp.run_probe(timeout=5)
    assert (result["syn_drop_fix"], result["drained_backend_fix"]) == (None, None)
    assert "ip_vs is not loaded" in result["reason"]


def test_refuses_without_ipvsadm(monkeypatch):
    monkeypatch.setattr(kp.os, "geteuid", lambda: 0)
    real_isdir = os.path.isdir
    monkeypatch.setattr(kp.os.path, "isdir", lambda path: True if path == "/proc/sys/net/ipv4/vs" else real_isdir(path))
    monkeypatch.setattr(kp, "which", lambda name: None if name == "ipvsadm" else "/usr/sbin/" + name)
    result = kp.run_probe(timeout=5)
    assert result["reason"] == "cannot probe: ipvsadm missing" and result["syn_drop_fix"] is None
    assert undocumented(result) == []


def _netns_works():
    if os.geteuid() != 0 or not shutil.which("ip"):
        return False
    probe = "kubenode-ipvsprobe-00000000-client"
    if subprocess.run(["ip", "netns", "add", probe], stderr=subprocess.DEVNULL, check=False).returncode != 0:
        return False
    subprocess.run(["ip", "netns", "del", probe], check=False)
    return True


@pytest.mark.skipif(not _netns_works(), reason="needs root and `ip netns` on this machine")
def test_namespaces_agents_and_reused_port_for_real(monkeypatch):
    """The plumbing without IPVS: the service address moved to be1 and reached by routing through the director."""
    system = kp.NodeSystem("ip")
    names = kp.namespace_names("%08x" % (os.getpid() & 0xFFFFFFFF))
    agents = []
    try:
        assert system.ip_batch(["netns add %s" % names[role] for role in kp.ROLES])[0] == 0
        for role in ("client", "be1", "be2"):
            assert system.ip_batch(kp.ip_batch_for_peer(role, names["director"]), names[role]) == (0, "")
        assert system.ip_batch(kp.ip_batch_for_director(), names["director"]) == (0, "")
        assert system.ip_batch(["addr del %s/32 dev lo" % kp.VIP, "route add %s/32 via %s" % (kp.VIP, kp.LINKS["be1"][0])],
                               names["director"]) == (0, "")
        assert system.ip_batch(["addr add %s/32 dev lo" % kp.VIP], names["be1"]) == (0, "")
        director = kp.Agent("director", os.path.join(kp.NETNS_DIR, names["director"]), 30)
        agents.append(director)
        client = kp.Agent("client", os.path.join(kp.NETNS_DIR, names["client"]), 30)
        agents.append(client)
        for role in ("be1", "be2"):
            agents.append(kp.Agent(role, os.path.join(kp.NETNS_DIR, names[role]), 30, serve_name=role))
        for agent in agents:
            assert agent.receive(time.monotonic() + 10) == {"ready": True}
        assert director.call({"op": "write", "path": "/proc/sys/net/ipv4/ip_forward", "value": 1}, 5) == {"value": "1"}
        with pytest.raises(kp.ProbeError):
            director.call({"op": "write", "path": "/etc/hostname", "value": "x"}, 5)
        made = []
        for _index in range(3):
            time.sleep(kp.PAUSE)
            made.append(client.call({"op": "connect", "sport": 23456, "timeout": 3}, 5))
        assert [c["backend"] for c in made] == ["be1"] * 3, made
        assert all(c["connect_ms"] < kp.SLOW_MS for c in made)
        # the host's namespace has none of the probe's interfaces
        links = subprocess.run(["ip", "-o", "link"], stdout=subprocess.PIPE, universal_newlines=True,
                               check=False).stdout
        assert not any(" %s@" % peer in links or " %s:" % peer in links for _a, _g, peer in kp.LINKS.values())
    finally:
        for agent in agents:
            agent.stop()
        # what an interrupted run leaves is what the next run removes
        removed, error = kp.clean_leftovers(system)
    assert error is None and removed == sorted(names.values())
    assert kp.leftover_namespaces(system.list_netns()) == []


@pytest.mark.skipif(not _netns_works(), reason="needs root and `ip netns` on this machine")
def test_run_probe_end_to_end_without_ipvs(monkeypatch, tmp_path):
    """run_probe's whole path on this machine, which has no IPVS: the lock, leftovers of an "interrupted" run (with a
    process still inside one), namespaces, agents, sysctls, both series, the timings and the teardown. IPVS is
    replaced: ipvsadm and the firewall restore are `true`, the IPVS sysctls are files under tmp_path, and the service
    address lives on be1, reached by routing through the director. So every connection reaches be1, fast: syn_drop_fix
    reads "present" and, since the "drained" be1 still answers, drained_backend_fix reads "missing" - what the figures say here."""
    sysctl = tmp_path / "sys"
    (sysctl / "ipv4").mkdir(parents=True)
    # the director must really forward: this one is the real sysctl, of whichever namespace opens it
    (sysctl / "ipv4" / "ip_forward").symlink_to("/proc/sys/net/ipv4/ip_forward")
    for key, value in (("ipv4/vs/conntrack", "0"), ("ipv4/vs/conn_reuse_mode", "1"),
                       ("ipv4/vs/expire_nodest_conn", "0"), ("netfilter/nf_conntrack_count", "3")):
        (sysctl / key).parent.mkdir(parents=True, exist_ok=True)
        (sysctl / key).write_text(value + "\n")
    monkeypatch.setattr(kp, "SYSCTL_NET", str(sysctl) + "/")
    monkeypatch.setattr(kp.os, "geteuid", lambda: 0)
    real_isdir = os.path.isdir
    monkeypatch.setattr(kp.os.path, "isdir", lambda path: True if path == "/proc/sys/net/ipv4/vs" else real_isdir(path))
    true = shutil.which("true")
    monkeypatch.setattr(kp, "which", lambda name: shutil.which("ip") if name == "ip" else true)
    monkeypatch.setattr(kp, "module_states", lambda release: (None, None, None))
    director_lines = kp.ip_batch_for_director()
    monkeypatch.setattr(kp, "ip_batch_for_director", lambda: [line for line in director_lines if kp.VIP not in line]
                        + ["route add %s/32 via %s" % (kp.VIP, kp.LINKS["be1"][0])])
    peer_lines = kp.ip_batch_for_peer
    monkeypatch.setattr(kp, "ip_batch_for_peer", lambda role, director: peer_lines(role, director) + (
        ["addr add %s/32 dev lo" % kp.VIP] if role == "be1" else []))

    host_forwarding = open("/proc/sys/net/ipv4/ip_forward").read()
    system = kp.NodeSystem("ip")
    old = kp.namespace_names("feedf00d")
    assert system.ip_batch(["netns add %s" % name for name in old.values()])[0] == 0
    sleeper = subprocess.Popen(["ip", "netns", "exec", old["be1"], "sleep", "60"])
    try:
        result = kp.run_probe(timeout=20, connections=3, node="test-node", system=system, token="0badcafe")
    finally:
        sleeper.kill()
        sleeper.wait()
        kp.remove_namespaces(system, list(old.values()) + list(kp.namespace_names("0badcafe").values()))
    print("run_probe without IPVS: %s s, per step (ms): %s" % (result["duration_s"], json.dumps(result["timings_ms"])))
    assert result["probed"] is True, json.dumps(result)
    assert (result["syn_drop_fix"], result["drained_backend_fix"]) == (True, False), json.dumps(result)
    assert result["leftovers_removed"] == sorted(old.values())
    assert [c["backend"] for c in result["reuse"]["connections"]] == ["be1"] * 3
    assert result["drain"]["drained_backend"] == "be1" and result["drain"]["hits_on_drained"] == 3
    assert result["conntrack_entries"] == 3 and result["node"] == "test-node"
    assert set(result["timings_ms"]) == {"preconditions", "cleanup_leftovers", "namespaces_and_links", "agents",
                                         "director", "syn_drop_fix", "drained_backend_fix", "teardown"}
    # the director's sysctls were written (here: the stand-in files) and read back
    assert (sysctl / "ipv4/vs/conn_reuse_mode").read_text().strip() == "0"
    assert kp.leftover_namespaces(system.list_netns()) == []
    assert "cleanup_error" not in result
    # RETURN documents every key of the module's result, and each key it documents is here unless it says a failure
    assert undocumented(result) == []
    seen = check_result(ipvs_kernel_probe.module_result(result), ipvs_kernel_probe.RETURN, PROBE_KEYED_BY_DATA)[1]
    assert sorted(documented_paths(ipvs_kernel_probe.RETURN) - seen - PROBE_ONLY_ON_FAILURE) == []
    assert open("/proc/sys/net/ipv4/ip_forward").read() == host_forwarding  # written in the director's namespace only


def test_the_deprecated_names_carry_the_measured_values_and_reasons():
    result = kp.with_deprecated_names({"probed": True, "syn_drop_fix": False, "drained_backend_fix": True,
                                       "syn_drop_fix_reason": "slow", "drained_backend_fix_reason": "no hits"})
    assert (result["fix2"], result["fix1"], result["fix2_reason"], result["fix1_reason"]) == \
        (False, True, "slow", "no hits")
    assert "fix2_reason" not in kp.with_deprecated_names(kp.null_result("not probed"))
