"""kube_proxy_ipvs_cleanup, run as a program with an args file (as AnsiballZ runs it), against test doubles of the
node's tools (tests/support/fake_node_tools.py): it removes kube-proxy's services on kube-ipvs0, the KUBE- ipset
rules and ipsets and the interface, and nothing else; check mode and a second run change nothing.

The module looks its tools up only in the test's bin directory (the host's ip is never run) and reads a stand-in
for /proc/net/ip_vs, so the host's network and IPVS state are never read or touched."""
import copy
import json
import os
import subprocess
import sys

from support import fake_node_tools

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
# the module with two seams replaced by doubles: the tool lookup (the test's bin directory only) and /proc/net/ip_vs
RUNNER = """
import os, sys
from ansible.module_utils import basic
from ansible_collections.kubenode.ipvs_reuse.plugins.modules import kube_proxy_ipvs_cleanup as m
bin_dir, ip_vs = sys.argv.pop(1), sys.argv.pop(1)

def test_bin_path(arg, opt_dirs=None):
    path = os.path.join(bin_dir, arg)
    if not os.path.exists(path):
        raise ValueError("Failed to find required executable %r in the test's bin directory" % arg)
    return path

class PathWithProc(object):
    def __getattr__(self, name):
        return getattr(os.path, name)

    @staticmethod
    def exists(path):
        return os.path.exists(ip_vs if path == "/proc/net/ip_vs" else path)

class OsWithProc(object):
    path = PathWithProc()

    def __getattr__(self, name):
        return getattr(os, name)

basic.get_bin_path = test_bin_path
m.os = OsWithProc()
m.main()
"""

# A node after kube-proxy's switch from IPVS to iptables mode, with a keepalived service, a firewall mark service
# and a NodePort service on the node's own address beside kube-proxy's leftovers.
COMMENT = '"Kubernetes service cluster ip + port for masquerade purpose"'
NODE = {
    "interfaces": {"kube-ipvs0": ["10.96.0.1", "10.96.0.10", "fd00::a"], "eth0": ["192.168.77.10"]},
    "services": ["-t 10.96.0.1:443", "-u 10.96.0.10:53", "-u [fd00::a]:53", "-t 192.168.77.10:80",
                 "-t 192.168.77.10:30080", "-f 1"],
    "rules": {
        "iptables nat": [
            "-A KUBE-SERVICES -m comment --comment %s -m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ"
            % COMMENT,
            "-A KUBE-POSTROUTING -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE",
            "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
            "-A POSTROUTING -m set --match-set lb-backends dst -j MASQUERADE",
        ],
        "iptables filter": ["-A INPUT -p tcp --dport 22 -j ACCEPT"],
        "ip6tables nat": ["-A KUBE-SERVICES -m set --match-set KUBE-6-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ"],
    },
    "ipsets": ["KUBE-6-CLUSTER-IP", "KUBE-CLUSTER-IP", "KUBE-LOOP-BACK", "lb-backends"],
}
REMOVED = {
    "changed": True,
    "interface_addresses": ["10.96.0.1", "10.96.0.10", "fd00::a"],
    "services_removed": ["tcp 10.96.0.1:443", "udp 10.96.0.10:53", "udp [fd00::a]:53"],
    "services_kept": ["tcp 192.168.77.10:80", "tcp 192.168.77.10:30080", "fwmark 1"],
    "iptables_rules_removed": [
        "iptables nat KUBE-SERVICES -m comment --comment Kubernetes service cluster ip + port for masquerade purpose "
        "-m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ",
        "iptables nat KUBE-POSTROUTING -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE",
        "ip6tables nat KUBE-SERVICES -m set --match-set KUBE-6-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ"],
    "ipsets_removed": ["KUBE-6-CLUSTER-IP", "KUBE-CLUSTER-IP", "KUBE-LOOP-BACK"],
    "interface_removed": True,
}
# what the tools are asked to change, in this order: services, then the rules, then the ipsets they matched
WRITES = [
    ["ipvsadm", "-D", "-t", "10.96.0.1:443"], ["ipvsadm", "-D", "-u", "10.96.0.10:53"],
    ["ipvsadm", "-D", "-u", "[fd00::a]:53"],
    ["iptables", "-w", "-t", "nat", "-D", "KUBE-SERVICES", "-m", "comment", "--comment",
     "Kubernetes service cluster ip + port for masquerade purpose", "-m", "set", "--match-set", "KUBE-CLUSTER-IP",
     "src,dst", "-j", "KUBE-MARK-MASQ"],
    ["iptables", "-w", "-t", "nat", "-D", "KUBE-POSTROUTING", "-m", "set", "--match-set", "KUBE-LOOP-BACK",
     "dst,dst,src", "-j", "MASQUERADE"],
    ["ip6tables", "-w", "-t", "nat", "-D", "KUBE-SERVICES", "-m", "set", "--match-set", "KUBE-6-CLUSTER-IP", "dst,dst",
     "-j", "KUBE-MARK-MASQ"],
    ["ipset", "destroy", "KUBE-6-CLUSTER-IP"], ["ipset", "destroy", "KUBE-CLUSTER-IP"],
    ["ipset", "destroy", "KUBE-LOOP-BACK"],
    ["ip", "link", "delete", "kube-ipvs0"],
]


def is_read(call):
    tool, args = call[0], call[1:]
    return args[:2] == ["-o", "addr"] if tool == "ip" else "-S" in args or args[:1] == ["list"]


class Node(object):
    """The doubles' state and the module run against it."""

    def __init__(self, tmp_path, state, tools=fake_node_tools.TOOLS, ip_vs_loaded=True):
        self.bin_dir = str(tmp_path / "bin")
        self.state_path = str(tmp_path / "node-state.json")
        self.env = fake_node_tools.install(self.bin_dir, self.state_path, copy.deepcopy(state), tools)
        self.ip_vs = str(tmp_path / "proc-net-ip_vs")
        if ip_vs_loaded:
            with open(self.ip_vs, "w") as handle:
                handle.write("IP Virtual Server version 1.2.1 (size=4096)\n")

    def run(self, args=None, check=False, diff=False):
        args_file = str(os.path.join(os.path.dirname(self.state_path), "args.json"))
        with open(args_file, "w") as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": dict(args or {}, _ansible_check_mode=check, _ansible_diff=diff)}, handle)
        env = dict(self.env, PATH=self.bin_dir, PYTHONPATH=os.path.join(REPO, ".cache", "collections"))
        proc = subprocess.run([sys.executable, "-c", RUNNER, self.bin_dir, self.ip_vs, args_file], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
                              check=False)
        try:
            result = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(proc.stdout + proc.stderr)
        result.pop("invocation", None)
        return result

    def state(self):
        return fake_node_tools.load(self.state_path)

    def writes(self):
        """The calls that change something, with the tool's name instead of its path."""
        return [call for call in self.state()["calls"] if not is_read(call)]


def test_check_mode_reports_what_would_go_and_changes_nothing(tmp_path):
    node = Node(tmp_path, NODE)
    result = node.run(check=True, diff=True)
    diff = result.pop("diff")
    assert result == REMOVED
    assert diff == {
        "before": {"interface": "kube-ipvs0", "ipsets": REMOVED["ipsets_removed"],
                   "services": sorted(REMOVED["services_removed"] + REMOVED["services_kept"])},
        "after": {"interface": None, "ipsets": [], "services": sorted(REMOVED["services_kept"])},
    }
    assert node.writes() == []
    state = node.state()
    del state["calls"]
    assert state == NODE


def test_removes_kube_proxy_s_state_and_nothing_else_then_changes_nothing(tmp_path):
    node = Node(tmp_path, NODE)
    assert node.run() == REMOVED
    assert node.writes() == WRITES
    state = node.state()
    assert state["interfaces"] == {"eth0": ["192.168.77.10"]}
    assert state["services"] == ["-t 192.168.77.10:80", "-t 192.168.77.10:30080", "-f 1"]
    assert state["rules"] == {
        "iptables nat": ["-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
                         "-A POSTROUTING -m set --match-set lb-backends dst -j MASQUERADE"],
        "iptables filter": ["-A INPUT -p tcp --dport 22 -j ACCEPT"],
        "ip6tables nat": []}
    assert state["ipsets"] == ["lb-backends"]

    again = Node(tmp_path / "again", dict(state, calls=None))
    assert again.run(diff=True) == {
        "changed": False, "interface_addresses": [], "services_removed": [], "iptables_rules_removed": [],
        "services_kept": ["tcp 192.168.77.10:80", "tcp 192.168.77.10:30080", "fwmark 1"], "ipsets_removed": [],
        "interface_removed": False,
        "diff": {"before": {"interface": None, "ipsets": [],
                            "services": ["fwmark 1", "tcp 192.168.77.10:30080", "tcp 192.168.77.10:80"]},
                 "after": {"interface": None, "ipsets": [],
                           "services": ["fwmark 1", "tcp 192.168.77.10:30080", "tcp 192.168.77.10:80"]}}}
    assert again.writes() == []


def test_each_kind_of_state_can_be_left_alone(tmp_path):
    node = Node(tmp_path, NODE)
    result = node.run({"remove_services": False, "remove_ipsets": False})
    assert result["services_removed"] == [] and result["iptables_rules_removed"] == [] and result["ipsets_removed"] == []
    assert result["services_kept"] == ["tcp 10.96.0.1:443", "udp 10.96.0.10:53", "udp [fd00::a]:53",
                                       "tcp 192.168.77.10:80", "tcp 192.168.77.10:30080", "fwmark 1"]
    assert result["changed"] is True and result["interface_removed"] is True
    # without remove_ipsets the module does not even read iptables or ipset
    assert [call[0] for call in node.state()["calls"]] == ["ip", "ipvsadm", "ip"]
    assert node.writes() == [["ip", "link", "delete", "kube-ipvs0"]]

    kept = Node(tmp_path / "kept", NODE)
    result = kept.run({"remove_interface": False, "remove_ipsets": False})
    assert result["interface_removed"] is False and result["services_removed"] == REMOVED["services_removed"]
    assert kept.writes() == WRITES[:3]
    assert "kube-ipvs0" in kept.state()["interfaces"]


def test_another_prefix_and_interface_select_other_state(tmp_path):
    node = Node(tmp_path, NODE)
    args = {"interface": "eth0", "ipset_prefix": "lb-", "remove_interface": False}
    preview = node.run(args, check=True)
    assert preview["interface_addresses"] == ["192.168.77.10"]
    assert preview["services_removed"] == ["tcp 192.168.77.10:80", "tcp 192.168.77.10:30080"]
    assert preview["iptables_rules_removed"] == [] and preview["ipsets_removed"] == ["lb-backends"]
    # rules are removed only from chains of the prefix: lb-backends is matched from POSTROUTING, so it stays in use,
    # and the module says which command failed with the tool's own words
    result = node.run(args)
    assert result.get("failed") is True
    assert result["msg"] == ("%s destroy lb-backends failed (rc=1): ipset v7.10: Set cannot be destroyed: it is in use "
                             "by a kernel component" % os.path.join(node.bin_dir, "ipset"))
    assert node.state()["ipsets"] == NODE["ipsets"]
    assert node.state()["services"] == ["-t 10.96.0.1:443", "-u 10.96.0.10:53", "-u [fd00::a]:53", "-f 1"]


def test_without_ip_vs_loaded_ipvsadm_is_not_run(tmp_path):
    """ipvsadm would load the ip_vs module; with no /proc/net/ip_vs there can be no services to remove."""
    node = Node(tmp_path, NODE, ip_vs_loaded=False)
    result = node.run(check=True)
    assert result["services_removed"] == [] and result["services_kept"] == []
    assert "ipvsadm" not in [call[0] for call in node.state()["calls"]]


def test_a_missing_tool_means_no_state_of_its_kind(tmp_path):
    node = Node(tmp_path, NODE, tools=("ip",))
    result = node.run()
    assert result == {"changed": True, "interface_addresses": ["10.96.0.1", "10.96.0.10", "fd00::a"],
                      "services_removed": [], "services_kept": [], "iptables_rules_removed": [], "ipsets_removed": [],
                      "interface_removed": True}
    assert node.writes() == [["ip", "link", "delete", "kube-ipvs0"]]


def test_a_node_that_never_ran_ipvs_mode_is_left_as_it_is(tmp_path):
    node = Node(tmp_path, {"interfaces": {"eth0": ["192.168.77.10"]}, "services": [], "rules": {}, "ipsets": []})
    result = node.run()
    assert result["changed"] is False and result["interface_addresses"] == [] and result["interface_removed"] is False
    assert node.writes() == []


def test_an_empty_prefix_is_refused_before_anything_is_read(tmp_path):
    node = Node(tmp_path, NODE)
    result = node.run({"ipset_prefix": ""})
    assert result["failed"] is True
    assert result["msg"] == "ipset_prefix must not be empty: it would select every ipset on the node"
    assert node.state()["calls"] == []
