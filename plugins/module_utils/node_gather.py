# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node's side of ipvs_facts, shared by its two transports (stdlib only).

``gather_result`` turns validated options into the task's result: the module (``plugins/modules/ipvs_facts.py``)
calls it after AnsibleModule has parsed the options, and the lean transport (``plugins/action/ipvs_facts.py``)
runs ``lean_main`` with the node's Python, the options already checked on the controller, without AnsibleModule.
Both therefore check the root and call the gatherer the same way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys

try:
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.gather import gather
except ImportError:  # pragma: no cover - direct import from a checkout
    from .gather import gather  # type: ignore

MAX_ENDPOINT_READ = 1024 * 1024


def root_error(root):
    """Why root cannot be read, or None."""
    if not os.path.isdir(root):
        return "root %s is not a directory: give the node's root file system" % root
    return None


def gather_result(params, http_get):
    """The module result for validated params ({"failed": True, "msg": ...} when root is unusable)."""
    error = root_error(params["root"])
    if error:
        return {"failed": True, "msg": error}
    facts = gather(root=params["root"], proxy_mode=params["proxy_mode"], kube_proxy_version=params["kube_proxy_version"],
                   metrics_url=params["metrics_url"], http_get=http_get, deadline=params["gather_timeout"])
    # policy and classification are the action plugin's (plugins/action/ipvs_facts.py), on the controller
    return {"changed": False, "ansible_facts": {"ipvs_reuse": facts}}


def urllib_get(url, timeout=2):
    """The body of a local endpoint (no proxies, no redirects), or None when it does not answer."""
    # imported here: only live nodes query the endpoint, offline roots skip the import cost
    from urllib.request import HTTPRedirectHandler, ProxyHandler, build_opener

    class NoRedirect(HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None  # a redirect is an error, as with follow_redirects="none"

    try:
        response = build_opener(ProxyHandler({}), NoRedirect()).open(url, timeout=timeout)
        try:
            return response.read(MAX_ENDPOINT_READ).decode("utf-8", "replace")
        finally:
            response.close()
    except Exception:  # noqa: BLE001 - any failure means "no answer"
        return None


def lean_main(params):
    """Print the result for params (options checked on the controller, the root expanded on the node by the lean
    program) as one JSON line on stdout. A crash of the gatherer is reported as a failed result, with the
    traceback, rather than as a bare exit status.
    """
    try:
        result = gather_result(params, urllib_get)
    except Exception as exc:  # noqa: BLE001 - reported to the controller, whatever it is
        import traceback  # only here: its import costs more than a gather

        result = {"failed": True, "msg": "the ipvs_facts gatherer crashed on the node: %s: %s" % (type(exc).__name__, exc),
                  "exception": traceback.format_exc()}
    result["invocation"] = {"module_args": params}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
