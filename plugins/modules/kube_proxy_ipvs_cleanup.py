#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kube_proxy_ipvs_cleanup
short_description: Remove the IPVS state kube-proxy left on a node, and only that
version_added: 1.0.0
description:
  - After kube-proxy was switched from IPVS to iptables mode, removes what kube-proxy in IPVS mode created on the
    node and kube-proxy in iptables mode does not clean up (kubernetes issue 76109).
  - That is the IPVS virtual services whose address is on the dummy interface O(interface) (C(kube-ipvs0)), where
    kube-proxy puts every service address it programs; the iptables rules in C(KUBE-*) chains that match C(KUBE-*)
    ipsets (IPVS mode only, iptables mode uses no ipsets); the C(KUBE-*) ipsets; and the dummy interface itself.
  - Never touches IPVS virtual services whose address is not on O(interface), such as keepalived or LVS
    services on the same node, unlike C(kube-proxy --cleanup) or C(ipvsadm -C), which flush every service.
  - Idempotent; check mode reports what would be removed; C(--diff) shows the services, ipsets and interface before
    and after.
author:
  - kubenode.ipvs_reuse contributors (@kubenode)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - kubenode.ipvs_reuse.attributes
  - kubenode.ipvs_reuse.node_module
options:
  interface:
    description: The dummy interface kube-proxy in IPVS mode binds service addresses to.
    type: str
    default: kube-ipvs0
  ipset_prefix:
    description: Prefix of the ipsets (and of the chains whose ipset rules are removed) that belong to kube-proxy.
    type: str
    default: KUBE-
  remove_services:
    description: Remove the IPVS virtual services whose address is on O(interface).
    type: bool
    default: true
  remove_ipsets:
    description: Remove the ipset match rules in O(ipset_prefix) chains, then the O(ipset_prefix) ipsets.
    type: bool
    default: true
  remove_interface:
    description: Delete O(interface).
    type: bool
    default: true
notes:
  - Needs C(ip), and C(ipvsadm), C(ipset), C(iptables) where there is something of theirs to read (a missing tool means that kind of state cannot exist here).
  - Virtual services kube-proxy made for NodePorts and external IPs on the node's own addresses are not on
    O(interface) and cannot be told apart from other services by address; they are reported in RV(services_kept).
seealso:
  - module: kubenode.ipvs_reuse.ipvs_facts
"""

EXAMPLES = r"""
- name: Remove kube-proxy's IPVS leftovers after the switch to iptables mode
  kubenode.ipvs_reuse.kube_proxy_ipvs_cleanup:
  register: cleanup

- name: Only report what would be removed
  kubenode.ipvs_reuse.kube_proxy_ipvs_cleanup:
  check_mode: true
"""

RETURN = r"""
interface_addresses:
  description: Addresses found on O(interface) (empty when it does not exist).
  returned: always
  type: list
  elements: str
  sample: [10.96.0.10]
services_removed:
  description: Virtual services removed (or to remove, in check mode), as C(protocol address:port).
  returned: always
  type: list
  elements: str
  sample: ["tcp 10.96.0.10:80"]
services_kept:
  description: Virtual services left alone because their address is not on O(interface).
  returned: always
  type: list
  elements: str
  sample: ["tcp 192.168.77.10:80"]
iptables_rules_removed:
  description: iptables rules removed, as C(table rule-spec).
  returned: always
  type: list
  elements: str
ipsets_removed:
  description: ipsets removed.
  returned: always
  type: list
  elements: str
  sample: [KUBE-CLUSTER-IP]
interface_removed:
  description: Whether O(interface) was (or would be) deleted.
  returned: always
  type: bool
"""

import os
import re
import shlex

from ansible.module_utils.basic import AnsibleModule

ADDR_RE = re.compile(r"^\s*\d+:\s+\S+\s+inet6?\s+([0-9a-fA-F:.]+)/")
# ipvsadm -Sn: "-A -t 10.96.0.10:80 -s rr" / "-A -u [fd00::a]:53 -s rr" / "-A -f 1 -s rr"
SERVICE_RE = re.compile(r"^-A\s+(-t|-u|--sctp-service|-f)\s+(\S+)")
PROTOCOLS = {"-t": "tcp", "-u": "udp", "--sctp-service": "sctp", "-f": "fwmark"}


class Cleanup(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params

    def run(self, argv, check=True):
        rc, out, err = self.module.run_command(argv)
        if check and rc != 0:
            self.module.fail_json(msg="%s failed (rc=%d): %s" % (" ".join(argv), rc, (err or out).strip()),
                                  rc=rc, stdout=out, stderr=err)
        return rc, out, err

    def tool(self, name):
        return self.module.get_bin_path(name)

    def interface_addresses(self):
        ip = self.module.get_bin_path("ip", required=True)
        rc, out, _err = self.run([ip, "-o", "addr", "show", "dev", self.params["interface"]], check=False)
        if rc != 0:
            return None  # no such interface
        return [m.group(1) for m in (ADDR_RE.match(line) for line in out.splitlines()) if m]

    def services(self):
        ipvsadm = self.tool("ipvsadm")
        if not ipvsadm or not os.path.exists("/proc/net/ip_vs"):
            return []  # ip_vs not loaded: no services (and ipvsadm would load the module)
        _rc, out, _err = self.run([ipvsadm, "-S", "-n"])
        found = []
        for line in out.splitlines():
            match = SERVICE_RE.match(line.strip())
            if match:
                found.append((match.group(1), match.group(2)))
        return found

    @staticmethod
    def service_host(flag, address):
        if flag == "-f":
            return None
        if address.startswith("["):
            return address[1:address.index("]")]
        return address.rsplit(":", 1)[0]

    def ipset_rules(self):
        rules = []
        prefix = self.params["ipset_prefix"]
        for binary in ("iptables", "ip6tables"):
            path = self.tool(binary)
            if not path:
                continue
            for table in ("nat", "filter", "mangle", "raw"):
                rc, out, _err = self.run([path, "-w", "-t", table, "-S"], check=False)
                if rc != 0:
                    continue
                for line in out.splitlines():
                    parts = shlex.split(line)
                    if len(parts) < 2 or parts[0] != "-A" or not parts[1].startswith(prefix):
                        continue
                    if any(parts[i] == "--match-set" and i + 1 < len(parts) and parts[i + 1].startswith(prefix)
                           for i in range(len(parts))):
                        rules.append((binary, path, table, parts[1:]))
        return rules

    def ipsets(self):
        ipset = self.tool("ipset")
        if not ipset:
            return []
        rc, out, _err = self.run([ipset, "list", "-n"], check=False)
        if rc != 0:
            return []
        return sorted(name for name in out.split() if name.startswith(self.params["ipset_prefix"]))

    def main(self):
        params = self.params
        addresses = self.interface_addresses()
        interface_exists = addresses is not None
        addresses = addresses or []
        services = self.services()
        remove, keep = [], []
        for flag, address in services:
            label = "%s %s" % (PROTOCOLS[flag], address)
            host = self.service_host(flag, address)
            if params["remove_services"] and host is not None and host in addresses:
                remove.append((flag, address, label))
            else:
                keep.append(label)
        rules = self.ipset_rules() if params["remove_ipsets"] else []
        sets = self.ipsets() if params["remove_ipsets"] else []
        drop_interface = params["remove_interface"] and interface_exists
        changed = bool(remove or rules or sets or drop_interface)

        result = dict(
            changed=changed,
            interface_addresses=addresses,
            services_removed=[label for _f, _a, label in remove],
            services_kept=keep,
            iptables_rules_removed=["%s %s %s" % (binary, table, " ".join(spec)) for binary, _p, table, spec in rules],
            ipsets_removed=sets,
            interface_removed=drop_interface,
        )
        if self.module._diff:
            before = {"interface": params["interface"] if interface_exists else None,
                      "services": sorted("%s %s" % (PROTOCOLS[f], a) for f, a in services),
                      "ipsets": sets}
            after = {"interface": None if drop_interface or not interface_exists else params["interface"],
                     "services": sorted(keep),
                     "ipsets": []}
            result["diff"] = {"before": before, "after": after}
        if not changed or self.module.check_mode:
            self.module.exit_json(**result)

        ipvsadm = self.tool("ipvsadm")
        for flag, address, _label in remove:
            self.run([ipvsadm, "-D", flag, address])
        for _binary, path, table, spec in rules:
            self.run([path, "-w", "-t", table, "-D"] + spec)
        ipset = self.tool("ipset")
        for name in sets:
            self.run([ipset, "destroy", name])
        if drop_interface:
            self.run([self.module.get_bin_path("ip", required=True), "link", "delete", params["interface"]])
        self.module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            interface=dict(type="str", default="kube-ipvs0"),
            ipset_prefix=dict(type="str", default="KUBE-"),
            remove_services=dict(type="bool", default=True),
            remove_ipsets=dict(type="bool", default=True),
            remove_interface=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    module.run_command_environ_update = {"LANGUAGE": "C", "LC_ALL": "C"}
    if not module.params["ipset_prefix"]:
        module.fail_json(msg="ipset_prefix must not be empty: it would select every ipset on the node")
    Cleanup(module).main()


if __name__ == "__main__":
    main()
