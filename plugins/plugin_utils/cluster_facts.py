# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster as a source of kube-proxy facts (controller side only).

cluster_facts() turns the objects read once per run with kubernetes.core.k8s_info (ConfigMap
kube-system/kube-proxy, DaemonSet kube-system/kube-proxy, optionally the Nodes) into a small dict;
merge_cluster_facts() feeds it into one node's gathered facts. Precedence, for the mode and the version:
explicit variables > the node's live /proxyMode endpoint > the cluster > the node's files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

import yaml

# Signal names written by plugins/module_utils/gather.py; signals before the cluster's keep precedence.
EXPLICIT_SIGNAL = "given by the caller"
ENDPOINT_SIGNAL = "kube-proxy /proxyMode endpoint"
CONFIGMAP_SIGNAL = "kube-proxy ConfigMap"
DAEMONSET_SIGNAL = "kube-proxy DaemonSet image"

MAX_CONFIG_BYTES = 1024 * 1024  # a ConfigMap cannot hold more
_TAG_VERSION_RE = re.compile(r"^v?\d{1,4}\.\d{1,4}(\.\d{1,6})?([-+.][0-9A-Za-z.+_-]*)?$")


def _first(resources):
    return resources[0] if isinstance(resources, list) and resources and isinstance(resources[0], dict) else None


def configmap_mode(configmap, key="config.conf"):
    """(mode, note): the raw mode kube-proxy takes from the ConfigMap at its next start, or None and why not."""
    if configmap is None:
        return None, "no ConfigMap (not a kubeadm-style cluster)"
    data = configmap.get("data")
    text = data.get(key) if isinstance(data, dict) else None
    if not isinstance(text, str):
        return None, "the ConfigMap has no %s" % key
    if len(text) > MAX_CONFIG_BYTES:
        return None, "%s is larger than a ConfigMap can be" % key
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return None, "%s is not valid YAML (%s)" % (key, str(exc).splitlines()[0])
    if config is None:
        config = {}
    if not isinstance(config, dict):
        return None, "%s is not a KubeProxyConfiguration mapping" % key
    mode = config.get("mode")
    if mode is None or (isinstance(mode, str) and not mode.strip()):
        return "iptables", "%s mode is empty: kube-proxy's default, iptables" % key
    if isinstance(mode, str):
        return mode, None  # raw: the engine validates modes
    return json.dumps(mode, sort_keys=True, default=str), None


def daemonset_version(daemonset, container="kube-proxy"):
    """(version, image, note) from the DaemonSet's pod template (the version at kube-proxy's next start)."""
    if daemonset is None:
        return None, None, "no DaemonSet"
    spec = ((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = [c for c in (spec.get("containers") or []) if isinstance(c, dict)]
    chosen = next((c for c in containers if c.get("name") == container), containers[0] if containers else None)
    image = chosen.get("image") if chosen else None
    if not isinstance(image, str) or not image:
        return None, None, "the DaemonSet has no %s container image" % container
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    if not _TAG_VERSION_RE.match(tag):
        return None, image, "image %s has no version tag" % image
    return tag, image, None


def cluster_facts(configmap=None, daemonset=None, nodes=None, namespace="kube-system", configmap_name="kube-proxy",
                  daemonset_name="kube-proxy", key="config.conf"):
    """Compact kube-proxy facts of one cluster, from k8s_info's resources lists."""
    cm = _first(configmap)
    ds = _first(daemonset)
    mode, mode_note = configmap_mode(cm, key)
    version, image, version_note = daemonset_version(ds)
    node_kernels = {}
    for node in nodes or []:
        if not isinstance(node, dict):
            continue
        name = (node.get("metadata") or {}).get("name")
        kernel = ((node.get("status") or {}).get("nodeInfo") or {}).get("kernelVersion")
        if isinstance(name, str) and isinstance(kernel, str):
            node_kernels[name] = kernel
    return {
        "configured_mode": mode,
        "configured_mode_source": "ConfigMap %s/%s %s" % (namespace, configmap_name, key)
        + (" (%s)" % mode_note if mode_note and mode else ""),
        "version": version,
        "version_source": "DaemonSet %s/%s image %s" % (namespace, daemonset_name, image or "(none)"),
        "notes": [note for note in (None if mode else mode_note, version_note) if note],
        "node_kernels": node_kernels if nodes is not None else None,
    }


def _select(signals, field):
    chosen = next((s for s in signals if s.get(field)), None)
    if chosen is None:
        return None, None
    return chosen[field], "%s (%s)" % (chosen.get("signal"), chosen.get("source"))


def merge_cluster_facts(facts, cluster, node_name=None):
    """Feed the cluster's facts into one node's facts (in place); return the warnings for its classification."""
    warnings = []
    if not isinstance(cluster, dict) or not isinstance(facts, dict):
        return warnings
    proxy = facts.get("kube_proxy")
    if not isinstance(proxy, dict):
        proxy = facts["kube_proxy"] = {}
    signals = [s for s in (proxy.get("signals") or []) if isinstance(s, dict)]
    ahead = 0
    while ahead < len(signals) and signals[ahead].get("signal") in (EXPLICIT_SIGNAL, ENDPOINT_SIGNAL):
        ahead += 1
    mode = cluster.get("configured_mode")
    version = cluster.get("version")
    from_cluster = []
    if mode is not None:
        from_cluster.append({"signal": CONFIGMAP_SIGNAL, "mode": str(mode), "version": None,
                             "source": cluster.get("configured_mode_source")})
    if version is not None:
        from_cluster.append({"signal": DAEMONSET_SIGNAL, "mode": None, "version": str(version),
                             "source": cluster.get("version_source")})
    signals[ahead:ahead] = from_cluster
    proxy["signals"] = signals
    proxy["mode"], proxy["mode_source"] = _select(signals, "mode")
    proxy["version"], proxy["version_source"] = _select(signals, "version")

    explicit = next((s for s in signals if s.get("signal") == EXPLICIT_SIGNAL and s.get("mode")), None)
    if explicit is not None:
        # The operator's statement outranks the cluster for the next start too; say when they disagree.
        proxy["configured_mode"] = explicit["mode"]
        proxy["configured_mode_source"] = "%s (%s)" % (EXPLICIT_SIGNAL, explicit.get("source"))
        if mode is not None and str(mode).strip() != str(explicit["mode"]).strip():
            warnings.append("the cluster's %s says mode %s, the given proxy_mode %s is used"
                            % (cluster.get("configured_mode_source"), mode, explicit["mode"]))
    elif mode is not None:
        proxy["configured_mode"] = str(mode)
        proxy["configured_mode_source"] = cluster.get("configured_mode_source")
    for note in cluster.get("notes") or []:
        warnings.append("cluster: %s" % note)

    kernels = cluster.get("node_kernels")
    live = facts.get("live", facts.get("root") in ("/", ""))
    if isinstance(kernels, dict) and node_name and live:
        release = (facts.get("kernel") or {}).get("release")
        reported = kernels.get(node_name)
        if reported is None:
            warnings.append("the cluster has no Node named %s (set assess_node_name): kernel not cross-checked"
                            % node_name)
        elif release and reported != release:
            warnings.append("the cluster's Node %s reports kernel %s, the node shows %s: the node booted another "
                            "kernel since the kubelet last reported, or the Node name is not this host"
                            % (node_name, reported, release))
    facts["cluster"] = {"configured_mode": mode, "configured_mode_source": cluster.get("configured_mode_source"),
                        "version": version, "version_source": cluster.get("version_source")}
    return warnings
