# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read what the classification needs from a node's file system (read-only, stdlib only).

Everything is read below ``root`` so the same code reads a live node ("/"), a
mounted golden image or a fixture tree. A missing or unreadable input is recorded
in ``missing`` with the reason; nothing here raises on bad content.

Root confinement: paths are walked one component at a time with ``os.open(...,
dir_fd=...)`` and ``O_NOFOLLOW`` (openat semantics), never handed to the kernel
whole. A symlink met on the way is read with ``readlink(dir_fd=...)`` and spliced
into the remaining path: an absolute target restarts at ``root`` (a mounted
image's ``/etc/x -> /usr/x``), ``..`` pops one directory, and popping above
``root`` reports the path as "outside the root" without reading it. Because each
step opens the component itself with ``O_NOFOLLOW``, a component swapped for a
symlink between the check and the open fails the open instead of escaping (no
check-then-use race, unlike realpath plus a prefix check). At most
``MAX_LINKS`` symlinks are followed per path. On the live node (``root=/``)
``..`` above ``/`` stays at ``/``, as the kernel does.

Bounds: files are opened with ``O_NONBLOCK`` and ``fstat``-ed; only regular files
are read (procfs/sysfs entries are regular), at most ``MAX_READ`` bytes; FIFOs,
sockets, devices and directories are reported. Every parser is a single pass over
bounded lines (no backtracking regular expressions). The whole gather has a
deadline; past it the facts carry ``gather_error``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fnmatch
import os
import re
import stat
import time
import zlib

try:
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.versions import parse_version
except ImportError:  # pragma: no cover - direct import from a checkout
    from . import knowledge  # type: ignore
    from .versions import parse_version  # type: ignore

MAX_READ = 256 * 1024
MAX_SMALL_READ = 4096          # single-value files (osrelease, version, sysctls)
MAX_LINE = 4096                # longer lines are cut before any parsing
MAX_LINKS = 40                 # symlinks followed per path (the kernel's own limit)
MAX_GLOB = 4096                # directory entries considered per glob step
MAX_GUNZIP = 64 * 1024         # bytes decompressed from a changelog.gz
DEFAULT_DEADLINE = 15.0
VS_SYSCTLS = ("conn_reuse_mode", "conntrack", "expire_nodest_conn", "expire_quiescent_template")
VS_MARKER_SYSCTLS = ("conn_reuse_old_conntrack",)
# systemd-sysctl order: same file name in an earlier directory wins; files run in name order.
SYSCTL_DIRS = ("etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d", "usr/lib/sysctl.d", "lib/sysctl.d")
KUBE_PROXY_UNIT_FILES = (
    "etc/systemd/system/kube-proxy.service", "usr/lib/systemd/system/kube-proxy.service",
    "lib/systemd/system/kube-proxy.service",
)
KUBE_PROXY_DROPIN_DIRS = ("etc/systemd/system/kube-proxy.service.d", "run/systemd/system/kube-proxy.service.d",
                          "usr/lib/systemd/system/kube-proxy.service.d", "lib/systemd/system/kube-proxy.service.d")
KUBE_PROXY_FLAG_FILES = ("etc/sysconfig/kube-proxy", "etc/default/kube-proxy", "etc/kubernetes/proxy")
KUBE_PROXY_MANIFESTS = (
    "etc/kubernetes/manifests/kube-proxy.yaml",
    "var/lib/rancher/rke2/agent/pod-manifests/kube-proxy.yaml",
)
K3S_CONFIGS = (
    "etc/rancher/k3s/config.yaml", "etc/rancher/k3s/config.yaml.d/*.yaml",
    "etc/rancher/rke2/config.yaml", "etc/rancher/rke2/config.yaml.d/*.yaml",
)
KUBE_PROXY_POD_LOGS = "var/log/pods/kube-system_kube-proxy-*/kube-proxy/*.log"

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_VERSION_TOKEN_RE = re.compile(r"v?\d{1,4}\.\d{1,4}\.\d{1,6}[0-9A-Za-z.+_~-]{0,80}")
_LOG_MODE_RE = re.compile(r"Using (ipvs|iptables|nftables|userspace|kernelspace) Proxier")
_UPSTREAM_TOKEN_RE = re.compile(r"\d{1,4}\.\d{1,4}\.\d{1,6}")


class GatherTimeout(Exception):
    """The whole-gather deadline passed."""


class Outside(Exception):
    """The path leaves the root."""


def _has_control(text):
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


def _lines(text):
    """Lines cut to MAX_LINE characters (bounds the work any per-line parse can do)."""
    for line in text.splitlines():
        yield line[:MAX_LINE]


def _uncommented(text, markers="#"):
    """Lines with comments removed: whole-line comments dropped, ' #' trailing comments cut."""
    for line in _lines(text):
        stripped = line.strip()
        if not stripped or stripped[0] in markers or stripped[0] == ";":
            continue
        cut = line.find(" #")
        yield line[:cut] if cut >= 0 else line


def _version_token(text):
    match = _VERSION_TOKEN_RE.match(text)
    return match.group(0) if match else None


class NodeRoot:
    """Reads files below a root directory and remembers what could not be read."""

    def __init__(self, root, deadline=None):
        self.root = root or "/"
        self.live_root = os.path.realpath(self.root) == "/"
        self.missing = []
        self.deadline = deadline

    def check_deadline(self):
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise GatherTimeout()

    def path(self, relative):
        return os.path.join(self.root, relative.lstrip("/"))

    def _note(self, what, relative, reason):
        self.missing.append({"item": what or relative, "path": "/" + relative.lstrip("/"), "reason": reason})

    # -- confined walking ---------------------------------------------------------------------
    def _open_root(self):
        return os.open(self.root, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)

    def _walk(self, relative, final_flags, base=None):
        """Open ``relative`` below the root component by component; return an fd (caller closes).

        ``base`` is an optional relative directory (inside the root) that acts as the root
        for absolute symlinks and ``..`` (a process's /proc/<pid>/root in an offline tree).
        Raises Outside, or OSError (ELOOP for a swapped or too long chain)."""
        self.check_deadline()
        if base is not None:
            stack = [self._walk(base, os.O_RDONLY | _O_DIRECTORY)]
        else:
            stack = [self._open_root()]
        top = 0
        try:
            parts = [part for part in relative.split("/") if part not in ("", ".")]
            parts.reverse()  # a stack: pop() gives the next component
            links = 0
            while parts:
                name = parts.pop()
                if name == "..":
                    if len(stack) - 1 == top:
                        if self.live_root and base is None:
                            continue
                        raise Outside()
                    os.close(stack.pop())
                    continue
                try:
                    target = os.readlink(name, dir_fd=stack[-1])
                except OSError as exc:
                    if exc.errno != errno.EINVAL:  # EINVAL: not a symlink; anything else is the answer
                        raise
                    target = None
                if target is not None:
                    links += 1
                    if links > MAX_LINKS:
                        raise OSError(errno.ELOOP, "too many levels of symbolic links")
                    if target.startswith("/"):
                        while len(stack) - 1 > top:
                            os.close(stack.pop())
                    parts.extend(reversed([part for part in target.split("/") if part not in ("", ".")]))
                    continue
                flags = (final_flags if not parts else os.O_RDONLY | _O_DIRECTORY) | _O_NOFOLLOW | _O_CLOEXEC
                stack.append(os.open(name, flags, dir_fd=stack[-1]))
            if len(stack) == 1:
                return os.dup(stack[0])
            return stack.pop()
        finally:
            for fd in stack:
                os.close(fd)

    def _try_walk(self, relative, final_flags, what, required):
        try:
            return self._walk(relative, final_flags)
        except Outside:
            self._note(what, relative, "outside the root (not read)")
        except (IOError, OSError) as exc:
            if required:
                code = getattr(exc, "errno", None)
                if code == errno.ENOENT:
                    reason = "missing"
                elif code == errno.ELOOP:
                    reason = "symbolic link loop or too many links"
                else:
                    reason = exc.strerror or str(exc)
                self._note(what, relative, reason)
        return None

    def exists(self, relative):
        try:
            os.close(self._walk(relative, os.O_RDONLY | _O_NONBLOCK))
            return True
        except (Outside, OSError):
            return False

    def isdir(self, relative):
        try:
            os.close(self._walk(relative, os.O_RDONLY | _O_DIRECTORY))
            return True
        except (Outside, OSError):
            return False

    def listdir(self, relative):
        try:
            fd = self._walk(relative, os.O_RDONLY | _O_DIRECTORY)
        except (Outside, OSError):
            return []
        try:
            names = []
            with os.scandir(fd) as entries:
                for entry in entries:
                    names.append(entry.name)
                    if len(names) >= MAX_GLOB:
                        break
            return sorted(names)
        except OSError:
            return []
        finally:
            os.close(fd)

    def glob(self, pattern):
        """Relative paths matching ``pattern`` (fnmatch per component), every directory walked confined."""
        found = [""]
        for part in [piece for piece in pattern.split("/") if piece]:
            self.check_deadline()
            following = []
            for prefix in found:
                if any(char in part for char in "*?["):
                    names = [name for name in self.listdir(prefix or ".")
                             if not name.startswith(".") and fnmatch.fnmatchcase(name, part)]
                else:
                    names = [part]
                following.extend((prefix + "/" + name) if prefix else name for name in names)
            found = following[:MAX_GLOB]
        return sorted(relative for relative in found if self.exists(relative))

    def mtime(self, relative):
        try:
            fd = self._walk(relative, os.O_RDONLY | _O_NONBLOCK)
        except (Outside, OSError):
            return None
        try:
            return os.fstat(fd).st_mtime
        finally:
            os.close(fd)

    def link_target(self, relative):
        """readlink of the last component (inside the root), or None."""
        head, _sep, name = relative.strip("/").rpartition("/")
        try:
            fd = self._walk(head or ".", os.O_RDONLY | _O_DIRECTORY)
        except (Outside, OSError):
            return None
        try:
            return os.readlink(name, dir_fd=fd)
        except OSError:
            return None
        finally:
            os.close(fd)

    def read_bytes(self, relative, what=None, required=True, limit=MAX_READ, base=None):
        """Return at most ``limit`` bytes of a regular file, or None (recording why when required)."""
        try:
            fd = self._walk(relative, os.O_RDONLY | _O_NONBLOCK, base=base)
        except Outside:
            self._note(what, relative, "outside the root (not read)")
            return None
        except (IOError, OSError) as exc:
            if required:
                code = getattr(exc, "errno", None)
                reason = {errno.ENOENT: "missing", errno.ELOOP: "symbolic link loop or too many links",
                          errno.ENXIO: "not a regular file (socket or FIFO)"}.get(code, exc.strerror or str(exc))
                self._note(what, relative, reason)
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                self._note(what, relative, "not a regular file (%s), not read" % _file_kind(info.st_mode))
                return None
            chunks, left = [], limit
            while left > 0:
                self.check_deadline()
                chunk = os.read(fd, min(left, 65536))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        except (IOError, OSError) as exc:
            if exc.errno == errno.EAGAIN:
                self._note(what, relative, "would block, not read")
            else:
                self._note(what, relative, exc.strerror or str(exc))
            return None
        finally:
            os.close(fd)

    def read(self, relative, what=None, required=True, limit=MAX_READ, base=None):
        """Return the text of a file, or None (recording why when required)."""
        data = self.read_bytes(relative, what, required, limit, base)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self._note(what, relative, "not UTF-8 text")
            return None

    def read_value(self, relative, what, required=True):
        """A single-value file, trimmed; control characters make it malformed (never returned)."""
        text = self.read(relative, what, required, limit=MAX_SMALL_READ)
        if text is None:
            return None
        value = text.strip()
        if _has_control(value):
            self._note(what, relative, "malformed: contains NUL or control characters")
            return None
        return value

    def read_int(self, relative, what):
        text = self.read(relative, what, limit=MAX_SMALL_READ)
        if text is None:
            return None, self.missing[-1]["reason"] if self.missing else "unreadable"
        value = text.strip()
        if not (value.isdigit() and value.isascii() and len(value) <= 9):
            reason = "malformed: not a non-negative integer (%d characters)" % len(value) \
                if _has_control(value) else "malformed: not a non-negative integer: %r" % value[:40]
            self._note(what, relative, reason)
            return None, reason
        return int(value), None


def _file_kind(mode):
    for test, name in ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def _release_key(release):
    """Sort key for kernel releases: numeric runs compare as numbers."""
    key = []
    for piece in re.findall(r"\d{1,9}|[^\d]{1,64}", release[:200]):
        key.append((0, int(piece), "") if piece.isdigit() else (1, 0, piece))
    return key


def _upstream_from_text(text):
    """'#1 SMP Debian 5.10.209-2' / 'Ubuntu 5.4.0-150.167-generic 5.4.231' -> upstream version (token scan)."""
    tokens = text.split()[:200]
    for index, token in enumerate(tokens):
        if token == "Debian" and index + 1 < len(tokens):
            match = _UPSTREAM_TOKEN_RE.match(tokens[index + 1])
            if match:
                return match.group(0)
        if token.startswith("Ubuntu") and index + 2 < len(tokens):
            match = _UPSTREAM_TOKEN_RE.match(tokens[index + 2])
            if match and match.end() == len(tokens[index + 2]):
                return match.group(0)
    return None


def _offline_kernel(node):
    """The kernel an image boots: /boot/vmlinuz-<rel> and /lib/modules/<rel>."""
    boot = set(name[len("vmlinuz-"):] for name in node.listdir("boot") if name.startswith("vmlinuz-"))
    modules = set(name for name in node.listdir("lib/modules") if node.isdir("lib/modules/" + name))
    installed = sorted(boot | modules, key=_release_key)
    installed = [release for release in installed if release and not _has_control(release)]
    if not installed:
        return None, installed, "missing: no live /proc/sys/kernel/osrelease and no kernel in /boot or /lib/modules"
    for link in ("vmlinuz", "boot/vmlinuz"):
        target = node.link_target(link)
        if target:
            name = target.rstrip("/").rpartition("/")[2]
            release = name[len("vmlinuz-"):] if name.startswith("vmlinuz-") else None
            if release in installed:
                return release, installed, "the kernel the /%s link names (%s)" % (link, target)
    release = installed[-1]
    if len(installed) == 1:
        return release, installed, "the only kernel installed"
    return release, installed, "the newest of %d installed kernels (no /vmlinuz link names one)" % len(installed)


def _config_facts(text):
    """One pass over /boot/config-<release>: (CONFIG_IP_VS, upstream from CONFIG_VERSION_SIGNATURE, upstream from
    the Kconfig header).

    Ubuntu's build writes CONFIG_VERSION_SIGNATURE="Ubuntu 5.4.0-150.167-generic 5.4.231" (the text of
    /proc/version_signature) and names the release, not the upstream version, in the header ('# Linux/x86
    5.4.0-150-generic Kernel Configuration'); Debian's header names it ('# Linux/x86 6.1.176 Kernel Configuration').
    A header token counts only when it is a plain version as a whole. CONFIG_IP_VS is "n" only where the file says
    so or was read to its end without the option (a cut-off read leaves it unknown)."""
    ip_vs = signature = header = None
    for index, line in enumerate(_lines(text)):
        if index < 5 and header is None:
            words = line.split()
            if len(words) >= 4 and words[0] == "#" and words[1].startswith("Linux") and words[3] == "Kernel":
                match = _UPSTREAM_TOKEN_RE.match(words[2])
                header = match.group(0) if match and match.end() == len(words[2]) else None
        if signature is None and line.startswith("CONFIG_VERSION_SIGNATURE="):
            signature = _upstream_from_text(line.partition("=")[2].strip().strip("\"'")) or ""
        elif ip_vs is None and line.startswith("CONFIG_IP_VS="):
            ip_vs = line.partition("=")[2].strip()[:8]
        elif ip_vs is None and line.strip() == "# CONFIG_IP_VS is not set":
            ip_vs = "n"
        if ip_vs is not None and signature is not None:
            break
    if ip_vs is None and len(text) < MAX_READ:
        ip_vs = "n"
    return ip_vs, signature or None, header


def _changelog_upstream(data):
    """First line of a changelog.gz: 'linux-signed-amd64 (6.1.176+1) bookworm-security' -> '6.1.176'."""
    try:
        head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, MAX_GUNZIP)
    except zlib.error:
        return None
    line = head.split(b"\n", 1)[0][:MAX_LINE].decode("utf-8", "replace")
    start, end = line.find("("), line.find(")")
    if 0 <= start < end:
        match = _UPSTREAM_TOKEN_RE.match(line[start + 1:end])
        if match:
            return match.group(0)
    return None


# Where a distribution's package files name the upstream version that the release string hides, in order. Debian
# calls the linux-image changelog changelog.gz, Ubuntu changelog.Debian.gz.
KERNEL_CHANGELOGS = ("usr/share/doc/linux-image-%s/changelog.gz", "usr/share/doc/linux-image-%s/changelog.Debian.gz")


def _kernel_files(node, release, version, want_upstream):
    """(config_ip_vs, upstream, upstream_source) from the kernel's own files below the root (an image's only
    source of the upstream version; a live node's where /proc names none).

    A candidate equal to the release's own numbers tells nothing (Ubuntu's package version 5.4.0-150.167 of
    release 5.4.0-150-generic): it is skipped and the next source asked."""
    def telling(candidate):
        return candidate if candidate and parse_version(candidate) != version else None

    config_ip_vs = None
    config = node.read("boot/config-" + release, "kernel config", required=False)
    if config is not None:
        config_ip_vs, signature, header = _config_facts(config)
        if not want_upstream:
            return config_ip_vs, None, None
        if telling(signature):
            return config_ip_vs, signature, "/boot/config-%s (CONFIG_VERSION_SIGNATURE)" % release
        if telling(header):
            return config_ip_vs, header, "/boot/config-" + release
    for pattern in KERNEL_CHANGELOGS if want_upstream else ():
        changelog = pattern % release
        data = node.read_bytes(changelog, "kernel changelog", required=False, limit=MAX_READ)
        upstream = telling(_changelog_upstream(data)) if data else None
        if upstream:
            return config_ip_vs, upstream, "/" + changelog
    return config_ip_vs, None, None


def gather_kernel(node, live):
    if live:
        release = node.read_value("proc/sys/kernel/osrelease", "kernel release")
        source, installed, selection = "/proc/sys/kernel/osrelease", None, "the running kernel"
    else:
        release, installed, selection = _offline_kernel(node)
        source = None
        if release is not None:
            source = "/boot/vmlinuz-" + release
            if not node.exists("boot/vmlinuz-" + release):  # /boot not mounted: only the modules show it
                source = "/lib/modules/" + release
        if release is None:
            node._note("kernel release", "boot", selection)
    version = parse_version(release) if release and len(release) <= 256 else None
    if release is not None and version is None:
        node._note("kernel release", source.lstrip("/"), "malformed: not a kernel version: %r" % release[:40])
        release = None
    build = signature = ""
    if live:
        build = node.read_value("proc/sys/kernel/version", "kernel build", required=False) or ""
        signature = node.read_value("proc/version_signature", "kernel signature", required=False) or ""
    upstream = _upstream_from_text(signature + " " + build)
    upstream_source = None
    if upstream:
        upstream_source = "/proc/version_signature" if _upstream_from_text(signature) else "/proc/sys/kernel/version"
    config_ip_vs = None
    if release:
        config_ip_vs, file_upstream, file_source = _kernel_files(node, release, version, upstream is None)
        if upstream is None:
            upstream, upstream_source = file_upstream, file_source
    return {
        "release": release,
        "version": list(version) if version else None,
        "build": build or None,
        "upstream_version": upstream,
        "upstream_source": upstream_source,
        "source": source,
        "installed": installed,
        "selection": selection,
        "config_ip_vs": config_ip_vs,
    }


def _os_value(raw):
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value


def gather_os(node):
    text = node.read("etc/os-release", "os-release", required=False, limit=MAX_SMALL_READ * 4)
    source = "/etc/os-release"
    if text is None:
        text = node.read("usr/lib/os-release", "os-release", limit=MAX_SMALL_READ * 4)
        source = "/usr/lib/os-release"
    values = {}
    for line in _lines(text or ""):
        key, sep, raw = line.partition("=")
        if sep and key and all(char.isupper() or char == "_" for char in key) and key.isascii():
            value = _os_value(raw)
            if _has_control(value):
                node._note("os-release " + key, source.lstrip("/"), "malformed: contains NUL or control characters")
                continue
            values[key] = value
    return {"id": values.get("ID"), "version_id": values.get("VERSION_ID"),
            "pretty_name": values.get("PRETTY_NAME"), "source": source if text is not None else None}


def gather_ipvs(node, kernel):
    modules = node.read("proc/modules", "loaded modules", required=False)
    loaded = None
    if modules is not None:
        loaded = any(line.split(" ", 1)[0] == "ip_vs" for line in _lines(modules))
    sysctl_dir = node.isdir("proc/sys/net/ipv4/vs")
    if sysctl_dir and loaded is None:
        loaded = True  # ip_vs built in, or no proc/modules in an offline root
    table = node.read("proc/net/ip_vs", "IPVS table", required=False)
    services = None
    if table is not None:
        services = sum(1 for line in _lines(table) if line.split(" ", 1)[0] in ("TCP", "UDP", "SCTP", "FWM"))
    built = {"y": "built in", "m": "module", "n": "not built"}.get(kernel.get("config_ip_vs") or "")
    return {"loaded": loaded, "sysctl_dir": sysctl_dir, "virtual_services": services,
            "kube_ipvs0": node.exists("sys/class/net/kube-ipvs0") or None, "built": built}


def gather_sysctls(node, live):
    values, errors = {}, {}
    if not node.isdir("proc/sys/net/ipv4/vs"):
        reason = "missing (ip_vs not loaded)" if live else "offline image: no live values (boot-time values below)"
        node._note("IPVS sysctls", "proc/sys/net/ipv4/vs", reason)
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
            chosen.setdefault(relative.rpartition("/")[2], relative)
    ordered = [chosen[name] for name in sorted(chosen)]
    if node.exists("etc/sysctl.conf") and "etc/sysctl.conf" not in ordered:
        ordered.append("etc/sysctl.conf")
    return ordered


def _sysctl_assignment(line):
    """'net.ipv4.vs.conn_reuse_mode = 1' (or '-net/ipv4/vs/x=1') -> ('conn_reuse_mode', '1'), else None."""
    stripped = line.strip()
    if stripped.startswith("-"):
        stripped = stripped[1:].lstrip()
    key, sep, value = stripped.partition("=")
    key = key.strip().replace("/", ".")
    if not sep or not key.startswith("net.ipv4.vs."):
        return None
    name = key[len("net.ipv4.vs."):]
    value = value.strip()
    if not name or not all("a" <= char <= "z" or char == "_" for char in name) or " " in value:
        return None
    return name, value


def gather_persisted(node):
    """net.ipv4.vs.* as a reboot would restore them: the last assignment wins."""
    persisted = {}
    for relative in sysctl_files(node):
        text = node.read(relative, "sysctl file")
        for line in _uncommented(text or "", "#;"):
            assignment = _sysctl_assignment(line)
            if assignment:
                name, value = assignment
                if _has_control(value):
                    node._note("net.ipv4.vs." + name, relative, "malformed: contains NUL or control characters")
                    continue
                persisted[name] = {"value": value, "file": "/" + relative}
    return persisted


def gather_pin(node):
    value = None
    text = node.read(knowledge.PIN_SYSCTL_FILE, "pin file", required=False)
    for line in _uncommented(text or "", "#;"):
        assignment = _sysctl_assignment(line)
        if assignment and assignment[0] == "conn_reuse_mode" and assignment[1].isdigit() and len(assignment[1]) < 4:
            value = int(assignment[1])
    return {"file": knowledge.PIN_SYSCTL_FILE if text is not None else None, "value": value,
            "keeper": node.exists(knowledge.PIN_KEEPER_UNIT)}


# -- kube-proxy signals ---------------------------------------------------------------------------
def _clean_mode(raw):
    """A mode as written (trimmed, quotes removed); the engine validates it. None only when absent."""
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].strip()
    if _has_control(value):
        return "<malformed: control characters>"
    return value[:64]


def _flag_values(words, flag):
    """Values of --flag=value / --flag value / flag=value (k3s kube-proxy-arg) in a word list; the last wins."""
    found = None
    for index, word in enumerate(words):
        word = word.strip("\"'")
        bare = word.lstrip("-")
        if bare == flag and word.startswith("--") and index + 1 < len(words):
            found = words[index + 1].strip("\"'")
        elif bare.startswith(flag + "=") and (word.startswith("--") or word == bare):
            found = bare[len(flag) + 1:].strip("\"'")
    return found


def _words(line):
    return line.replace("\\", " ").split()


def _exec_starts(text):
    """The ExecStart= values of a unit file in order, continuation lines joined."""
    logical, pending = [], ""
    for line in _uncommented(text, "#;"):
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    if pending:
        logical.append(pending)
    values = []
    for line in logical:
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() == "ExecStart":
            values.append(value)
    return values


def _exec_start_words(text):
    """Words of the effective ExecStart (systemd: an empty ExecStart= resets, the last one wins)."""
    values = _exec_starts(text)
    return _words(values[-1]) if values and values[-1].strip() else []


def _yaml_scalar(text, key):
    """The value of a top-level ``key:`` line (comments ignored); last one wins; None when absent."""
    found = None
    for line in _uncommented(text):
        if not line.startswith(key + ":"):
            continue
        value = line[len(key) + 1:]
        found = _clean_mode(value)
    return found


# A reader yields one reading per place it found kube-proxy's mode or version. Its row in SIGNAL_SOURCES gives
# the signal's name and the kind of file the mode is set in; a reading overrides them for a file met on the way
# (the --config file a unit names). "file" is the path of the file that sets the mode, when there is one.
def _reading(mode, version, source, file_path=None, **row_overrides):
    reading = {"mode": _clean_mode(mode) if mode is not None else None, "version": version, "source": source,
               "file": file_path}
    reading.update(row_overrides)
    return reading


def _config_reading(node, path, via, base=None, sets_mode_in="config_file"):
    """The mode: line of a KubeProxyConfiguration file, as a reading (None when the file has no mode line)."""
    text = node.read(path, "kube-proxy config file", base=base)
    if text is None:
        return None
    mode = _yaml_scalar(text, "mode")
    if mode is None:
        return None
    source = path if base is None else "/%s%s" % (base, "/" + path.lstrip("/"))
    # mode "" is kube-proxy's default, iptables; already cleaned by _yaml_scalar
    return {"signal": "kube-proxy config file (%s)" % via, "mode": mode or "iptables", "version": None,
            "source": source, "file": "/" + path.lstrip("/"), "sets_mode_in": sets_mode_in, "syntax": "config"}


def read_process(node):
    for relative in node.glob("proc/[0-9]*/cmdline"):
        raw = node.read(relative, required=False)
        if not raw:
            continue
        argv = [arg for arg in raw.split("\0") if arg][:512]
        if not argv or argv[0].rpartition("/")[2] != "kube-proxy":
            continue
        yield _reading(_flag_values(argv, "proxy-mode"), None, "/" + relative)
        config = _flag_values(argv, "config")
        if config:
            # the path is the process's own: read it through its root (/proc/<pid>/root), inside ours. The file
            # is where the running process took its mode from, not where the node's configuration sets it (for a
            # kubeadm pod it is the ConfigMap, mounted), so it names no file to edit.
            proc_root = relative.rpartition("/")[0] + "/root"
            if node.live_root:
                reading = _config_mode_live(node, proc_root, config)
            else:  # a fixture's process without a root directory is a host process
                reading = _config_reading(node, config, "--config of the running process",
                                          base=proc_root if node.isdir(proc_root) else None, sets_mode_in=None)
            if reading:
                yield reading
        return


def _config_mode_live(node, proc_root, config):
    """On the live node /proc/<pid>/root is a kernel link into the process's mount namespace."""
    sub = NodeRoot("/" + proc_root, node.deadline)
    sub.live_root = False  # confine the walk to the process's root
    try:
        os.stat(sub.root)
    except OSError:
        node._note("kube-proxy config file", proc_root, "process root not readable")
        return None
    reading = _config_reading(sub, config.lstrip("/"), "--config of the running process", sets_mode_in=None)
    node.missing.extend(sub.missing)
    if reading:
        reading["source"] = "/%s%s" % (proc_root, config if config.startswith("/") else "/" + config)
    return reading


def _unit_files(node):
    """kube-proxy.service as systemd loads it: the first unit file found, then its drop-ins by name."""
    unit = next((relative for relative in KUBE_PROXY_UNIT_FILES if node.exists(relative)), None)
    dropins = {}
    for directory in KUBE_PROXY_DROPIN_DIRS:
        for relative in node.glob(directory + "/*.conf"):
            dropins.setdefault(relative.rpartition("/")[2], relative)
    return ([unit] if unit else []) + [dropins[name] for name in sorted(dropins)]


def read_units(node):
    files = _unit_files(node)
    if not files:
        return
    texts = [(relative, node.read(relative, "kube-proxy unit") or "") for relative in files]
    words = _exec_start_words("\n".join(text for _relative, text in texts))
    # the effective ExecStart is in the last file that assigns ExecStart (a drop-in overrides the unit)
    owner = next((relative for relative, text in reversed(texts) if _exec_starts(text)), files[-1])
    source = "/" + files[-1] if len(files) == 1 else "/" + " + /".join(files)
    mode = _flag_values(words, "proxy-mode")
    if mode is not None:
        yield _reading(mode, None, source, "/" + owner)
    config = _flag_values(words, "config")
    if config:
        reading = _config_reading(node, config, "--config of the service")
        if reading:
            yield reading


def _unit_environment_files(node):
    """The EnvironmentFile= paths of kube-proxy.service (a leading '-' only says the file may be missing)."""
    paths = []
    for relative in _unit_files(node):
        for line in _uncommented(node.read(relative, "kube-proxy unit", required=False) or "", "#;"):
            key, sep, value = line.strip().partition("=")
            if not sep or key.strip() != "EnvironmentFile":
                continue
            if not value.strip():  # an empty assignment resets the list
                paths = []
            for word in value.split():
                word = word.lstrip("-")
                if word.startswith("/") and "%" not in word:
                    paths.append(word.lstrip("/"))
    return paths


def read_flag_files(node):
    """EnvironmentFile-style flag files (KUBE_PROXY_ARGS="--proxy-mode=ipvs"): the usual places, then those the
    kube-proxy unit names; comments ignored."""
    named = [relative for relative in _unit_environment_files(node) if relative not in KUBE_PROXY_FLAG_FILES]
    for relative in KUBE_PROXY_FLAG_FILES + tuple(sorted(set(named), key=named.index)):
        text = node.read(relative, "kube-proxy flags file", required=False)
        if text is None:
            continue
        words = []
        for line in _uncommented(text):
            words.extend(_words(line.replace('"', " ").replace("'", " ").replace("=", "= ", 1)
                                if "=--" in line or '="--' in line else line))
        mode = _flag_values(words, "proxy-mode")
        if mode is not None:
            yield _reading(mode, None, "/" + relative, "/" + relative)
        config = _flag_values(words, "config")
        if config:
            reading = _config_reading(node, config, "--config of the flags file")
            if reading:
                yield reading


def _manifest_image_version(text):
    """The tag of a kube-proxy image in a manifest (line by line, linear)."""
    for line in _uncommented(text):
        stripped = line.strip().lstrip("-").strip()
        if not stripped.startswith("image:"):
            continue
        image = stripped[len("image:"):].strip().strip("\"'")
        name, _sep, tag = image.rpartition(":")
        if "kube-proxy" in name.rpartition("/")[2] or "hardened-kubernetes" in name.rpartition("/")[2]:
            return _version_token(tag)
    return None


def read_manifests(node):
    for relative in KUBE_PROXY_MANIFESTS:
        text = node.read(relative, "kube-proxy static pod", required=False)
        if text is None:
            continue
        words = []
        for line in _uncommented(text):
            words.extend(word.strip(",[]") for word in line.replace("- ", " ").split())
        # RKE2 writes its manifest from its config.yaml at each start: that file, not this one, sets the mode
        rke2 = relative.startswith("var/lib/rancher/")
        yield _reading(_flag_values(words, "proxy-mode"), _manifest_image_version(text), "/" + relative,
                       None if rke2 else "/" + relative)


def read_k3s(node):
    for pattern in K3S_CONFIGS:
        for relative in node.glob(pattern):
            words = []
            for line in _uncommented(node.read(relative, "k3s/RKE2 config") or ""):
                words.extend(word.strip(",[]\"'") for word in line.replace(":", " ").split())
            mode = _flag_values(words, "proxy-mode")
            if mode is not None:
                # etc/rancher/<k3s|rke2>/...: the distribution whose service reads the file
                yield _reading(mode, None, "/" + relative, "/" + relative, sets_mode_in=relative.split("/")[2])


def read_pod_logs(node):
    logs = [(node.mtime(relative), relative) for relative in node.glob(KUBE_PROXY_POD_LOGS)]
    logs = [item for item in logs if item[0] is not None]  # dangling or looping links drop out
    if not logs:
        return
    newest = max(logs)[1]
    mode = version = None
    for line in _lines(node.read(newest, "kube-proxy pod log") or ""):
        if mode is None:
            match = _LOG_MODE_RE.search(line)
            mode = match.group(1) if match else None
        if version is None:
            for marker in ("Version: ", '"Version info" version="'):
                at = line.find(marker)
                if at >= 0:
                    version = _version_token(line[at + len(marker):])
                    break
    if mode or version:
        yield _reading(mode, version, "/" + newest)


class SignalSource:
    """One row of SIGNAL_SOURCES: where kube-proxy's mode or version can be read on a node.

    ``signal`` names the signal in the facts; ``read(node)`` yields the readings; ``proves`` says what a reading
    can carry (``mode``, ``version``); ``sets_mode_in`` is the kind of file the mode is set in, reported in
    ``kube_proxy.mode_files`` for the kube_proxy_mode role (None: the source shows the mode, it does not set it);
    ``syntax`` is how that file writes the mode (``flag`` --proxy-mode=, ``config`` mode:, ``rancher``
    kube-proxy-arg proxy-mode=)."""

    __slots__ = ("name", "signal", "read", "proves", "sets_mode_in", "syntax")

    def __init__(self, name, signal, read, proves, sets_mode_in=None, syntax=None):
        self.name, self.signal, self.read, self.proves = name, signal, read, proves
        self.sets_mode_in, self.syntax = sets_mode_in, syntax


# One row per kube-proxy signal source, in precedence order after the caller and the live endpoint: a new source
# is a reader and a row. A k3s/RKE2 reading names its kind (k3s or rke2) from its path.
SIGNAL_SOURCES = (
    SignalSource("process", "kube-proxy process flags", read_process, ("mode",)),
    SignalSource("unit", "kube-proxy service flags", read_units, ("mode",), "unit", "flag"),
    SignalSource("flags_file", "kube-proxy flags file", read_flag_files, ("mode",), "flags_file", "flag"),
    SignalSource("static_pod", "kube-proxy static pod manifest", read_manifests, ("mode", "version"),
                 "static_pod", "flag"),
    SignalSource("rancher_config", "k3s/RKE2 kube-proxy-arg", read_k3s, ("mode",), "k3s", "rancher"),
    SignalSource("pod_log", "kube-proxy pod log", read_pod_logs, ("mode", "version")),
)


def read_signal_sources(node, signals, mode_files):
    """Run every row of SIGNAL_SOURCES: append its signals, and each file that sets the mode once."""
    for row in SIGNAL_SOURCES:
        for reading in row.read(node):
            signals.append({"signal": reading.get("signal", row.signal),
                            "mode": reading["mode"] if "mode" in row.proves else None,
                            "version": reading["version"] if "version" in row.proves else None,
                            "source": reading["source"]})
            kind = reading.get("sets_mode_in", row.sets_mode_in)
            path = reading.get("file")
            if kind and path and reading["mode"] is not None \
                    and path not in [known["path"] for known in mode_files]:
                mode_files.append({"path": path, "kind": kind, "syntax": reading.get("syntax", row.syntax),
                                   "mode": reading["mode"]})


def gather_endpoint(metrics_url, http_get, signals, missing):
    """The live kube-proxy metrics endpoint: /proxyMode and kubernetes_build_info."""
    base = metrics_url.rstrip("/")
    mode_text = http_get(base + "/proxyMode")
    if mode_text is None:
        missing.append({"item": "kube-proxy /proxyMode", "path": base + "/proxyMode",
                        "reason": "no answer (kube-proxy not running, or metrics bound elsewhere)"})
        return
    version = None
    for line in _lines((http_get(base + "/metrics") or "")[:4 * MAX_READ]):
        if line.startswith("kubernetes_build_info{"):
            at = line.find('git_version="')
            if at >= 0:
                version = _version_token(line[at + len('git_version="'):])
            break
    mode = mode_text.strip()[:64]
    signals.append({"signal": "kube-proxy /proxyMode endpoint", "mode": _clean_mode(mode) if mode else None,
                    "version": version, "source": base + "/proxyMode"})


def _has_live_proc(node):
    """A live /proc (or a fixture's fake one) has proc/sys/kernel/osrelease; an image's /proc is empty.

    Anything there, even unreadable or hostile, counts as live so that its problem is reported
    instead of the node silently being assessed as an image."""
    try:
        os.close(node._walk("proc/sys/kernel/osrelease", os.O_RDONLY | _O_NONBLOCK))
        return True
    except Outside:
        return True
    except OSError as exc:
        return exc.errno not in (errno.ENOENT, errno.ENOTDIR)


def _empty_facts(root):
    return {"schema": 1, "root": root, "live": None, "kernel": {}, "os": {}, "ipvs": {}, "sysctl": {},
            "sysctl_errors": {}, "persisted": {}, "pin": {}, "kube_proxy": {"signals": []}}


def gather(root="/", proxy_mode=None, kube_proxy_version=None, metrics_url=None, http_get=None,
           deadline=DEFAULT_DEADLINE):
    """Gather the ipvs_reuse facts of one node (within ``deadline`` seconds)."""
    node = NodeRoot(root, time.monotonic() + deadline if deadline else None)
    try:
        return _gather(node, root, proxy_mode, kube_proxy_version, metrics_url, http_get)
    except GatherTimeout:
        facts = _empty_facts(root)
        facts["gather_error"] = "gathering took longer than %g s" % deadline
        facts["missing"] = node.missing
        return facts


def _gather(node, root, proxy_mode, kube_proxy_version, metrics_url, http_get):
    signals = []
    if proxy_mode or kube_proxy_version:
        signals.append({"signal": "given by the caller", "mode": proxy_mode or None,
                        "version": kube_proxy_version or None, "source": "module options"})
    if root in ("/", "") and metrics_url and http_get is not None:
        gather_endpoint(metrics_url, http_get, signals, node.missing)
    mode_files = []
    read_signal_sources(node, signals, mode_files)

    live = _has_live_proc(node)
    mode_signal = next((signal for signal in signals if signal["mode"] is not None), None)
    version_signal = next((signal for signal in signals if signal["version"]), None)
    kernel = gather_kernel(node, live)
    sysctl, sysctl_errors = gather_sysctls(node, live)
    facts = {
        "schema": 1,
        "root": root,
        "live": live,
        "kernel": kernel,
        "os": gather_os(node),
        "ipvs": gather_ipvs(node, kernel),
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
            "mode_files": mode_files,
        },
    }
    facts["missing"] = node.missing
    return facts
