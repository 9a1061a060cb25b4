# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ipvs_facts on the controller (documented in plugins/modules/ipvs_facts.py).

The node only gathers. The classification engine runs here, on the controller, on what came back: the same
engine and the same result as the classify filter. The options and the policy are checked before the node is
contacted.

Two transports reach the node with the same result. The lean one (the default) sends the gatherer's
standard-library code and runs it with the node's Python in one command of the connection, become included
(plugins/plugin_utils/lean_payload.py): no AnsiballZ wrapper to build, send and unpack, no temporary
directory. The module transport runs plugins/modules/ipvs_facts.py as Ansible runs any module; it is used
when asked (transport=module) and, with a one-line warning, where the lean one cannot run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import shlex

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.executor.interpreter_discovery import discover_interpreter
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.validation import check_type_dict
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase
from ansible.plugins.connection import NetworkConnectionBase
from ansible.utils.vars import merge_hash

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import PolicyError, classify, validate_policy
from ansible_collections.kubenode.ipvs_reuse.plugins.modules.ipvs_facts import ARGUMENT_SPEC
from ansible_collections.kubenode.ipvs_reuse.plugins.plugin_utils.cluster_facts import merge_cluster_facts
from ansible_collections.kubenode.ipvs_reuse.plugins.plugin_utils.lean_payload import (
    TOO_OLD_KEY, LeanUnavailable, encoded_program, last_json_object, node_program)

MODULE = "kubenode.ipvs_reuse.ipvs_facts"
# Options the action plugin consumes; the node sees their defaults, whichever the transport.
CONTROLLER_OPTIONS = ("policy", "cluster", "cluster_node_name", "transport", "kernel_probe", "facts")
# Checked here with the module's spec; a path is expanded on the node (~ is the home of the task's user there).
CONTROLLER_SPEC = dict(ARGUMENT_SPEC, root=dict(ARGUMENT_SPEC["root"], type="str"))
# Linux refuses a single argument longer than 128 KiB; the program goes in one when pipelining is off.
MAX_COMMAND_ARGUMENT = 100 * 1024
VALIDATOR = ArgumentSpecValidator(CONTROLLER_SPEC)  # built once, in Ansible's main process (see below)
AUTO_INTERPRETER = ("auto", "auto_legacy", "auto_silent", "auto_legacy_silent")
# -S: no site module, no site-packages (the gatherer needs only the standard library); any Python accepts it.
PYTHON_OPTIONS = "-S"

try:  # read the gatherer's sources now, in Ansible's main process, once for every worker forked after (see there)
    encoded_program()
except (LeanUnavailable, OSError):
    pass  # said again, with the warning, by each task that tries the lean transport


def checked_policy(value):
    """The user's policy merged over the default one; PolicyError when it cannot be applied."""
    if isinstance(value, str):  # key=value or JSON text, as the module's dict option would accept it
        try:
            value = check_type_dict(value) if value.strip() else {}
        except (TypeError, ValueError) as exc:
            raise PolicyError("policy must be a dict: %s" % exc)
    return validate_policy(value)


def checked_params(args):
    """(the options as the module would see them after validation, the transport) or (None, the error message
    AnsibleModule would give). The options the action plugin consumes are at their defaults."""
    validation = VALIDATOR.validate(args)
    if validation.error_messages:
        message = validation.errors.msg
        if isinstance(validation.errors[0], UnsupportedError):
            message = "Unsupported parameters for (%s) module: %s" % (MODULE, message)
        return None, message
    params = dict(validation.validated_parameters)
    transport = params["transport"]
    params.update((key, ARGUMENT_SPEC[key].get("default")) for key in CONTROLLER_OPTIONS)
    return params, transport


class LeanFailed(Exception):
    """The lean transport ran and failed; the message says why and what to do."""

    def __init__(self, message, **details):
        super(LeanFailed, self).__init__(message)
        self.details = details


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # no longer has any effect
        module_args = dict(self._task.args)
        try:
            policy = checked_policy(module_args.get("policy"))
        except PolicyError as exc:
            result.update(failed=True, msg="invalid policy: %s" % exc)
            return result
        # Read once per run from the Kubernetes API (role assess); merged here, never sent to the node.
        cluster = module_args.get("cluster")
        node_name = module_args.get("cluster_node_name")
        if cluster is not None and not isinstance(cluster, dict):
            result.update(failed=True, msg="cluster must be a dict (the output of the kube_proxy_cluster_facts filter)")
            return result
        # A measurement of this node's kernel build (ipvs_kernel_probe's "probe"), and facts gathered earlier to
        # classify again with it: both controller-side, the node is not contacted when facts are given.
        kernel_probe = module_args.get("kernel_probe")
        earlier_facts = module_args.get("facts")
        for name, value in (("kernel_probe", kernel_probe), ("facts", earlier_facts)):
            if value is not None and not isinstance(value, dict):
                result.update(failed=True, msg="%s must be a dict" % name)
                return result
        # policy, cluster and the two above are checked here, with messages of their own
        params, transport = checked_params(dict(module_args, policy={}, cluster={}, kernel_probe=None, facts=None))
        if params is None:
            result.update(failed=True, msg=transport)
            return result

        node_result = None
        if earlier_facts is not None:
            node_result = {"changed": False, "ansible_facts": {"ipvs_reuse": copy.deepcopy(earlier_facts)}}
        elif transport == "auto":
            try:
                node_result = self._run_lean(params, task_vars)
            except LeanUnavailable as exc:
                result.setdefault("warnings", []).append(
                    "ipvs_facts runs the module instead of its lean transport: %s; transport=module (role assess: "
                    "assess_facts_transport=module) skips the attempt" % exc)
            except LeanFailed as exc:
                result.update(exc.details, failed=True, msg=str(exc))
                return result
        if node_result is None:
            for key in CONTROLLER_OPTIONS:
                module_args.pop(key, None)
            node_result = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)
            self._remove_tmp_path(self._connection._shell.tmpdir)
        warnings = result.pop("warnings", [])
        result = merge_hash(result, node_result)
        if warnings:
            result["warnings"] = warnings + list(result.get("warnings") or [])

        facts = (result.get("ansible_facts") or {}).get("ipvs_reuse")
        if not result.get("failed") and isinstance(facts, dict):
            facts.pop("classification", None)
            if kernel_probe is not None:
                facts["kernel_probe"] = kernel_probe
            warnings = merge_cluster_facts(facts, cluster, node_name) if cluster else []
            facts["classification"] = classify(facts, policy)
            facts["classification"].setdefault("warnings", []).extend(warnings)
        return result

    # The lean transport

    def _run_lean(self, params, task_vars):
        """The node's result through the lean transport; LeanUnavailable where it cannot run, LeanFailed when it
        ran and failed."""
        shell = self._connection._shell
        if getattr(shell, "SHELL_FAMILY", None) != "sh" or isinstance(self._connection, NetworkConnectionBase):
            raise LeanUnavailable("the connection %s with shell %s runs no POSIX shell command"
                                  % (self._connection.transport, getattr(shell, "SHELL_FAMILY", "?")))
        program = node_program(params)
        facts = {}
        python = self._node_python(task_vars, facts)
        environment = self._compute_environment_string()
        words = [environment.strip(), python, PYTHON_OPTIONS]
        in_data = None
        if self._connection.is_pipelining_enabled():
            in_data = program.encode("utf-8")  # Python reads its program from stdin
        elif len(program) <= MAX_COMMAND_ARGUMENT:
            words += ["-c", shlex.quote(program)]
        else:
            raise LeanUnavailable("the program (%d bytes) is too long for a command line; enable pipelining" % len(program))
        command = " ".join(word for word in words if word)
        output = self._low_level_execute_command(command, sudoable=True, in_data=in_data)
        node_result = self._lean_result(python, output)
        if facts:
            node_result.setdefault("ansible_facts", {}).update(facts)
        return node_result

    def _lean_result(self, python, output):
        """The node's result from the command's output; LeanUnavailable or LeanFailed when there is none."""
        rc, stdout, stderr = output.get("rc"), output.get("stdout", ""), output.get("stderr", "")
        found = last_json_object(stdout)
        details = dict(rc=rc, module_stdout=stdout, module_stderr=stderr)
        last_error = (stderr.strip().splitlines() or ["no output on stderr"])[-1]
        if found is not None and TOO_OLD_KEY in found:
            raise LeanUnavailable("the node's Python %s (%s) is older than the 3.8 the lean transport needs"
                                  % (python, found[TOO_OLD_KEY]))
        if found is not None and rc == 0:
            return found
        if rc in (126, 127) and not stdout.strip():
            raise LeanFailed("no usable Python at %s on the node (exit status %d: %s); install Python 3.8 or later, "
                             "or set ansible_python_interpreter to it" % (python, rc, last_error), **details)
        if rc != 0:
            raise LeanFailed("the node's Python %s exited with status %s and no result: %s" % (python, rc, last_error),
                             **details)
        raise LeanFailed("the node's Python %s printed no JSON result (first bytes: %r)" % (python, stdout[:120]),
                         **details)

    def _node_python(self, task_vars, facts):
        """The node's Python as Ansible would run a module with it: ansible_python_interpreter, else the discovered
        one (discovered now if need be; the fact goes into facts as for a module)."""
        use_vars = task_vars
        if self._task.delegate_to:
            use_vars = task_vars.get("ansible_delegated_vars", {}).get(self._task.delegate_to, task_vars)
        configured = C.config.get_config_value("INTERPRETER_PYTHON", variables=use_vars)
        configured = self._templar.template(configured) if configured else configured
        if configured and configured not in AUTO_INTERPRETER:
            return str(configured).strip()
        known = (use_vars.get("ansible_facts") or {}).get("discovered_interpreter_python")
        if known:
            return known
        try:
            discovered = discover_interpreter(action=self, interpreter_name="python", discovery_mode=configured or "auto",
                                              task_vars=use_vars)
        except AnsibleError as exc:
            raise LeanFailed("could not find the node's Python: %s" % exc)
        if not self._task.delegate_to or self._task.delegate_facts:
            facts["discovered_interpreter_python"] = discovered
        return discovered
