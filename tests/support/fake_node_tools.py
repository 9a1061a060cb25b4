"""TEST DOUBLE of a node's ip, ipvsadm, iptables, ip6tables and ipset: NOT the real tools, and no kernel state.

Each tool is a small script in a test's bin directory (install()) that runs this file with the tool's name. The
node's state is a JSON file (path in $FAKE_NODE_STATE):
  interfaces: {name: [address, ...]}
  services:   ["-t 10.96.0.10:80", "-u [fd00::a]:53", "-f 1", ...]   (ipvsadm -S -n's "-A" lines, without "-A")
  rules:      {"iptables nat": ["-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ"]}
  ipsets:     [name, ...]
and every call is appended to its "calls" list, so a test can tell what ran and in which order. The tools answer
as the real ones do for the subcommands the collection uses, including their refusals: a rule or service that does
not exist cannot be deleted, and an ipset an iptables rule still matches cannot be destroyed ("in use").
"""
import json
import os
import shlex
import sys

TOOLS = ("ip", "ipvsadm", "iptables", "ip6tables", "ipset")


def install(bin_dir, state_path, state, tools=TOOLS):
    """Write the state and one script per tool in bin_dir; returns the environment the tools need."""
    os.makedirs(bin_dir, exist_ok=True)
    with open(state_path, "w") as handle:
        json.dump(dict(state, calls=[]), handle)
    for tool in tools:
        path = os.path.join(bin_dir, tool)
        with open(path, "w") as handle:
            handle.write("#!/bin/sh\nexec %s %s %s \"$@\"\n" % (sys.executable, os.path.abspath(__file__), tool))
        os.chmod(path, 0o755)
    return {"FAKE_NODE_STATE": state_path}


def load(state_path):
    with open(state_path) as handle:
        return json.load(handle)


def fail(message, rc=1):
    sys.stderr.write(message + "\n")
    return rc


def ip(state, args):
    if args[:4] == ["-o", "addr", "show", "dev"] and len(args) == 5:
        name = args[4]
        if name not in state["interfaces"]:
            return fail('Device "%s" does not exist.' % name)
        for address in state["interfaces"][name]:
            family = "inet6" if ":" in address else "inet"
            print("7: %s    %s %s/%d scope global %s\\       valid_lft forever preferred_lft forever"
                  % (name, family, address, 128 if family == "inet6" else 32, name))
        return 0
    if args[:2] == ["link", "delete"] and len(args) == 3:
        if args[2] not in state["interfaces"]:
            return fail("Cannot find device \"%s\"" % args[2])
        del state["interfaces"][args[2]]
        return 0
    return fail("fake ip: unexpected arguments %r" % args, 2)


def ipvsadm(state, args):
    if args == ["-S", "-n"]:
        for service in state["services"]:
            print("-A %s -s rr" % service)
            print("-a %s -r 10.244.1.5:8080 -m -w 1" % service)  # a real server line, which the module skips
        return 0
    if len(args) == 3 and args[0] == "-D":
        service = "%s %s" % (args[1], args[2])
        if service not in state["services"]:
            return fail("Service not defined")
        state["services"].remove(service)
        return 0
    return fail("fake ipvsadm: unexpected arguments %r" % args, 2)


def iptables(tool, state, args):
    if len(args) < 4 or args[:2] != ["-w", "-t"]:
        return fail("fake %s: unexpected arguments %r" % (tool, args), 2)
    table, action, spec = args[2], args[3], args[4:]
    rules = state["rules"].get("%s %s" % (tool, table), [])
    if action == "-S" and not spec:
        print("-P PREROUTING ACCEPT")
        for rule in rules:
            print(rule)
        return 0
    if action == "-D" and spec:
        found = [rule for rule in rules if shlex.split(rule) == ["-A"] + spec]
        if not found:
            return fail("%s: Bad rule (does a matching rule exist in that chain?)." % tool)
        rules.remove(found[0])
        return 0
    return fail("fake %s: unexpected arguments %r" % (tool, args), 2)


def matched_sets(rule):
    words = shlex.split(rule)
    return [words[i + 1] for i, word in enumerate(words[:-1]) if word == "--match-set"]


def ipset(state, args):
    if args == ["list", "-n"]:
        for name in state["ipsets"]:
            print(name)
        return 0
    if len(args) == 2 and args[0] == "destroy":
        name = args[1]
        if name not in state["ipsets"]:
            return fail("ipset v7.10: The set with the given name does not exist")
        if any(name in matched_sets(rule) for rules in state["rules"].values() for rule in rules):
            return fail("ipset v7.10: Set cannot be destroyed: it is in use by a kernel component")
        state["ipsets"].remove(name)
        return 0
    return fail("fake ipset: unexpected arguments %r" % args, 2)


def main(argv):
    tool, args = argv[1], argv[2:]
    state_path = os.environ["FAKE_NODE_STATE"]
    state = load(state_path)
    state["calls"].append([tool] + args)
    if tool in ("iptables", "ip6tables"):
        rc = iptables(tool, state, args)
    else:
        rc = {"ip": ip, "ipvsadm": ipvsadm, "ipset": ipset}[tool](state, args)
    with open(state_path, "w") as handle:
        json.dump(state, handle)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
