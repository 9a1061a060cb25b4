#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: conn_reuse_mode
short_description: Set the live value of net.ipv4.vs.conn_reuse_mode, and nothing else
version_added: 1.0.0
description:
  - Compares the live value of C(/proc/sys/net/ipv4/vs/conn_reuse_mode) with O(value) and writes O(value) when
    they differ. It writes no file; persisting the value is the job of a C(sysctl.d) file (the
    P(kubenode.ipvs_reuse.pin_sysctl#role) role writes its own).
  - It can only write this one sysctl. In particular it never touches C(net.ipv4.vs.conntrack), which must stay
    as kube-proxy sets it (setting it to 0 breaks NodePort and masquerading).
  - Exists because M(ansible.posix.sysctl) always writes a sysctl file as well, so it cannot put back a recorded
    live value on its own, and it gives no diff.
author:
  - kubenode.ipvs_reuse contributors (@kubenode)
options:
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
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
notes:
  - Runs on the node with the Python standard library only (Python 3.8 or later).
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

from ansible.module_utils.basic import AnsibleModule

PROC_PATH = "/proc/sys/net/ipv4/vs/conn_reuse_mode"


def read_live(module):
    try:
        with open(PROC_PATH) as handle:
            text = handle.read().strip()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None
        module.fail_json(msg="cannot read %s: %s" % (PROC_PATH, exc))
    try:
        return int(text)
    except ValueError:
        module.fail_json(msg="%s holds %r, not a number" % (PROC_PATH, text))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            value=dict(type="int", required=True),
            missing_ok=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    wanted = module.params["value"]
    if wanted < 0:
        module.fail_json(msg="value must be 0 or a positive number, got %d" % wanted)
    previous = read_live(module)
    if previous is None:
        message = ("%s does not exist: the ip_vs module is not loaded on this node, so there is no live value "
                   "to set (load ip_vs, or let kube-proxy start in IPVS mode, then run again)" % PROC_PATH)
        if module.params["missing_ok"]:
            module.warn(message)
            module.exit_json(changed=False, previous=None, value=None)
        module.fail_json(msg=message)
    changed = previous != wanted
    result = dict(changed=changed, previous=previous, value=wanted)
    if module._diff:
        result["diff"] = {"before_header": PROC_PATH, "after_header": PROC_PATH,
                          "before": "%d\n" % previous, "after": "%d\n" % wanted}
    if changed and not module.check_mode:
        try:
            with open(PROC_PATH, "w") as handle:
                handle.write("%d\n" % wanted)
        except (IOError, OSError) as exc:
            module.fail_json(msg="cannot write %d to %s: %s" % (wanted, PROC_PATH, exc), previous=previous)
        now = read_live(module)
        if now != wanted:
            module.fail_json(msg="wrote %d to %s but it reads back %r" % (wanted, PROC_PATH, now),
                             previous=previous)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
