# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TEST DOUBLE of the Kubernetes API server (kube-apiserver). It is NOT Kubernetes.

No kube-apiserver can be installed on the machines this collection is tested on
(no registry ships one), so the roles that talk to the Kubernetes API are tested
against this small HTTP server instead. It serves the real paths and JSON shapes
of the few objects the roles use, and nothing else:

- discovery: /version, /api, /api/v1, /apis, /apis/apps/v1 (enough for the
  kubernetes client's dynamic discovery used by kubernetes.core);
- Node: GET/PUT/PATCH /api/v1/nodes/{name}, list with labelSelector;
- ConfigMap: GET/PUT/PATCH /api/v1/namespaces/{ns}/configmaps/{name}, create (POST) in a namespace;
- DaemonSet: GET/PUT/PATCH /apis/apps/v1/namespaces/{ns}/daemonsets/{name};
- Pod: list (labelSelector, fieldSelector spec.nodeName), GET, DELETE.

It checks what it receives the way kube-apiserver does for these objects:
bearer token (401), content types (415), JSON syntax (400), path/body name and
kind mismatches (400), missing objects (404), stale resourceVersion (409),
invalid labels, annotations, taints, ConfigMap data (422), and honours
``dryRun=All`` (validates, answers, stores nothing). Patches: JSON patch
(RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch (merge-patch
semantics plus merge keys for the lists these objects have).

It plays two controllers so that tests can observe a kube-proxy restart: a
kube-proxy pod deleted from a node is replaced (DaemonSet controller), a change
of the DaemonSet's pod template replaces every kube-proxy pod (rolling restart),
and each replacement pod "runs" in the mode that ConfigMap kube-system/kube-proxy
``config.conf`` says at that moment (empty mode = iptables, as in kube-proxy).
That mode is served at ``/_double/nodes/{node}/proxyMode`` so a stand-in of
kube-proxy's /proxyMode endpoint on a test node can report it.

Every request (method, path, query, content type, body, answer code) is
appended to a JSON-lines log. Errors can be simulated (403 forbidden, 503,
or a closed port for "unreachable") per verb/resource, at start or through
``POST /_double/faults``.

Run: ``python3 tests/k8s_api_double/server.py --state-dir DIR --node NAME...``;
it writes DIR/port, DIR/kubeconfig, DIR/requests.jsonl and serves until killed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import copy
import datetime
import hashlib
import json
import os
import re
import signal
import sys
import threading
import uuid

try:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported by this test tool
    raise SystemExit("the Kubernetes API test double needs Python 3.7+")

SERVER_VERSION = {
    "major": "1", "minor": "30", "gitVersion": "v1.30.0-kubenode-test-double",
    "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.22.0", "compiler": "gc",
    "platform": "linux/amd64",
}

KUBE_PROXY_CONFIG_TEMPLATE = """apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: 0.0.0.0
bindAddressHardFail: false
clientConnection:
  acceptContentTypes: ""
  burst: 0
  contentType: ""
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 0
clusterCIDR: 10.244.0.0/16
configSyncPeriod: 0s
conntrack:
  maxPerCore: null
  min: null
  tcpCloseWaitTimeout: null
  tcpEstablishedTimeout: null
detectLocalMode: ""
enableProfiling: false
healthzBindAddress: ""
hostnameOverride: ""
iptables:
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 0s
  scheduler: ""
  strictARP: false
  syncPeriod: 0s
  tcpFinTimeout: 0s
  tcpTimeout: 0s
  udpTimeout: 0s
kind: KubeProxyConfiguration
metricsBindAddress: ""
mode: {mode}
nodePortAddresses: null
oomScoreAdj: null
portRange: ""
showHiddenMetricsForAlphaFeatures: false
udpIdleTimeout: 0s
winkernel:
  enableDSR: false
  forwardHealthCheckVip: false
  networkName: ""
  rootHnsEndpointName: ""
  sourceVip: ""
"""

KUBE_PROXY_CONTAINER = {
    "name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.30.0",
    "command": ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf",
                "--hostname-override=$(NODE_NAME)"],
}

KUBECONFIG_CONF = """apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    server: https://kube-proxy.test-double.invalid:6443
  name: default
contexts:
- context:
    cluster: default
    namespace: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
"""

# (prefix, group, version) -> resources served, with the attributes discovery reports.
RESOURCES = {
    "core/v1": [
        {"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node",
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": ["no"]},
        {"name": "nodes/status", "singularName": "", "namespaced": False, "kind": "Node",
         "verbs": ["get", "patch", "update"]},
        {"name": "configmaps", "singularName": "configmap", "namespaced": True, "kind": "ConfigMap",
         "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
         "shortNames": ["cm"]},
        {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
         "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
         "shortNames": ["po"], "categories": ["all"]},
        {"name": "pods/eviction", "singularName": "", "namespaced": True, "group": "policy",
         "version": "v1", "kind": "Eviction", "verbs": ["create"]},
        {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": ["ns"]},
    ],
    "apps/v1": [
        {"name": "daemonsets", "singularName": "daemonset", "namespaced": True, "kind": "DaemonSet",
         "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
         "shortNames": ["ds"], "categories": ["all"]},
        {"name": "daemonsets/status", "singularName": "", "namespaced": True, "kind": "DaemonSet",
         "verbs": ["get", "patch", "update"]},
    ],
}
KIND_BY_PLURAL = {"nodes": ("v1", "Node"), "configmaps": ("v1", "ConfigMap"), "pods": ("v1", "Pod"),
                  "namespaces": ("v1", "Namespace"), "daemonsets": ("apps/v1", "DaemonSet")}

PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json")
# Lists that strategic merge patch merges by a key (from the Kubernetes API types);
# every other list is replaced as a whole (Node spec.taints has no merge key).
MERGE_KEYS = {"containers": "name", "initContainers": "name", "volumes": "name", "env": "name",
              "volumeMounts": "mountPath", "ports": "containerPort", "tolerations": None,
              "conditions": "type", "addresses": "type", "ownerReferences": "uid"}

LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


class ApiError(Exception):
    """An error answered as a Kubernetes Status object."""

    REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
               405: "MethodNotAllowed", 409: "Conflict", 415: "UnsupportedMediaType",
               422: "Invalid", 500: "InternalError", 503: "ServiceUnavailable"}

    def __init__(self, code, message, details=None):
        super(ApiError, self).__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.REASONS.get(self.code, "Unknown"), "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ patches

def json_merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target, patch, field=None):
    """Strategic merge patch for the object types served here."""
    if not isinstance(patch, dict):
        if isinstance(patch, list) and isinstance(target, list) and MERGE_KEYS.get(field):
            key = MERGE_KEYS[field]
            merged = [copy.deepcopy(item) for item in target]
            for item in patch:
                if not isinstance(item, dict) or key not in item:
                    raise ApiError(422, "strategic merge patch: items of %s need the merge key %s" % (field, key))
                if item.get("$patch") == "delete":
                    merged = [old for old in merged if old.get(key) != item[key]]
                    continue
                for index, old in enumerate(merged):
                    if old.get(key) == item[key]:
                        merged[index] = strategic_merge_patch(old, item)
                        break
                else:
                    merged.append(copy.deepcopy(item))
            return merged
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key == "$retainKeys":
            continue  # ordering / retention hints: the result here does not depend on them
        if key.startswith("$"):
            raise ApiError(422, "strategic merge patch directive %s is not supported by the test double" % key)
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value, key)
    return result


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "json patch: path %r must start with /" % path)
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def json_patch(target, operations):
    """RFC 6902 (add, remove, replace, test, copy, move)."""
    if not isinstance(operations, list):
        raise ApiError(400, "json patch must be a list of operations")
    doc = copy.deepcopy(target)

    def walk(parts):
        parent = doc
        for part in parts[:-1]:
            if isinstance(parent, list):
                parent = parent[int(part)]
            elif isinstance(parent, dict) and part in parent:
                parent = parent[part]
            else:
                raise ApiError(422, "json patch: path /%s does not exist" % "/".join(parts))
        return parent, parts[-1]

    def get(parts):
        parent, last = walk(parts)
        try:
            return parent[int(last)] if isinstance(parent, list) else parent[last]
        except (KeyError, IndexError, ValueError):
            raise ApiError(422, "json patch: path /%s does not exist" % "/".join(parts))

    for op in operations:
        if not isinstance(op, dict) or op.get("op") not in ("add", "remove", "replace", "test", "copy", "move"):
            raise ApiError(400, "json patch: bad operation %r" % (op,))
        parts = _pointer(op.get("path", ""))
        if not parts:
            raise ApiError(422, "json patch: operations on the whole document are not supported")
        kind = op["op"]
        if kind == "test":
            if get(parts) != op.get("value"):
                raise ApiError(422, "json patch: test operation failed at %s" % op["path"])
            continue
        if kind in ("copy", "move"):
            source = _pointer(op.get("from", ""))
            value = copy.deepcopy(get(source))
            if kind == "move":
                parent, last = walk(source)
                del parent[int(last) if isinstance(parent, list) else last]
            kind, op = "add", dict(op, value=value)
        parent, last = walk(parts)
        if kind == "remove" or kind == "replace":
            get(parts)
        if kind == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif isinstance(parent, list):
            if kind == "add":
                parent.insert(len(parent) if last == "-" else int(last), op.get("value"))
            else:
                parent[int(last)] = op.get("value")
        else:
            parent[last] = op.get("value")
    return doc


# --------------------------------------------------------------- validation

def _qualified_name_errors(key, what):
    errors = []
    prefix, sep, name = key.rpartition("/")
    if sep and (not prefix or len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)):
        errors.append("%s %r: prefix must be a DNS subdomain" % (what, key))
    if not name or len(name) > 63 or not LABEL_NAME.match(name):
        errors.append("%s %r: name part must be 63 characters or less, alphanumeric, '-', '_' or '.'" % (what, key))
    return errors


def validate_object(obj, kind):
    errors = []
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise ApiError(422, "%s is invalid: metadata: Required value" % kind)
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is None:
            continue
        if not isinstance(value, dict):
            errors.append("metadata.%s: must be a map of strings" % field)
            continue
        for key, item in value.items():
            errors.extend(_qualified_name_errors(key, "metadata.%s" % field))
            if not isinstance(item, str):
                errors.append("metadata.%s[%s]: must be a string, got %s" % (field, key, type(item).__name__))
            elif field == "labels" and (len(item) > 63 or not LABEL_VALUE.match(item)):
                errors.append("metadata.labels[%s]: Invalid value %r: a label value must be 63 characters or less, "
                              "empty or begin and end with an alphanumeric character" % (key, item))
    if kind == "ConfigMap":
        for field in ("data", "binaryData"):
            value = obj.get(field)
            if value is not None and not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
                errors.append("%s: must be a map of strings" % field)
    if kind == "Node":
        spec = obj.get("spec") or {}
        if "unschedulable" in spec and not isinstance(spec["unschedulable"], bool):
            errors.append("spec.unschedulable: must be a boolean")
        taints = spec.get("taints") or []
        if not isinstance(taints, list):
            errors.append("spec.taints: must be a list")
            taints = []
        seen = set()
        for index, taint in enumerate(taints):
            if not isinstance(taint, dict) or not taint.get("key"):
                errors.append("spec.taints[%d].key: Required value" % index)
                continue
            errors.extend(_qualified_name_errors(taint["key"], "spec.taints[%d].key" % index))
            if taint.get("effect") not in TAINT_EFFECTS:
                errors.append("spec.taints[%d].effect: Unsupported value: %r: supported values: %s"
                              % (index, taint.get("effect"), ", ".join(TAINT_EFFECTS)))
            if (taint.get("key"), taint.get("effect")) in seen:
                errors.append("spec.taints[%d]: Duplicate value: taints must be unique by key and effect" % index)
            seen.add((taint.get("key"), taint.get("effect")))
    if kind == "DaemonSet":
        template = ((obj.get("spec") or {}).get("template") or {})
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
            errors.append("spec.template.metadata.annotations: must be a map of strings")
        if not (template.get("spec") or {}).get("containers"):
            errors.append("spec.template.spec.containers: Required value")
    if errors:
        raise ApiError(422, '%s "%s" is invalid: %s' % (kind, meta.get("name", ""), "; ".join(errors)),
                       {"name": meta.get("name", ""), "kind": kind.lower() + "s",
                        "causes": [{"reason": "FieldValueInvalid", "message": e} for e in errors]})


def parse_selector(text):
    """Equality-based label selector: a=b, a==b, a!=b, a, !a (comma separated)."""
    terms = []
    for raw in filter(None, (part.strip() for part in (text or "").split(","))):
        match = re.match(r"^(!?)([^=!]+?)\s*(?:(==|=|!=)\s*(.*))?$", raw)
        if not match:
            raise ApiError(400, "unable to parse requirement: %r" % raw)
        negate, key, op, value = match.groups()
        if negate and op:
            raise ApiError(400, "unable to parse requirement: %r" % raw)
        terms.append((key.strip(), "absent" if negate else (op or "exists"), value))
    return terms


def selector_matches(terms, values):
    for key, op, value in terms:
        if op == "exists" and key not in values:
            return False
        if op == "absent" and key in values:
            return False
        if op in ("=", "==") and values.get(key) != value:
            return False
        if op == "!=" and values.get(key) == value:
            return False
    return True


def config_mode(config_text):
    """The mode kube-proxy would run in with this config.conf (empty means iptables on Linux)."""
    match = re.search(r"^mode:[ \t]*[\"']?([A-Za-z]*)[\"']?[ \t]*$", config_text or "", re.MULTILINE)
    return (match.group(1) if match else "") or "iptables"


# -------------------------------------------------------------------- state

class ClusterState:
    """Objects of the fake cluster, guarded by one lock."""

    def __init__(self, nodes, proxy_mode="ipvs", extra_configmaps=None, configmap_labels=None):
        self.lock = threading.RLock()
        self.version = 1000
        self.objects = {}
        self.node_proxy_modes = {}
        self.pod_serial = 0
        for name in nodes:
            self._store("nodes", None, {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {
                    "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                    "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
                    "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
                "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
                "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                           "message": "kubelet is posting ready status",
                                           "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
                           "addresses": [{"type": "Hostname", "address": name}],
                           "nodeInfo": {"architecture": "amd64", "bootID": str(uuid.uuid4()),
                                        "containerRuntimeVersion": "containerd://1.7.0",
                                        "kernelVersion": "6.1.0", "kubeProxyVersion": "v1.30.0",
                                        "kubeletVersion": "v1.30.0", "machineID": uuid.uuid4().hex,
                                        "operatingSystem": "linux", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                        "systemUUID": str(uuid.uuid4())}}})
        self._store("namespaces", None, {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": "kube-system"}, "spec": {"finalizers": ["kubernetes"]},
                                         "status": {"phase": "Active"}})
        cm_labels = {"app": "kube-proxy"}
        cm_labels.update(configmap_labels or {})
        self._store("configmaps", "kube-system", {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": cm_labels,
                         "annotations": {"kubeadm.kubernetes.io/component-config.hash":
                                         "sha256:" + hashlib.sha256(proxy_mode.encode()).hexdigest()}},
            "data": {"config.conf": KUBE_PROXY_CONFIG_TEMPLATE.replace("{mode}", proxy_mode or '""'),
                     "kubeconfig.conf": KUBECONFIG_CONF}})
        for cm in extra_configmaps or []:
            self._store("configmaps", cm["metadata"].get("namespace", "kube-system"), cm)
        self._store("daemonsets", "kube-system", {
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system", "generation": 1,
                         "labels": {"k8s-app": "kube-proxy"},
                         "annotations": {"deprecated.daemonset.template.generation": "1"}},
            "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                     "updateStrategy": {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                     "template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}},
                                  "spec": {"containers": [KUBE_PROXY_CONTAINER],
                                           "hostNetwork": True, "serviceAccountName": "kube-proxy"}}},
            "status": {}})
        for name in nodes:
            self._start_kube_proxy_pod(name)
        self._update_ds_status()

    # objects are keyed by (plural, namespace, name)
    def _store(self, plural, namespace, obj):
        self.version += 1
        meta = obj["metadata"]
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now())
        meta["resourceVersion"] = str(self.version)
        if namespace:
            meta["namespace"] = namespace
        self.objects[(plural, namespace, meta["name"])] = obj
        return obj

    def get(self, plural, namespace, name):
        obj = self.objects.get((plural, namespace, name))
        if obj is None:
            group = "apps" if plural == "daemonsets" else ""
            raise ApiError(404, '%s%s "%s" not found' % (plural, "." + group if group else "", name),
                           {"name": name, "group": group, "kind": plural})
        return obj

    def list(self, plural, namespace, label_selector=None, field_selector=None):
        labels = parse_selector(label_selector)
        fields = parse_selector(field_selector)
        for key, _op, _value in fields:
            if key not in ("metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"):
                raise ApiError(400, 'field label not supported: %s' % key)
        items = []
        for (kind, ns, _name), obj in sorted(self.objects.items()):
            if kind != plural or (namespace is not None and ns != namespace):
                continue
            field_values = {"metadata.name": obj["metadata"]["name"], "metadata.namespace": ns or "",
                            "spec.nodeName": (obj.get("spec") or {}).get("nodeName", ""),
                            "status.phase": (obj.get("status") or {}).get("phase", "")}
            if selector_matches(labels, obj["metadata"].get("labels") or {}) and selector_matches(fields, field_values):
                items.append(obj)
        return items

    # ---- the two controllers the tests rely on
    def _start_kube_proxy_pod(self, node):
        self.pod_serial += 1
        suffix = hashlib.sha256(("%s-%d" % (node, self.pod_serial)).encode()).hexdigest()[:5]
        ds = self.objects[("daemonsets", "kube-system", "kube-proxy")]
        cm = self.objects.get(("configmaps", "kube-system", "kube-proxy"))
        mode = config_mode((cm or {}).get("data", {}).get("config.conf", ""))
        template = copy.deepcopy(ds["spec"]["template"])
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "kube-proxy-" + suffix, "namespace": "kube-system",
                            "generateName": "kube-proxy-",
                            "labels": dict(template["metadata"].get("labels") or {},
                                           **{"controller-revision-hash": str(ds["metadata"]["generation"])}),
                            "annotations": dict(template["metadata"].get("annotations") or {}),
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "kube-proxy",
                                                 "uid": ds["metadata"]["uid"], "controller": True}]},
               "spec": dict(template["spec"], nodeName=node),
               "status": {"phase": "Running", "hostIP": "192.0.2.1", "startTime": now(),
                          "conditions": [{"type": "Ready", "status": "True"}]}}
        self._store("pods", "kube-system", pod)
        self.node_proxy_modes[node] = mode
        return pod

    def _update_ds_status(self):
        ds = self.objects[("daemonsets", "kube-system", "kube-proxy")]
        count = len(self.node_proxy_modes)
        ds["status"] = {"currentNumberScheduled": count, "desiredNumberScheduled": count,
                        "numberAvailable": count, "numberMisscheduled": 0, "numberReady": count,
                        "observedGeneration": ds["metadata"]["generation"], "updatedNumberScheduled": count}

    def after_write(self, plural, namespace, name, before, after):
        if plural == "daemonsets" and (namespace, name) == ("kube-system", "kube-proxy"):
            if before["spec"] != after["spec"]:
                after["metadata"]["generation"] = before["metadata"].get("generation", 1) + 1
                after["metadata"].setdefault("annotations", {})["deprecated.daemonset.template.generation"] = \
                    str(after["metadata"]["generation"])
            if before["spec"].get("template") != after["spec"].get("template"):
                # rolling restart: replace every kube-proxy pod, node by node
                for pod in self.list("pods", "kube-system", "k8s-app=kube-proxy"):
                    node = pod["spec"]["nodeName"]
                    del self.objects[("pods", "kube-system", pod["metadata"]["name"])]
                    self._start_kube_proxy_pod(node)
            self._update_ds_status()

    def after_delete(self, plural, namespace, obj):
        labels = obj["metadata"].get("labels") or {}
        if plural == "pods" and namespace == "kube-system" and labels.get("k8s-app") == "kube-proxy":
            node = obj["spec"].get("nodeName")
            if node and ("nodes", None, node) in self.objects:
                self._start_kube_proxy_pod(node)
                self._update_ds_status()


# ------------------------------------------------------------------ server

class Faults:
    """Simulated failures: a list of {"code": 403|500|503, "verb": ..., "resource": ..., "name": ...}."""

    def __init__(self, rules=None):
        self.rules = list(rules or [])

    def match(self, verb, plural, name):
        for rule in self.rules:
            if rule.get("verb") not in (None, verb) or rule.get("resource") not in (None, plural):
                continue
            if rule.get("name") not in (None, name):
                continue
            return rule
        return None


class Handler(BaseHTTPRequestHandler):
    server_version = "kube-apiserver-test-double/1.0"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep stderr quiet; the JSON-lines log is the record
        pass

    # --- plumbing
    def _send(self, code, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return code

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _record(self, entry):
        with self.server.log_lock:
            with open(self.server.log_path, "a") as handle:
                handle.write(json.dumps(entry, sort_keys=True) + "\n")

    def do_GET(self):
        self._dispatch("GET")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        url = urlsplit(self.path)
        query = dict((k, v[-1]) for k, v in parse_qs(url.query, keep_blank_values=True).items())
        raw = self._read_body()
        entry = {"time": now(), "method": method, "path": url.path, "query": query,
                 "content_type": self.headers.get("Content-Type"), "body": None}
        if raw:
            try:
                entry["body"] = json.loads(raw.decode("utf-8"))
            except ValueError:
                entry["body"] = raw.decode("utf-8", "replace")
        try:
            if url.path.startswith("/_double/"):
                code = self._control(method, url.path, entry["body"])
                return
            self._authenticate()
            code, answer = 200, self._api(method, url.path, query, raw)
        except ApiError as exc:
            code, answer = exc.code, exc.status()
        except Exception as exc:  # a bug in the double: say so loudly
            code, answer = 500, ApiError(500, "test double internal error: %r" % exc).status()
        entry["code"] = code
        # Recorded before the answer goes out: a client that reads the log once answered finds its request there.
        self._record(entry)
        self._send(code, answer)

    def _authenticate(self):
        expected = self.server.token
        if expected and self.headers.get("Authorization") != "Bearer " + expected:
            raise ApiError(401, "Unauthorized")

    def _control(self, method, path, body):
        state = self.server.state
        match = re.match(r"^/_double/nodes/([^/]+)/proxyMode$", path)
        if method == "GET" and match:
            with state.lock:
                mode = state.node_proxy_modes.get(match.group(1))
            if mode is None:
                return self._send(404, b"no kube-proxy pod on this node\n", "text/plain")
            return self._send(200, mode.encode(), "text/plain")
        if path == "/_double/faults" and method == "POST":
            if not isinstance(body, list):
                return self._send(400, {"error": "POST a JSON list of fault rules"})
            self.server.faults.rules = body
            return self._send(200, {"faults": body})
        if path == "/_double/state" and method == "GET":
            with state.lock:
                objects = [obj for _key, obj in sorted(state.objects.items())]
                return self._send(200, {"objects": objects, "proxyModes": state.node_proxy_modes})
        return self._send(404, {"error": "unknown control path"})

    # --- the API
    def _api(self, method, path, query, raw):
        discovery = self._discovery(method, path)
        if discovery is not None:
            return discovery
        match = re.match(r"^/(?:api/v1|apis/apps/v1)(?:/namespaces/([^/]+))?/([a-z]+)(?:/([^/]+))?$", path)
        if not match:
            raise ApiError(404, "the server could not find the requested resource")
        namespace, plural, name = match.groups()
        group = "apps" if path.startswith("/apis/apps/") else ""
        if plural not in KIND_BY_PLURAL or (plural == "daemonsets") != (group == "apps"):
            raise ApiError(404, "the server could not find the requested resource")
        namespaced = plural not in ("nodes", "namespaces")
        if namespaced and namespace is None and name is not None:
            raise ApiError(404, "the server could not find the requested resource")
        if not namespaced and namespace is not None:
            raise ApiError(404, "the server could not find the requested resource")
        verb = {"GET": "get" if name else "list", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete", "POST": "create"}[method]
        fault = self.server.faults.match(verb, plural, name)
        if fault:
            code = int(fault.get("code", 403))
            if code == 403:
                raise ApiError(403, '%s "%s" is forbidden: User "system:serviceaccount:kube-system:kubenode-test" '
                                    'cannot %s resource "%s" in API group "%s"%s'
                               % (plural, name or "", verb, plural, group,
                                  " in the namespace \"%s\"" % namespace if namespace else " at the cluster scope"),
                               {"name": name or "", "group": group, "kind": plural})
            raise ApiError(code, fault.get("message", "simulated failure"))
        dry_run = query.get("dryRun")
        if dry_run not in (None, "All"):
            raise ApiError(400, "Invalid dry run value: %s (supported: All)" % dry_run)
        state = self.server.state
        with state.lock:
            if method == "GET" and name is None:
                items = state.list(plural, namespace, query.get("labelSelector"), query.get("fieldSelector"))
                api_version, kind = KIND_BY_PLURAL[plural]
                return {"apiVersion": api_version, "kind": kind + "List",
                        "metadata": {"resourceVersion": str(state.version)}, "items": items}
            if name is None and method == "POST" and plural == "configmaps" and namespace is not None:
                return self._create_configmap(namespace, raw, dry_run)
            if name is None:
                raise ApiError(405, "the test double only serves get/list/update/patch/delete on named objects")
            current = state.get(plural, namespace, name)
            if method == "GET":
                return current
            if method == "DELETE":
                if plural != "pods":
                    raise ApiError(405, "the test double deletes only pods")
                if raw:
                    options = self._json(raw)
                    if not isinstance(options, dict) or options.get("kind", "DeleteOptions") != "DeleteOptions":
                        raise ApiError(400, "delete body must be DeleteOptions")
                if dry_run:
                    return current
                del state.objects[(plural, namespace, name)]
                state.after_delete(plural, namespace, current)
                return current
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            body = self._json(raw)
            if method == "PUT":
                if ctype != "application/json":
                    raise ApiError(415, "the body of the request was in an unknown format - accepted media types "
                                        "include: application/json, application/yaml, application/vnd.kubernetes.protobuf")
                new = body
                if not isinstance(new, dict):
                    raise ApiError(400, "the body must be a JSON object")
                api_version, kind = KIND_BY_PLURAL[plural]
                if new.get("kind") != kind or new.get("apiVersion") != api_version:
                    raise ApiError(400, "the API version/kind in the body (%s/%s) does not match %s/%s"
                                   % (new.get("apiVersion"), new.get("kind"), api_version, kind))
                if (new.get("metadata") or {}).get("name") != name:
                    raise ApiError(400, "the name of the object (%s) does not match the name on the URL (%s)"
                                   % ((new.get("metadata") or {}).get("name"), name))
                version = (new.get("metadata") or {}).get("resourceVersion")
                if not version:
                    raise ApiError(422, '%s "%s" is invalid: metadata.resourceVersion: Invalid value: 0x0: '
                                        'must be specified for an update' % (kind, name))
            elif method == "PATCH":
                if ctype not in PATCH_TYPES:
                    raise ApiError(415, "the body of the request was in an unknown format - accepted media types "
                                        "include: " + ", ".join(PATCH_TYPES))
                if ctype == "application/json-patch+json":
                    new = json_patch(current, body)
                else:
                    if not isinstance(body, dict):
                        raise ApiError(400, "a merge patch must be a JSON object")
                    merge = json_merge_patch if ctype == "application/merge-patch+json" else strategic_merge_patch
                    new = merge(current, body)
                version = ((body if isinstance(body, dict) else {}).get("metadata") or {}).get("resourceVersion")
            else:
                raise ApiError(405, "method %s is not allowed here" % method)
            if version and version != current["metadata"]["resourceVersion"]:
                raise ApiError(409, 'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                                    'please apply your changes to the latest version and try again' % (plural, name),
                               {"name": name, "kind": plural})
            new = copy.deepcopy(new)
            meta = new.setdefault("metadata", {})
            for key in ("uid", "creationTimestamp", "namespace", "name"):
                if current["metadata"].get(key) is not None:
                    if meta.get(key) not in (None, current["metadata"][key]):
                        raise ApiError(422, "metadata.%s: field is immutable" % key)
                    meta[key] = current["metadata"][key]
            if method == "PUT" and plural == "nodes":
                new["status"] = current.get("status")  # status is only written through /status
            if plural == "nodes" and isinstance(new.get("spec"), dict):
                # omitempty in the Go types: false / empty values are not stored
                for key in ("unschedulable", "taints"):
                    if key in new["spec"] and not new["spec"][key]:
                        del new["spec"][key]
            validate_object(new, KIND_BY_PLURAL[plural][1])
            if new == current:
                return current
            if dry_run:
                meta["resourceVersion"] = current["metadata"]["resourceVersion"]
                return new
            state._store(plural, namespace, new)
            state.after_write(plural, namespace, name, current, new)
            return new

    def _create_configmap(self, namespace, raw, dry_run):
        """POST a ConfigMap (the records ConfigMap of kube_proxy_mode): 409 when it exists, as the API server."""
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            raise ApiError(415, "the body of the request was in an unknown format - accepted media types "
                                "include: application/json, application/yaml, application/vnd.kubernetes.protobuf")
        new = self._json(raw)
        if not isinstance(new, dict) or new.get("kind") != "ConfigMap" or new.get("apiVersion") != "v1":
            raise ApiError(400, "the body must be a v1 ConfigMap")
        meta = new.setdefault("metadata", {})
        if meta.get("namespace") not in (None, namespace):
            raise ApiError(400, "the namespace of the object (%s) does not match the namespace on the URL (%s)"
                           % (meta.get("namespace"), namespace))
        if meta.get("resourceVersion"):
            raise ApiError(422, "metadata.resourceVersion: Invalid value: must not be set on create")
        name = meta.get("name")
        if not name:
            raise ApiError(422, "metadata.name: Required value: name or generateName is required")
        if ("configmaps", namespace, name) in self.server.state.objects:
            raise ApiError(409, 'configmaps "%s" already exists' % name,
                           {"name": name, "kind": "configmaps"})
        new = copy.deepcopy(new)
        new["metadata"]["namespace"] = namespace
        validate_object(new, "ConfigMap")
        if dry_run:
            return new
        return self.server.state._store("configmaps", namespace, new)

    @staticmethod
    def _json(raw):
        try:
            return json.loads(raw.decode("utf-8")) if raw else None
        except ValueError as exc:
            raise ApiError(400, "couldn't get version/kind; json parse error: %s" % exc)

    def _discovery(self, method, path):
        if path == "/version":
            return SERVER_VERSION
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:%d" % self.server.server_port}]}
        if path == "/apis":
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]}
        for group_version, prefix in (("core/v1", "/api/v1"), ("apps/v1", "/apis/apps/v1")):
            if path == prefix:
                return {"kind": "APIResourceList", "apiVersion": "v1",
                        "groupVersion": "v1" if group_version == "core/v1" else group_version,
                        "resources": RESOURCES[group_version]}
        if path.startswith("/openapi") or path.startswith("/apis/") and path.count("/") < 4:
            raise ApiError(404, "the server could not find the requested resource")
        return None


class DoubleServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, state, log_path, token=None, faults=None):
        ThreadingHTTPServer.__init__(self, address, Handler)
        self.state = state
        self.log_path = log_path
        self.token = token
        self.faults = Faults(faults)
        self.log_lock = threading.Lock()


def write_kubeconfig(path, server_url, token):
    """A kubeconfig for the double (JSON is valid YAML; kubectl and the kubernetes client read it)."""
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "kubenode-test-double",
              "clusters": [{"name": "kubenode-test-double", "cluster": {"server": server_url}}],
              "contexts": [{"name": "kubenode-test-double",
                            "context": {"cluster": "kubenode-test-double", "user": "kubenode-test"}}],
              "users": [{"name": "kubenode-test", "user": {"token": token}}]}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(config, handle, indent=2)


def main(argv=None):
    parser = argparse.ArgumentParser(description="TEST DOUBLE of the Kubernetes API (not kube-apiserver)")
    parser.add_argument("--state-dir", required=True, help="where port, pid, kubeconfig and requests.jsonl go")
    parser.add_argument("--node", action="append", default=[], help="a Node to serve (repeat)")
    parser.add_argument("--listen", default="127.0.0.1", help="address to bind (0.0.0.0 lets qemu guests reach it)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--proxy-mode", default="ipvs", help="mode in ConfigMap kube-system/kube-proxy")
    parser.add_argument("--configmap-label", action="append", default=[],
                        help="extra label KEY=VALUE on the kube-proxy ConfigMap (e.g. a GitOps owner)")
    parser.add_argument("--extra-object", action="append", default=[],
                        help="JSON file with an extra ConfigMap (e.g. kube-system/kubeadm-config)")
    parser.add_argument("--fault", action="append", default=[], help="JSON fault rule, e.g. '{\"code\":403}'")
    args = parser.parse_args(argv)
    os.makedirs(args.state_dir, exist_ok=True)
    token = hashlib.sha256(os.urandom(32)).hexdigest()
    extra = []
    for path in args.extra_object:
        with open(path) as handle:
            extra.append(json.load(handle))
    labels = dict(item.split("=", 1) for item in args.configmap_label)
    state = ClusterState(args.node, args.proxy_mode, extra, labels)
    server = DoubleServer((args.listen, args.port), state, os.path.join(args.state_dir, "requests.jsonl"),
                          token, [json.loads(rule) for rule in args.fault])
    port = server.server_address[1]
    write_kubeconfig(os.path.join(args.state_dir, "kubeconfig"), "http://127.0.0.1:%d" % port, token)
    with open(os.path.join(args.state_dir, "token"), "w") as handle:
        handle.write(token)
    with open(os.path.join(args.state_dir, "pid"), "w") as handle:
        handle.write("%d\n" % os.getpid())
    with open(os.path.join(args.state_dir, "port"), "w") as handle:  # written last: "ready"
        handle.write("%d\n" % port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
