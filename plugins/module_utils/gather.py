# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read what the classification needs from a node's file system (read-only, stdlib only).

Everything is read below ``root`` so the same code reads a live node ("/"), a
mounted golden image or a fixture tree. A missing or unreadable input is recorded
in ``missing`` with the reason; nothing here raises on bad content.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re

try:
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge as K
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.versions import parse_version
except ImportError:  # pragma: no cover - direct import from a checkout
    from . import knowledge as K  # type: ignore
    from .versions import parse_version  # type: ignore

MAX_READ = 256 * 1024
VS_SYSCTLS = ("conn_reuse_mode", "conntrack", "expire_nodest_conn", "expire_quiescent_template")
VS_MARKER_SYSCTLS = ("conn_reuse_old_conntrack",)
# systemd-sysctl order: same file name in an earlier directory wins; files run in name order.
SYSCTL_DIRS = ("etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d", "usr/lib/sysctl.d", "lib/sysctl.d")
KUBE_PROXY_UNIT_FILES = (
    "etc/systemd/system/kube-proxy.service", "usr/lib/systemd/system/kube-proxy.service",
    "lib/systemd/system/kube-proxy.service", "etc/systemd/system/kube-proxy.service.d/*.conf",
    "etc/sysconfig/kube-proxy", "etc/default/kube-proxy", "etc/kubernetes/proxy",
)
KUBE_PROXY_MANIFESTS = (
    "etc/kubernetes/manifests/kube-proxy.yaml",
    "var/lib/rancher/rke2/agent/pod-manifests/kube-proxy.yaml",
)
K3S_CONFIGS = (
    "etc/rancher/k3s/config.yaml", "etc/rancher/k3s/config.yaml.d/*.yaml",
    "etc/rancher/rke2/config.yaml", "etc/rancher/rke2/config.yaml.d/*.yaml",
)
KUBE_PROXY_POD_LOGS = "var/log/pods/kube-system_kube-proxy-*/kube-proxy/*.log"

_MODE_FLAG_RE = re.compile(r"""(?:--)?proxy-mode[= ]["']?([A-Za-z]*)""")
_CONFIG_FLAG_RE = re.compile(r"""--config[= ]["']?([^\s"']+)""")
_CONFIG_MODE_RE = re.compile(r"""^mode:[ \t]*["']?([A-Za-z]*)["']?[ \t]*(?:#.*)?$""", re.M)
_IMAGE_RE = re.compile(r"""image:\s*["']?\S*?(?:kube-proxy|hardened-kubernetes)[^:\s"']*:(v?\d+\.\d+\.\d+[^\s"']*)""")
_LOG_VERSION_RE = re.compile(r"""(?:Version: |"Version info" version=")(v?\d+\.\d+\.\d+[^"\s]*)""")
_LOG_MODE_RE = re.compile(r"""Using (ipvs|iptables|nftables|userspace|kernelspace) Proxier""")
_BUILD_INFO_RE = re.compile(r"""kubernetes_build_info\{[^}]*git_version="(v?\d+\.\d+\.\d+[^"]*)\"""")
_UPSTREAM_RE = re.compile(r"""(?:Debian|Ubuntu[^ ]* \S+) (\d+\.\d+\.\d+)""")


class NodeRoot:
    """Reads files below a root directory and remembers what could not be read."""

    def __init__(self, root):
        self.root = root or "/"
        self.missing = []

    def path(self, relative):
        return os.path.join(self.root, relative.lstrip("/"))

    def _inside(self, relative):
        """Resolve absolute symlinks against the root (a mounted image's /etc/x -> /usr/x)."""
        path = self.path(relative)
        for _hop in range(8):
            if not os.path.islink(path):
                break
            target = os.readlink(path)
            if os.path.isabs(target):
                path = self.path(target)
            else:
                path = os.path.normpath(os.path.join(os.path.dirname(path), target))
        return path

    def exists(self, relative):
        return os.path.exists(self._inside(relative))

    def glob(self, pattern):
        root_len = len(self.path(""))
        return sorted(found[root_len:] for found in glob.glob(self.path(pattern)))

    def read(self, relative, what=None, required=True, limit=MAX_READ):
        """Return the text of a file, or None (recording why when required)."""
        try:
            with open(self._inside(relative), "rb") as handle:
                data = handle.read(limit)
        except (IOError, OSError) as exc:
            if required:
                reason = "missing" if getattr(exc, "errno", None) == 2 else (exc.strerror or str(exc))
                self.missing.append({"item": what or relative, "path": "/" + relative.lstrip("/"),
                                     "reason": reason})
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.missing.append({"item": what or relative, "path": "/" + relative.lstrip("/"),
                                 "reason": "not UTF-8 text"})
            return None

    def read_int(self, relative, what):
        text = self.read(relative, what)
        if text is None:
            return None, self.missing[-1]["reason"]
        value = text.strip()
        if not re.match(r"^-?\d{1,9}$", value):
            reason = "not an integer: %r" % value[:40]
            self.missing.append({"item": what, "path": "/" + relative, "reason": reason})
            return None, reason
        return int(value), None


def gather_kernel(node):
    release_text = node.read("proc/sys/kernel/osrelease", "kernel release")
    release = release_text.strip() if release_text else None
    version = parse_version(release)
    if release_text is not None and version is None:
        node.missing.append({"item": "kernel release", "path": "/proc/sys/kernel/osrelease",
                             "reason": "not a kernel version: %r" % (release or "")[:40]})
    build = node.read("proc/sys/kernel/version", "kernel build", required=False) or ""
    signature = node.read("proc/version_signature", "kernel signature", required=False) or ""
    upstream = _UPSTREAM_RE.search(signature + " " + build)
    return {
        "release": release,
        "version": list(version) if version else None,
        "build": build.strip() or None,
        "upstream_version": upstream.group(1) if upstream else None,
        "source": "/proc/sys/kernel/osrelease",
    }


def gather_os(node):
    text = node.read("etc/os-release", "os-release", required=False)
    source = "/etc/os-release"
    if text is None:
        text = node.read("usr/lib/os-release", "os-release")
        source = "/usr/lib/os-release"
    values = {}
    for line in (text or "").splitlines():
        match = re.match(r"""^([A-Z_]+)=["']?(.*?)["']?\s*$""", line)
        if match:
            values[match.group(1)] = match.group(2)
    return {"id": values.get("ID"), "version_id": values.get("VERSION_ID"),
            "pretty_name": values.get("PRETTY_NAME"), "source": source if text is not None else None}


def gather_ipvs(node):
    modules = node.read("proc/modules", "loaded modules", required=False)
    loaded = None
    if modules is not None:
        loaded = any(line.split(" ", 1)[0] == "ip_vs" for line in modules.splitlines())
    sysctl_dir = os.path.isdir(node.path("proc/sys/net/ipv4/vs"))
    if sysctl_dir and loaded is None:
        loaded = True  # ip_vs built in, or no proc/modules in an offline root
    table = node.read("proc/net/ip_vs", "IPVS table", required=False)
    services = None
    if table is not None:
        services = sum(1 for line in table.splitlines() if re.match(r"^(TCP|UDP|SCTP|FWM)\s", line))
    return {"loaded": loaded, "sysctl_dir": sysctl_dir, "virtual_services": services,
            "kube_ipvs0": os.path.exists(node.path("sys/class/net/kube-ipvs0")) or None}


def gather_sysctls(node):
    values, errors = {}, {}
    if not os.path.isdir(node.path("proc/sys/net/ipv4/vs")):
        node.missing.append({"item": "IPVS sysctls", "path": "/proc/sys/net/ipv4/vs",
                             "reason": "missing (ip_vs not loaded)"})
        return dict((name, None) for name in VS_SYSCTLS + VS_MARKER_SYSCTLS), {}
    for name in VS_SYSCTLS:
        values[name], error = node.read_int("proc/sys/net/ipv4/vs/" + name, "net.ipv4.vs." + name)
        if error:
            errors[name] = error
    for name in VS_MARKER_SYSCTLS:
        relative = "proc/sys/net/ipv4/vs/" + name
        values[name] = node.read_int(relative, "net.ipv4.vs." + name)[0] if node.exists(relative) else None
    return values, errors


def sysctl_files(node):
    """The files systemd-sysctl would apply, in order."""
    chosen = {}
    for directory in SYSCTL_DIRS:
        for relative in node.glob(directory + "/*.conf"):
            chosen.setdefault(os.path.basename(relative), relative)
    ordered = [chosen[name] for name in sorted(chosen)]
    if node.exists("etc/sysctl.conf") and not any(
            os.path.realpath(node._inside(path)) == os.path.realpath(node.path("etc/sysctl.conf"))
            for path in ordered):
        ordered.append("etc/sysctl.conf")
    return ordered


def gather_persisted(node):
    """net.ipv4.vs.* as a reboot would restore them: the last assignment wins."""
    persisted = {}
    for relative in sysctl_files(node):
        text = node.read(relative, "sysctl file")
        for line in (text or "").splitlines():
            match = re.match(r"^\s*-?\s*net[./]ipv4[./]vs[./]([a-z_]+)\s*=\s*(\S*)\s*$", line)
            if match:
                persisted[match.group(1)] = {"value": match.group(2), "file": "/" + relative}
    return persisted


def gather_pin(node):
    value = None
    text = node.read(K.PIN_SYSCTL_FILE, "pin file", required=False)
    if text:
        match = re.search(r"^\s*net\.ipv4\.vs\.conn_reuse_mode\s*=\s*(\d+)\s*$", text, re.M)
        value = int(match.group(1)) if match else None
    return {"file": K.PIN_SYSCTL_FILE if text is not None else None, "value": value,
            "keeper": node.exists(K.PIN_KEEPER_UNIT)}


def _config_mode(node, path, signals, via):
    text = node.read(path, "kube-proxy config file")
    if text is None:
        return
    match = _CONFIG_MODE_RE.search(text)
    if match:
        signals.append({"signal": "kube-proxy config file (%s)" % via, "mode": match.group(1) or "iptables",
                        "version": None, "source": path})


def gather_process(node, signals):
    for relative in node.glob("proc/[0-9]*/cmdline"):
        raw = node.read(relative, required=False)
        if not raw:
            continue
        argv = [arg for arg in raw.split("\0") if arg]
        if not argv or os.path.basename(argv[0]) != "kube-proxy":
            continue
        line = " ".join(argv)
        mode = _MODE_FLAG_RE.search(line)
        signals.append({"signal": "kube-proxy process flags", "mode": mode.group(1) if mode else None,
                        "version": None, "source": "/" + relative})
        config = _CONFIG_FLAG_RE.search(line)
        if config:
            _config_mode(node, config.group(1), signals, "--config of the running process")
        return


def gather_units(node, signals):
    for pattern in KUBE_PROXY_UNIT_FILES:
        for relative in node.glob(pattern):
            text = node.read(relative, "kube-proxy unit") or ""
            mode = _MODE_FLAG_RE.search(text)
            if mode:
                signals.append({"signal": "kube-proxy service flags", "mode": mode.group(1), "version": None,
                                "source": "/" + relative})
            config = _CONFIG_FLAG_RE.search(text)
            if config:
                _config_mode(node, config.group(1), signals, "--config of the service")


def gather_manifests(node, signals):
    for relative in KUBE_PROXY_MANIFESTS:
        text = node.read(relative, "kube-proxy static pod", required=False)
        if text is None:
            continue
        mode = _MODE_FLAG_RE.search(text)
        image = _IMAGE_RE.search(text)
        signals.append({"signal": "kube-proxy static pod manifest", "mode": mode.group(1) if mode else None,
                        "version": image.group(1) if image else None, "source": "/" + relative})


def gather_k3s(node, signals):
    for pattern in K3S_CONFIGS:
        for relative in node.glob(pattern):
            text = node.read(relative, "k3s/RKE2 config") or ""
            mode = _MODE_FLAG_RE.search(text)
            if mode:
                signals.append({"signal": "k3s/RKE2 kube-proxy-arg", "mode": mode.group(1), "version": None,
                                "source": "/" + relative})


def gather_pod_logs(node, signals):
    logs = node.glob(KUBE_PROXY_POD_LOGS)
    if not logs:
        return
    newest = max(logs, key=lambda relative: os.path.getmtime(node.path(relative)))
    text = node.read(newest, "kube-proxy pod log") or ""
    mode = _LOG_MODE_RE.search(text)
    version = _LOG_VERSION_RE.search(text)
    if mode or version:
        signals.append({"signal": "kube-proxy pod log", "mode": mode.group(1) if mode else None,
                        "version": version.group(1) if version else None, "source": "/" + newest})


def gather_endpoint(metrics_url, http_get, signals, missing):
    """The live kube-proxy metrics endpoint: /proxyMode and kubernetes_build_info."""
    base = metrics_url.rstrip("/")
    mode_text = http_get(base + "/proxyMode")
    if mode_text is None:
        missing.append({"item": "kube-proxy /proxyMode", "path": base + "/proxyMode",
                        "reason": "no answer (kube-proxy not running, or metrics bound elsewhere)"})
        return
    metrics = http_get(base + "/metrics") or ""
    version = _BUILD_INFO_RE.search(metrics)
    mode = mode_text.strip()
    signals.append({"signal": "kube-proxy /proxyMode endpoint",
                    "mode": mode if re.match(r"^[a-z]+$", mode) else None,
                    "version": version.group(1) if version else None, "source": base + "/proxyMode"})


def gather(root="/", proxy_mode=None, kube_proxy_version=None, metrics_url=None, http_get=None):
    """Gather the ipvs_reuse facts of one node."""
    node = NodeRoot(root)
    signals = []
    if proxy_mode or kube_proxy_version:
        signals.append({"signal": "given by the caller", "mode": proxy_mode or None,
                        "version": kube_proxy_version or None, "source": "module options"})
    if root in ("/", "") and metrics_url and http_get is not None:
        gather_endpoint(metrics_url, http_get, signals, node.missing)
    gather_process(node, signals)
    gather_units(node, signals)
    gather_manifests(node, signals)
    gather_k3s(node, signals)
    gather_pod_logs(node, signals)

    mode_signal = next((signal for signal in signals if signal["mode"]), None)
    version_signal = next((signal for signal in signals if signal["version"]), None)
    sysctl, sysctl_errors = gather_sysctls(node)
    facts = {
        "schema": 1,
        "root": root,
        "kernel": gather_kernel(node),
        "os": gather_os(node),
        "ipvs": gather_ipvs(node),
        "sysctl": sysctl,
        "sysctl_errors": sysctl_errors,
        "persisted": gather_persisted(node),
        "pin": gather_pin(node),
        "kube_proxy": {
            "mode": mode_signal["mode"] if mode_signal else None,
            "mode_source": ("%s (%s)" % (mode_signal["signal"], mode_signal["source"])) if mode_signal else None,
            "version": version_signal["version"] if version_signal else None,
            "version_source": ("%s (%s)" % (version_signal["signal"], version_signal["source"]))
            if version_signal else None,
            "signals": signals,
        },
    }
    facts["missing"] = node.missing
    return facts
