#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ipvs_reuse_metrics
short_description: Write a node's IPVS connection-reuse metrics for node_exporter's textfile collector
version_added: 1.0.0
description:
  - Renders the node's C(ipvs_reuse) facts (from M(kubenode.ipvs_reuse.ipvs_facts)) as Prometheus metrics, with
    the same function as the P(kubenode.ipvs_reuse.node_metrics#filter) filter, and writes them to a C(.prom)
    file in node_exporter's textfile collector directory.
  - "Metrics: C(ipvs_reuse_verdict{verdict=...}) and C(ipvs_reuse_mitigation{mitigation=...}) (1 for the node's
    value, 0 for the others), C(ipvs_reuse_kernel_fix{fix=syn_drop_fix|drained_backend_fix}) (1, 0, or NaN when it cannot be told),
    C(ipvs_reuse_conn_reuse_mode) (live), C(ipvs_reuse_persisted_conn_reuse_mode),
    C(ipvs_reuse_recommended_conn_reuse_mode), C(ipvs_reuse_node_info) and
    C(ipvs_reuse_last_assessment_timestamp_seconds)."
  - The file is written atomically. The new content goes to a temporary file in the same directory whose name
    starts with a dot and does not end in C(.prom), so node_exporter never reads it. The temporary file is then
    renamed over O(path). node_exporter only reads complete files.
  - C(changed) reports whether the metrics changed. If only the assessment timestamp moved, the module still
    rewrites the file so the timestamp stays fresh for staleness alerts, but it reports C(changed=false) and
    C(refreshed=true). A second run on an unchanged node therefore reports no change.
author:
  - kubenode.ipvs_reuse contributors (@kubenode)
options:
  path:
    description:
      - The metrics file, in the directory given to node_exporter as C(--collector.textfile.directory).
      - It must end in C(.prom), the only files the textfile collector reads. The directory must exist. The
        module does not create node_exporter's directory.
    type: path
    required: true
  facts:
    description:
      - The node's C(ipvs_reuse) facts including C(classification), as set by M(kubenode.ipvs_reuse.ipvs_facts).
      - Required when O(state=present).
    type: dict
  timestamp:
    description:
      - Include C(ipvs_reuse_last_assessment_timestamp_seconds), set to the node's clock at this run.
      - With V(false) the file only changes when the metrics do. Use node_exporter's own
        C(node_textfile_mtime_seconds) to see how old the file is.
    type: bool
    default: true
  state:
    description:
      - V(present) writes the metrics. V(absent) removes the file, which undoes this module.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.files
  - ansible.builtin.action_common_attributes
  - kubenode.ipvs_reuse.attributes
  - kubenode.ipvs_reuse.node_module
  - kubenode.ipvs_reuse.metrics
notes:
  - The P(kubenode.ipvs_reuse.assess#role) role runs this module when O(kubenode.ipvs_reuse.assess#role:main:assess_prometheus_textfile_dir) is set.
  - The file mode defaults to V(0644) so that node_exporter, which usually runs as its own user, can read it.
seealso:
  - module: kubenode.ipvs_reuse.ipvs_facts
  - plugin: kubenode.ipvs_reuse.node_metrics
    plugin_type: filter
  - name: node_exporter textfile collector
    description: How node_exporter reads C(*.prom) files.
    link: https://github.com/prometheus/node_exporter#textfile-collector
"""

EXAMPLES = r"""
- name: Gather and classify the node
  kubenode.ipvs_reuse.ipvs_facts:

- name: Export the assessment to node_exporter
  kubenode.ipvs_reuse.ipvs_reuse_metrics:
    path: /var/lib/prometheus/node-exporter/ipvs_reuse.prom
    facts: "{{ ansible_facts.ipvs_reuse }}"
    labels:
      cluster: prod-eu1

- name: Remove the metrics file again
  kubenode.ipvs_reuse.ipvs_reuse_metrics:
    path: /var/lib/prometheus/node-exporter/ipvs_reuse.prom
    state: absent
"""

RETURN = r"""
path:
  description: The metrics file.
  returned: always
  type: str
  sample: /var/lib/prometheus/node-exporter/ipvs_reuse.prom
metrics:
  description: The metrics text written, or that would be written in check mode.
  returned: when O(state=present)
  type: str
  sample: |
    # HELP ipvs_reuse_verdict Verdict of the IPVS connection-reuse assessment: 1 for the node's verdict, 0 for the others.
    # TYPE ipvs_reuse_verdict gauge
    ipvs_reuse_verdict{verdict="problem1"} 1
refreshed:
  description: Only the assessment timestamp changed, and the file was rewritten to keep it fresh. C(changed) is false.
  returned: always
  type: bool
  sample: true
uid:
  description: The metrics file's owner id (Ansible adds the file's attributes to a result that names an existing path).
  returned: when the file exists after the run
  type: int
  sample: 0
gid:
  description: The metrics file's group id.
  returned: when the file exists after the run
  type: int
  sample: 0
owner:
  description: The metrics file's owner.
  returned: when the file exists after the run
  type: str
  sample: root
group:
  description: The metrics file's group.
  returned: when the file exists after the run
  type: str
  sample: root
mode:
  description: The metrics file's mode, in octal.
  returned: when the file exists after the run
  type: str
  sample: "0644"
state:
  description: What the path is, V(file).
  returned: when the file exists after the run
  type: str
  sample: file
size:
  description: The metrics file's size in bytes.
  returned: when the file exists after the run
  type: int
  sample: 1863
secontext:
  description: The metrics file's SELinux context.
  returned: when the file exists after the run, on a node with SELinux
  type: str
  sample: system_u:object_r:var_lib_t:s0
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.atomic_file import write_atomically
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.metrics import render_metrics, without_timestamp


def read_text(path):
    try:
        with open(path, "r") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            facts=dict(type="dict"),
            labels=dict(type="dict", default={}),
            timestamp=dict(type="bool", default=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        required_if=[("state", "present", ("facts",))],
        add_file_common_args=True,
        supports_check_mode=True,
    )
    path = module.params["path"]
    result = dict(changed=False, path=path, refreshed=False)
    if not path.endswith(".prom"):
        module.fail_json(msg="path %s must end in .prom: node_exporter's textfile collector reads only *.prom files"
                         % path, **result)
    old = read_text(path)

    if module.params["state"] == "absent":
        if os.path.lexists(path):
            result["changed"] = True
            result["diff"] = dict(before=without_timestamp(old), after="", before_header=path, after_header=path)
            if not module.check_mode:
                os.unlink(path)
        module.exit_json(**result)

    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        module.fail_json(msg="directory %s does not exist: give node_exporter's --collector.textfile.directory "
                         "(the module does not create it)" % directory, **result)
    try:
        text = render_metrics(module.params["facts"], time.time() if module.params["timestamp"] else None,
                              module.params["labels"])
    except ValueError as exc:
        module.fail_json(msg="labels: %s" % to_native(exc), **result)
    result["metrics"] = text
    changed = old is None or without_timestamp(old) != without_timestamp(text)
    result["changed"] = changed
    if changed:
        result["diff"] = dict(before=without_timestamp(old) if old is not None else "",
                              after=without_timestamp(text), before_header=path, after_header=path)
    if not module.check_mode and (changed or old != text):
        try:
            # the temporary file is hidden and not *.prom, so node_exporter never reads a partial one; the mode is
            # set below, with the file arguments
            write_atomically(module, path, text)
        except (IOError, OSError) as exc:
            module.fail_json(msg="cannot write %s: %s" % (path, to_native(exc)), **result)
        result["refreshed"] = not changed

    file_args = module.load_file_common_arguments(module.params)
    if file_args.get("mode") is None:
        file_args["mode"] = "0644"
    if os.path.exists(path):
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
