#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: conn_reuse_mode
short_description: Set the live value of net.ipv4.vs.conn_reuse_mode (or the vendor reuse switch), and nothing else
version_added: 1.0.0
description:
  - Compares the live value of C(/proc/sys/net/ipv4/vs/conn_reuse_mode) (or of the sysctl O(name)) with O(value)
    and writes O(value) when they differ. It writes no file; persisting the value is the job of a C(sysctl.d) file
    (the P(kubenode.ipvs_reuse.pin_sysctl#role) role writes its own).
  - It can only write C(conn_reuse_mode) and the TencentOS-style vendor switch C(conn_reuse_old_conntrack) that the
    vendor's reuse fix depends on. In particular it never touches C(net.ipv4.vs.conntrack), which must stay
    as kube-proxy sets it (setting it to 0 breaks NodePort and masquerading).
  - Exists because M(ansible.posix.sysctl) always writes a sysctl file as well, so it cannot put back a recorded
    live value on its own, and it gives no diff.
author:
  - kubenode.ipvs_reuse contributors (@kubenode)
options:
  name:
    description:
      - The sysctl under C(/proc/sys/net/ipv4/vs) to set. V(conn_reuse_old_conntrack) exists only on kernels that
        carry the TencentOS-style patch; elsewhere it is missing, as the whole directory is when C(ip_vs) is not
        loaded (see O(missing_ok)).
    type: str
    choices: [conn_reuse_mode, conn_reuse_old_conntrack]
    default: conn_reuse_mode
  value:
    description:
      - The value to make live. The kernel treats it as a bit map; kube-proxy and this collection use V(0) and V(1).
    type: int
    required: true
  missing_ok:
    description:
      - When C(ip_vs) is not loaded the sysctl does not exist. With V(false) the module fails and says so;
        with V(true) it reports nothing to do and warns.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - kubenode.ipvs_reuse.attributes
  - kubenode.ipvs_reuse.node_module
attributes:
  platform:
    platforms: linux
notes:
  - The P(kubenode.ipvs_reuse.pin_sysctl#role) role uses this module.
seealso:
  - module: ansible.posix.sysctl
"""

EXAMPLES = r"""
- name: Make conn_reuse_mode=1 live
  kubenode.ipvs_reuse.conn_reuse_mode:
    value: 1

- name: Put back a value recorded earlier, if ip_vs is still loaded
  kubenode.ipvs_reuse.conn_reuse_mode:
    value: "{{ recorded.conn_reuse_mode }}"
    missing_ok: true
- name: Turn on a TencentOS-style kernel's reuse fix
  kubenode.ipvs_reuse.conn_reuse_mode:
    name: conn_reuse_old_conntrack
    value: 1
"""

RETURN = r"""
previous:
  description: The live value before the module ran; V(null) when the sysctl does not exist.
  returned: always
  type: int
  sample: 0
value:
  description: The live value after the module ran (in check mode, the value it would have).
  returned: always
  type: int
  sample: 1
"""

import errno
import os

from ansible.module_utils.basic import AnsibleModule

PROC_DIR = "/proc/sys/net/ipv4/vs/"


def read_live(module, path):
    try:
        with open(path) as handle:
            text = handle.read().strip()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None
        module.fail_json(msg="cannot read %s: %s" % (path, exc))
    try:
        return int(text)
    except ValueError:
        module.fail_json(msg="%s holds %r, not a number" % (path, text))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", choices=["conn_reuse_mode", "conn_reuse_old_conntrack"], default="conn_reuse_mode"),
            value=dict(type="int", required=True),
            missing_ok=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    wanted = module.params["value"]
    if wanted < 0:
        module.fail_json(msg="value must be 0 or a positive number, got %d" % wanted)
    # name is one of the choices above, never a path of the caller's making.
    proc_path = PROC_DIR + module.params["name"]
    previous = read_live(module, proc_path)
    if previous is None:
        if module.params["name"] == "conn_reuse_mode" or not os.path.isdir(PROC_DIR):
            message = ("%s does not exist: the ip_vs module is not loaded on this node, so there is no live value "
                       "to set (load ip_vs, or let kube-proxy start in IPVS mode, then run again)" % proc_path)
        else:
            message = ("%s does not exist: this kernel does not carry the vendor patch that adds it, so it cannot "
                       "be set" % proc_path)
        if module.params["missing_ok"]:
            module.warn(message)
            module.exit_json(changed=False, previous=None, value=None)
        module.fail_json(msg=message)
    changed = previous != wanted
    result = dict(changed=changed, previous=previous, value=wanted)
    if module._diff:
        result["diff"] = {"before_header": proc_path, "after_header": proc_path,
                          "before": "%d\n" % previous, "after": "%d\n" % wanted}
    if changed and not module.check_mode:
        try:
            with open(proc_path, "w") as handle:
                handle.write("%d\n" % wanted)
        except (IOError, OSError) as exc:
            module.fail_json(msg="cannot write %d to %s: %s" % (wanted, proc_path, exc), previous=previous)
        now = read_live(module, proc_path)
        if now != wanted:
            module.fail_json(msg="wrote %d to %s but it reads back %r" % (wanted, proc_path, now),
                             previous=previous)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
