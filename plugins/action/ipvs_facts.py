# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ipvs_facts on the controller (documented in plugins/modules/ipvs_facts.py).

The node runs the module, which only gathers. The classification engine runs here, on the
controller, on what came back: the same engine and the same result as the classify filter,
and a module payload that does not carry the engine to every node. The policy is checked
before the node is contacted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible.module_utils.common.validation import check_type_dict
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import PolicyError, classify, validate_policy
from ansible_collections.kubenode.ipvs_reuse.plugins.plugin_utils.cluster_facts import merge_cluster_facts

MODULE = "kubenode.ipvs_reuse.ipvs_facts"


def checked_policy(value):
    """The user's policy merged over the default one; PolicyError when it cannot be applied."""
    if isinstance(value, str):  # key=value or JSON text, as the module's dict option would accept it
        try:
            value = check_type_dict(value) if value.strip() else {}
        except (TypeError, ValueError) as exc:
            raise PolicyError("policy must be a dict: %s" % exc)
    return validate_policy(value)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # no longer has any effect
        module_args = dict(self._task.args)
        try:
            policy = checked_policy(module_args.pop("policy", None))
        except PolicyError as exc:
            result.update(failed=True, msg="invalid policy: %s" % exc)
            return result
        # Read once per run from the Kubernetes API (role assess); merged here, never sent to the node.
        cluster = module_args.pop("cluster", None)
        node_name = module_args.pop("cluster_node_name", None)
        if cluster is not None and not isinstance(cluster, dict):
            result.update(failed=True, msg="cluster must be a dict (the output of the kube_proxy_cluster_facts filter)")
            return result

        # A measurement of this node's kernel build (ipvs_kernel_probe's "probe"), and facts gathered earlier to
        # classify again with it: both controller-side, the node is not contacted when facts are given.
        kernel_probe = module_args.pop("kernel_probe", None)
        earlier_facts = module_args.pop("facts", None)
        for name, value in (("kernel_probe", kernel_probe), ("facts", earlier_facts)):
            if value is not None and not isinstance(value, dict):
                result.update(failed=True, msg="%s must be a dict" % name)
                return result
        if earlier_facts is not None:
            result.update(changed=False, ansible_facts={"ipvs_reuse": copy.deepcopy(earlier_facts)})
        else:
            result = merge_hash(result, self._execute_module(module_name=MODULE, module_args=module_args,
                                                             task_vars=task_vars))
            self._remove_tmp_path(self._connection._shell.tmpdir)
        facts = (result.get("ansible_facts") or {}).get("ipvs_reuse")
        if not result.get("failed") and isinstance(facts, dict):
            facts.pop("classification", None)
            if kernel_probe is not None:
                facts["kernel_probe"] = kernel_probe
            warnings = merge_cluster_facts(facts, cluster, node_name) if cluster else []
            facts["classification"] = classify(facts, policy)
            facts["classification"].setdefault("warnings", []).extend(warnings)
        return result
