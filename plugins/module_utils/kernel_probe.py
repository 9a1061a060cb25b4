# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure syn_drop_fix and drained_backend_fix on the node's own kernel, in throwaway network namespaces. Standard library only.

The lab's method (tests/lab/), moved into four namespaces of the node itself: a client, an IPVS
director and two HTTP backends, joined by veth pairs whose ends never appear in the host's namespace.
The director gets the sysctls, a NAT virtual service and a nat-table MASQUERADE rule (so conntrack is
active, as kube-proxy's rules make it on a node). Then, from one fixed client port:

- syn_drop_fix (f0a5e4d7a594, "FIX2"): with conn_reuse_mode=1 and conntrack=1, reused-port connects are fast,
  not ~1 s (the first SYN dropped and retransmitted);
- drained_backend_fix (c95c07836fa4, "FIX1"): with conn_reuse_mode=0 and expire_nodest_conn=1, a backend drained
  to weight 0 gets none of the new connections from a reused port.

Speed: no Python interpreter is started. The probe forks one agent per namespace; each agent enters its
namespace with setns(2) and then serves the probe's requests over a pipe (write a sysctl, run ipvsadm,
connect, or answer HTTP). Apart from the agents, the probe runs `ip` five times, `ipvsadm` twice and one
firewall restore.

Pure parts (the decisions from the figures, the names, which leftovers to remove, whether a module would be
loaded) are plain functions; the I/O sits in NodeSystem and run_probe.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import json
import os
import re
import select
import signal
import socket
import subprocess
import time

# The two measurements under the names knowledge.FIXES gives the fixes, and their names before 1.1.0
# (knowledge.DEPRECATED_FIX_NAMES). Written here, not imported, so that this file also runs alone, copied to a
# node (tests/lab/kernel_probe_lab.py); tests/unit/test_one_home.py holds them equal to knowledge.py's.
SYN_DROP_FIX = "syn_drop_fix"
DRAINED_BACKEND_FIX = "drained_backend_fix"
DEPRECATED_FIX_NAMES = {"fix2": SYN_DROP_FIX, "fix1": DRAINED_BACKEND_FIX}

PREFIX = "kubenode-ipvsprobe-"
ROLES = ("client", "director", "be1", "be2")
NAME_RE = re.compile(r"^%s[0-9a-f]{8}-(client|director|be1|be2)$" % re.escape(PREFIX))
NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000

# Addresses inside the probe's own namespaces (benchmarking range, RFC 2544); never QEMU's 10.0.2.0/24.
VIP = "198.18.0.10"
PORT = 80
LINKS = {  # namespace role: (its address, the director's address on the same link, director-side interface)
    "client": ("198.18.1.2", "198.18.1.1", "pc"),
    "be1": ("198.18.2.2", "198.18.2.1", "pb1"),
    "be2": ("198.18.3.2", "198.18.3.1", "pb2"),
}
# A MASQUERADE rule for a source that never occurs: it makes the nat table, and so conntrack, active in the
# director's namespace without rewriting the probe's own traffic (kube-proxy's rule matches a mark instead).
NEVER_SOURCE = "192.0.2.1"
SLOW_MS = 500.0  # a dropped first SYN costs the client's 1 s retransmission timer; fast connects take a few ms
CONNECT_TIMEOUT = 3.0  # above one SYN retransmission (1 s), below two (3 s after the first)
PAUSE = 0.2  # between connections: the previous one's FIN exchange completes, IPVS holds it in TIME_WAIT
REQUEST = b"GET / HTTP/1.0\r\nHost: kubenode-ipvs-probe\r\n\r\n"

# Kernel modules the probe relies on, each met by any one of the names being loaded or built in. The probe
# never loads a module: where one would be loaded on demand, it does not run (see module_needs).
SCHEDULERS = ("rr", "wrr", "lc", "wlc")
BASE_NEEDS = (("veth",),)
FIREWALLS = (
    {"name": "iptables-legacy", "tool": "iptables-legacy-restore",
     "needs": (("iptable_nat",), ("xt_MASQUERADE", "ipt_MASQUERADE"))},
    {"name": "iptables-nft", "tool": "iptables-nft-restore",
     "needs": (("nft_chain_nat", "nft_chain_nat_ipv4"), ("nft_compat",), ("xt_MASQUERADE", "ipt_MASQUERADE"))},
    {"name": "nft", "tool": "nft", "needs": (("nft_chain_nat", "nft_chain_nat_ipv4"), ("nft_masq", "nft_masq_ipv4"))},
)
IPTABLES_RULES = "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s %s/32 -j MASQUERADE\nCOMMIT\n" % NEVER_SOURCE
NFT_RULES = ("table ip kubenode_ipvs_probe {\n chain postrouting {\n  type nat hook postrouting priority 100; policy accept;\n"
             "  ip saddr %s masquerade\n }\n}\n" % NEVER_SOURCE)


class ProbeError(Exception):
    """The probe could not measure; the message says why (results are null)."""


class ProbeTimeout(ProbeError):
    pass


# ------------------------------------------------------------------------------------------------ pure parts

def namespace_names(token):
    """{role: namespace name} for one run; token is 8 hex digits."""
    if not re.match(r"^[0-9a-f]{8}$", token or ""):
        raise ValueError("token must be 8 hex digits")
    return dict((role, "%s%s-%s" % (PREFIX, token, role)) for role in ROLES)


def leftover_namespaces(names):
    """The names, of those listed in /run/netns, that a probe created (and only those)."""
    return sorted(name for name in names if isinstance(name, str) and NAME_RE.match(name))


def module_name(path_or_name):
    """'kernel/net/netfilter/xt_MASQUERADE.ko.xz' -> 'xt_MASQUERADE' (dashes as the kernel lists them: '_')."""
    base = path_or_name.strip().rsplit("/", 1)[-1]
    base = re.sub(r"\.ko(\.(xz|gz|zst))?$", "", base)
    return base.replace("-", "_")


def parse_proc_modules(text):
    return set(line.split(" ", 1)[0] for line in (text or "").splitlines() if line.strip())


def parse_module_list(text):
    """Names from modules.builtin or modules.dep (first field up to ':')."""
    return set(module_name(line.split(":", 1)[0]) for line in (text or "").splitlines() if line.strip())


def module_status(name, loaded, builtin, installed):
    """loaded | builtin | installed (would be loaded on demand) | absent (cannot be loaded: not installed)."""
    if loaded is not None and name in loaded:
        return "loaded"
    if builtin is not None and name in builtin:
        return "builtin"
    if installed is not None and name in installed:
        return "installed"
    return "absent"


def module_needs(needs, loaded, builtin, installed):
    """The needs (tuples of alternative module names) that only a module load would meet.

    loaded is None where the kernel has no module support (nothing can be loaded). A need whose modules are
    all absent is not listed: no module can be loaded for it, and the step that needs it fails on its own.
    """
    if loaded is None:
        return []
    would_load = []
    for alternatives in needs:
        states = [module_status(name, loaded, builtin, installed) for name in alternatives]
        if any(state in ("loaded", "builtin") for state in states):
            continue
        if "installed" in states:
            would_load.append(alternatives)
    return would_load


def choose_setup(loaded, builtin, installed, tools):
    """(scheduler, firewall entry, refusal text or None) from the module states and the tools present."""
    base = module_needs(BASE_NEEDS, loaded, builtin, installed)
    if base:
        return None, None, "it would load kernel module(s) %s" % ", ".join("/".join(n) for n in base)
    present = [name for name in SCHEDULERS
               if module_status("ip_vs_" + name, loaded, builtin, installed) in ("loaded", "builtin")]
    # Without module support or without the kernel's module lists nothing can be loaded: rr is built in or fails.
    scheduler = present[0] if present else ("rr" if loaded is None or installed is None else None)
    if scheduler is None:
        return None, None, "no IPVS scheduler module (%s) is loaded, and the probe loads none" % ", ".join(
            "ip_vs_" + name for name in SCHEDULERS)
    refusals = []
    for firewall in FIREWALLS:
        if not tools.get(firewall["tool"]):
            refusals.append("%s: no %s" % (firewall["name"], firewall["tool"]))
            continue
        missing = module_needs(firewall["needs"], loaded, builtin, installed)
        if missing:
            refusals.append("%s: would load %s" % (firewall["name"], ", ".join("/".join(n) for n in missing)))
            continue
        return scheduler, firewall, None
    return scheduler, None, ("no way to add the nat-table rule that makes conntrack active without loading a "
                             "module (%s)" % "; ".join(refusals))


def _median(values):
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


def series_summary(connections):
    times = [c["connect_ms"] for c in connections if not c.get("error") and isinstance(c.get("connect_ms"), (int, float))]
    return {
        "median_ms": None if not times else round(_median(times), 1),
        "max_ms": None if not times else round(max(times), 1),
        "slow": sum(1 for t in times if t >= SLOW_MS),
        "errors": sum(1 for c in connections if c.get("error")),
    }


def decide_syn_drop_fix(reuse, conntrack_entries):
    """(True|False|None, reason) from the reuse series measured with conn_reuse_mode=1, conntrack=1."""
    seed = reuse.get("seed") or {}
    connections = reuse.get("connections") or []
    if seed.get("error") or not seed.get("backend"):
        return None, "the seed connection failed (%s): syn_drop_fix not measured" % (seed.get("error") or "no answer")
    if not connections:
        return None, "no reuse connections were made: syn_drop_fix not measured"
    if not isinstance(conntrack_entries, int) or isinstance(conntrack_entries, bool) or conntrack_entries <= 0:
        return None, ("conntrack tracked nothing in the director's namespace (nf_conntrack_count %s): the SYN-drop "
                      "path cannot run without it, so syn_drop_fix was not measured" % conntrack_entries)
    summary = series_summary(connections)
    count = len(connections)
    if summary["errors"]:
        return None, "%d of %d reuse connects failed: syn_drop_fix not measured" % (summary["errors"], count)
    figures = "median %s ms, max %s ms" % (summary["median_ms"], summary["max_ms"])
    if summary["slow"] * 2 > count:
        return False, ("%d of %d connects from a reused client port took >= %d ms (%s): IPVS dropped their first "
                       "SYN (syn_drop_fix missing)" % (summary["slow"], count, SLOW_MS, figures))
    if summary["slow"] == 0:
        return True, ("%d of %d connects from a reused client port were fast (%s, none >= %d ms): no SYN drop "
                      "(syn_drop_fix present)" % (count, count, figures, SLOW_MS))
    return None, ("%d of %d reuse connects took >= %d ms (%s): neither clearly fixed nor clearly broken"
                  % (summary["slow"], count, SLOW_MS, figures))


def decide_drained_backend_fix(drain):
    """(True|False|None, reason) from the drain series measured with conn_reuse_mode=0, expire_nodest_conn=1."""
    seed = drain.get("seed") or {}
    drained = drain.get("drained_backend")
    connections = drain.get("connections") or []
    if seed.get("error") or not drained:
        return None, "the seed connection failed (%s): drained_backend_fix not measured" % (seed.get("error") or "no answer")
    if not connections:
        return None, "no connections were made after the drain: drained_backend_fix not measured"
    count = len(connections)
    errors = [c for c in connections if c.get("error")]
    hits = sum(1 for c in connections if c.get("backend") == drained)
    if hits:
        return False, ("%d of %d new connections from a reused client port reached backend %s after it was "
                       "drained to weight 0 (drained_backend_fix missing)" % (hits, count, drained))
    if errors:
        return None, "%d of %d connections after the drain failed: drained_backend_fix not measured" % (len(errors), count)
    return True, ("0 of %d new connections from a reused client port reached backend %s after it was drained to "
                  "weight 0 (drained_backend_fix present)" % (count, drained))


def null_result(reason, **extra):
    result = {"probed": False, SYN_DROP_FIX: None, DRAINED_BACKEND_FIX: None, "reason": reason}
    result.update(extra)
    return result


def with_deprecated_names(result):
    """The result with the names before 1.1.0 beside the new ones (fix2, fix1, fix2_reason, fix1_reason), written
    until knowledge.DEPRECATED_NAMES_REMOVED_IN."""
    for old, new in DEPRECATED_FIX_NAMES.items():
        result[old] = result.get(new)
        if new + "_reason" in result:
            result[old + "_reason"] = result[new + "_reason"]
    return result


def ip_batch_for_peer(role, director):
    """`ip -n <role's namespace> -batch -` lines: the veth pair (peer in the director), addresses, route."""
    address, gateway, peer = LINKS[role]
    return ["link add eth0 type veth peer name %s netns %s" % (peer, director),
            "addr add %s/24 dev eth0" % address,
            "link set lo up",
            "link set eth0 up",
            "route add default via %s" % gateway]


def ip_batch_for_director():
    lines = ["link set lo up", "addr add %s/32 dev lo" % VIP]
    for role in ("client", "be1", "be2"):
        _address, gateway, peer = LINKS[role]
        lines += ["addr add %s/24 dev %s" % (gateway, peer), "link set %s up" % peer]
    return lines


def ipvs_rules(scheduler):
    service = "%s:%d" % (VIP, PORT)
    lines = ["-A -t %s -s %s" % (service, scheduler)]
    for role in ("be1", "be2"):
        lines.append("-a -t %s -r %s:%d -m -w 1" % (service, LINKS[role][0], PORT))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------- namespace agents

def _libc():
    import ctypes  # only where os.setns is missing (Python < 3.12)
    return ctypes.CDLL(None, use_errno=True)


def enter_netns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if hasattr(os, "setns"):
            os.setns(fd, CLONE_NEWNET)
        else:
            import ctypes
            if _libc().setns(fd, CLONE_NEWNET) != 0:
                code = ctypes.get_errno()
                raise OSError(code, os.strerror(code))
    finally:
        os.close(fd)


def _die_with_parent():
    try:
        _libc().prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - the alarm still ends the agent
        pass


def connect_once(sport, timeout):
    """One HTTP/1.0 request from CLIENT:sport to the service; the backend's name from the answer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    started = time.monotonic()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.settimeout(timeout)
        sock.bind((LINKS["client"][0], sport))
        started = time.monotonic()
        sock.connect((VIP, PORT))
        connect_ms = (time.monotonic() - started) * 1000.0
        sock.sendall(REQUEST)
        data = b""
        while len(data) < 4096:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (OSError, socket.timeout) as exc:
        return {"connect_ms": round((time.monotonic() - started) * 1000.0, 1), "backend": None, "error": str(exc)}
    finally:
        sock.close()
    backend = data.split(b"\r\n\r\n", 1)[-1].strip().decode("ascii", "replace")
    return {"connect_ms": round(connect_ms, 1), "backend": backend if backend in ("be1", "be2") else None}


def _serve(name, reply):
    """A tiny HTTP responder that names itself and closes first (so the client's port is free at once)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", PORT))
    listener.listen(16)
    reply({"ready": True})
    body = name.encode()
    answer = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
    while True:
        conn, _peer = listener.accept()
        try:
            conn.settimeout(2.0)
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 4096:
                chunk = conn.recv(1024)
                if not chunk:
                    break
                data += chunk
            conn.sendall(answer)
        except OSError:
            pass
        finally:
            conn.close()


SYSCTL_NET = "/proc/sys/net/"  # in an agent, these are the sysctls of the agent's own namespace


def _handle(request):
    op = request.get("op")
    if op == "write":
        path = request["path"]
        if not path.startswith(SYSCTL_NET):
            raise ValueError("refusing to write %s" % path)
        with open(path, "w") as handle:
            handle.write("%s\n" % request["value"])
        with open(path) as handle:
            return {"value": handle.read().strip()}
    if op == "read":
        path = request["path"]
        if not path.startswith(SYSCTL_NET):
            raise ValueError("refusing to read %s" % path)
        with open(path) as handle:
            return {"value": handle.read().strip()}
    if op == "run":
        proc = subprocess.Popen(request["argv"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(os.environ, LC_ALL="C", LANGUAGE="C"))
        try:
            out, err = proc.communicate((request.get("input") or "").encode(), timeout=request.get("timeout", 10))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return {"rc": None, "stdout": "", "stderr": "timed out"}
        return {"rc": proc.returncode, "stdout": out.decode("utf-8", "replace")[-2000:],
                "stderr": err.decode("utf-8", "replace")[-2000:]}
    if op == "connect":
        return connect_once(int(request["sport"]), float(request.get("timeout", CONNECT_TIMEOUT)))
    raise ValueError("unknown op %r" % op)


def _agent_main(netns_path, read_fd, write_fd, serve_name, lifetime):
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.alarm(max(1, int(lifetime)))  # the agent ends by itself even if the probe is killed
    _die_with_parent()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # never hold the module's stdout open (Ansible waits for it)
        os.dup2(devnull, fd)
    out = os.fdopen(write_fd, "w")

    def reply(message):
        out.write(json.dumps(message) + "\n")
        out.flush()
    try:
        enter_netns(netns_path)
    except OSError as exc:
        reply({"error": "cannot enter %s: %s" % (netns_path, exc)})
        return
    if serve_name:
        _serve(serve_name, reply)
        return
    reply({"ready": True})
    with os.fdopen(read_fd) as requests:
        for line in requests:
            try:
                reply(_handle(json.loads(line)))
            except Exception as exc:  # noqa: BLE001 - the probe reads the error and gives up
                reply({"error": "%s: %s" % (type(exc).__name__, exc)})


class Agent:
    """A forked child inside one namespace, answering JSON requests line by line."""

    def __init__(self, role, netns_path, lifetime, serve_name=None):
        self.role = role
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            status = 0
            try:
                os.close(to_child_w)
                os.close(from_child_r)
                _agent_main(netns_path, to_child_r, from_child_w, serve_name, lifetime)
            except BaseException:  # noqa: BLE001 - a child never returns into the caller's code
                status = 1
            finally:
                os._exit(status)
        os.close(to_child_r)
        os.close(from_child_w)
        self.pid = pid
        self._out = to_child_w
        self._in = from_child_r
        self._buffer = b""

    def receive(self, deadline):
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProbeTimeout("the %s agent did not answer in time" % self.role)
            ready, _w, _x = select.select([self._in], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._in, 65536)
            if not chunk:
                raise ProbeError("the %s agent ended unexpectedly" % self.role)
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message = json.loads(line.decode())
        if "error" in message and len(message) == 1:
            raise ProbeError("%s namespace: %s" % (self.role, message["error"]))
        return message

    def call(self, request, timeout):
        data = (json.dumps(request) + "\n").encode()
        while data:
            written = os.write(self._out, data)
            data = data[written:]
        return self.receive(time.monotonic() + timeout)

    def stop(self):
        for fd in (self._out, self._in):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except OSError:
            pass


# ----------------------------------------------------------------------------------------------- the node edge

class NodeSystem:
    """What the probe reads and runs on the node itself (replaced by a fake in the unit tests)."""

    def __init__(self, ip="ip"):
        self.ip = ip

    def list_netns(self):
        try:
            return os.listdir(NETNS_DIR)
        except OSError:
            return []

    def netns_inode(self, name):
        try:
            return os.stat(os.path.join(NETNS_DIR, name)).st_ino
        except OSError:
            return None

    def pids_in_netns(self, inode):
        wanted = "net:[%d]" % inode
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.readlink("/proc/%s/ns/net" % entry) == wanted:
                    pids.append(int(entry))
            except OSError:
                continue
        return pids

    def kill(self, pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

    def ip_batch(self, lines, netns=None, timeout=10):
        argv = [self.ip] + (["-n", netns] if netns else []) + ["-batch", "-"]
        try:
            proc = subprocess.run(argv, input="\n".join(lines) + "\n", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  universal_newlines=True, timeout=timeout, env=dict(os.environ, LC_ALL="C"), check=False)
        except subprocess.TimeoutExpired:
            return None, "timed out"
        return proc.returncode, proc.stderr.strip()


def remove_namespaces(system, names):
    """Kill what runs in each of the probe's namespaces, then delete them (one `ip -batch`). Returns an error or None."""
    names = leftover_namespaces(names)
    if not names:
        return None
    for name in names:
        inode = system.netns_inode(name)
        if inode is not None:
            for pid in system.pids_in_netns(inode):
                system.kill(pid)
    rc, err = system.ip_batch(["netns del %s" % name for name in names])
    if rc != 0:
        # ip -batch stops at the first failing line: delete the rest one by one
        errors = []
        for name in names:
            if name in system.list_netns():
                line_rc, line_err = system.ip_batch(["netns del %s" % name])
                if line_rc != 0:
                    errors.append("%s: %s" % (name, line_err))
        return "; ".join(errors) or None
    return None


def clean_leftovers(system):
    """Remove what an interrupted probe left behind; returns (names removed, error or None)."""
    names = leftover_namespaces(system.list_netns())
    return names, remove_namespaces(system, names)


def _read(path, limit=1 << 20):
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except (IOError, OSError):
        return None


def which(name):
    for directory in (os.environ.get("PATH") or "").split(os.pathsep) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]:
        path = os.path.join(directory, name)
        if directory and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def kernel_identity():
    return {"release": (_read("/proc/sys/kernel/osrelease") or "").strip() or None,
            "build": (_read("/proc/sys/kernel/version") or "").strip() or None}


def module_states(release):
    """(loaded or None without module support, builtin or None when unknown, installed or None when unknown)."""
    proc_modules = _read("/proc/modules", 4 << 20)
    loaded = parse_proc_modules(proc_modules) if proc_modules is not None else None
    base = os.path.join("/lib/modules", release or "-")
    builtin_text = _read(os.path.join(base, "modules.builtin"), 4 << 20)
    dep_text = _read(os.path.join(base, "modules.dep"), 16 << 20)
    return (loaded, parse_module_list(builtin_text) if builtin_text is not None else None,
            parse_module_list(dep_text) if dep_text is not None else None)


LOCK_NAME = "\0kubenode-ipvs-kernel-probe"


def _lock(deadline):
    """An abstract unix socket as a lock, so two probes never meet; it goes with the process, even on SIGKILL.

    Not a flock on /run/netns: `ip netns add` takes that one itself.
    """
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    while True:
        try:
            lock.bind(LOCK_NAME)
            return lock
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                lock.close()
                raise
        if time.monotonic() > deadline:
            lock.close()
            raise ProbeTimeout("another kernel probe is running on this node")
        time.sleep(0.2)


def run_probe(timeout=30.0, connections=5, node=None, system=None, token=None):
    """Measure syn_drop_fix and drained_backend_fix on this kernel; always returns a result dict (each fix null
    when not measured), with the deprecated names beside them (with_deprecated_names)."""
    started = time.monotonic()
    deadline = started + timeout
    stamps = []

    def mark(step):
        stamps.append((step, time.monotonic()))

    kernel = kernel_identity()
    common = {"kernel": kernel, "node": node or socket.gethostname(),
              "measured_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}

    def finish(result):
        result.update(common)
        result["duration_s"] = round(time.monotonic() - started, 2)
        previous = started
        timings = {}
        for step, stamp in stamps:
            timings[step] = round((stamp - previous) * 1000.0)
            previous = stamp
        result["timings_ms"] = timings
        return with_deprecated_names(result)

    if os.geteuid() != 0:
        return finish(null_result("cannot probe: needs root (network namespaces, IPVS and sysctls in them)"))
    if not os.path.isdir("/proc/sys/net/ipv4/vs"):
        return finish(null_result("cannot probe: ip_vs is not loaded (the probe never loads a kernel module)"))
    tools = dict((name, which(name)) for name in ("ip", "ipvsadm") + tuple(f["tool"] for f in FIREWALLS))
    if not tools.get("ipvsadm"):
        return finish(null_result("cannot probe: ipvsadm missing"))
    if not tools.get("ip"):
        return finish(null_result("cannot probe: ip (iproute2) missing"))
    loaded_before, builtin, installed = module_states(kernel["release"])
    scheduler, firewall, refusal = choose_setup(loaded_before, builtin, installed, tools)
    if refusal:
        return finish(null_result("cannot probe without loading a kernel module: %s" % refusal))
    system = system or NodeSystem(tools["ip"])
    token = token or os.urandom(4).hex()
    names = namespace_names(token)
    mark("preconditions")

    previous_alarm = signal.getsignal(signal.SIGALRM)
    previous_term = signal.getsignal(signal.SIGTERM)

    armed = [True]

    def on_alarm(_signum, _frame):
        if not armed[0]:
            return
        raise ProbeTimeout("the probe took longer than %s s" % timeout)

    def on_term(_signum, _frame):
        raise ProbeError("the probe was stopped (SIGTERM)")

    agents = []
    lock = None
    result = None
    leftovers = []
    try:
        signal.signal(signal.SIGALRM, on_alarm)
        signal.signal(signal.SIGTERM, on_term)
        signal.setitimer(signal.ITIMER_REAL, max(0.5, timeout - 0.5))
        lock = _lock(deadline)
        leftovers, error = clean_leftovers(system)
        if error:
            raise ProbeError("cannot remove the namespaces an earlier probe left: %s" % error)
        mark("cleanup_leftovers")
        result = _measure(system, names, scheduler, firewall, tools, connections, deadline, agents, mark)
    except ProbeError as exc:
        result = null_result("probe failed: %s" % exc)
    except Exception as exc:  # noqa: BLE001 - the probe must answer and clean up, whatever broke
        result = null_result("probe failed: %s: %s" % (type(exc).__name__, exc))
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_alarm)
        signal.signal(signal.SIGTERM, previous_term)
        for agent in agents:
            agent.stop()
        cleanup_error = remove_namespaces(system, [name for name in names.values() if name in system.list_netns()])
        mark("teardown")
        if lock is not None:
            lock.close()
    if cleanup_error:
        result["cleanup_error"] = cleanup_error
    result["leftovers_removed"] = leftovers
    result["scheduler"] = scheduler
    result["firewall"] = firewall["name"] if firewall else None
    loaded_after = module_states(kernel["release"])[0]
    new_modules = sorted(loaded_after - loaded_before) if loaded_after is not None and loaded_before is not None else []
    result["modules_loaded_during_probe"] = new_modules
    if new_modules:
        result["warning"] = ("kernel module(s) %s appeared while the probe ran (loaded by the probe or by something "
                             "else at the same time)" % ", ".join(new_modules))
    return finish(result)


def _measure(system, names, scheduler, firewall, tools, connections, deadline, agents, mark):
    def remaining():
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProbeTimeout("out of time")
        return left

    rc, err = system.ip_batch(["netns add %s" % names[role] for role in ROLES], timeout=remaining())
    if rc != 0:
        raise ProbeError("ip netns add: %s" % err)
    for role in ("client", "be1", "be2"):
        rc, err = system.ip_batch(ip_batch_for_peer(role, names["director"]), names[role], timeout=remaining())
        if rc != 0:
            raise ProbeError("setting up the %s namespace: %s" % (role, err))
    rc, err = system.ip_batch(ip_batch_for_director(), names["director"], timeout=remaining())
    if rc != 0:
        raise ProbeError("setting up the director namespace: %s" % err)
    mark("namespaces_and_links")

    lifetime = remaining() + 5
    director = Agent("director", os.path.join(NETNS_DIR, names["director"]), lifetime)
    agents.append(director)
    client = Agent("client", os.path.join(NETNS_DIR, names["client"]), lifetime)
    agents.append(client)
    for role in ("be1", "be2"):
        agents.append(Agent(role, os.path.join(NETNS_DIR, names[role]), lifetime, serve_name=role))
    for agent in agents:
        agent.receive(time.monotonic() + remaining())
    mark("agents")

    def sysctls(values):
        for key, value in values:
            got = director.call({"op": "write", "path": SYSCTL_NET + key, "value": value}, remaining())
            if str(got.get("value")) != str(value):
                raise ProbeError("net.%s did not take %s in the director's namespace (reads %s)"
                                 % (key.replace("/", "."), value, got.get("value")))

    def run(argv, data=""):
        answer = director.call({"op": "run", "argv": argv, "input": data, "timeout": min(10.0, remaining())},
                               remaining())
        if answer.get("rc") != 0:
            raise ProbeError("%s: %s" % (" ".join(argv[:2]), (answer.get("stderr") or "").strip()[:300]))
        return answer

    sysctls((("ipv4/ip_forward", 1), ("ipv4/vs/conntrack", 1), ("ipv4/vs/conn_reuse_mode", 1),
             ("ipv4/vs/expire_nodest_conn", 1)))
    run([tools["ipvsadm"], "-R"], ipvs_rules(scheduler))
    tool = tools[firewall["tool"]]
    if firewall["name"] == "nft":
        run([tool, "-f", "-"], NFT_RULES)
    else:
        run([tool], IPTABLES_RULES)
    mark("director")

    def connect(sport):
        return client.call({"op": "connect", "sport": sport, "timeout": CONNECT_TIMEOUT}, min(remaining(), CONNECT_TIMEOUT + 2))

    def series(sport):
        made = []
        for _index in range(connections):
            time.sleep(PAUSE)
            made.append(connect(sport))
        return made

    # syn_drop_fix: conn_reuse_mode=1, conntrack=1, every backend at weight 1.
    sport = 20000 + (int(time.monotonic() * 1000) % 20000)
    reuse = {"seed": connect(sport)}
    reuse["connections"] = series(sport) if not reuse["seed"].get("error") else []
    reuse.update(series_summary(reuse["connections"]))
    try:
        count = director.call({"op": "read", "path": SYSCTL_NET + "netfilter/nf_conntrack_count"}, remaining())
    except ProbeTimeout:
        raise
    except ProbeError:  # no nf_conntrack sysctls: nothing tracked, decide_syn_drop_fix says so
        count = {}
    conntrack_entries = int(count["value"]) if str(count.get("value", "")).isdigit() else None
    syn_drop_fix, syn_drop_fix_reason = decide_syn_drop_fix(reuse, conntrack_entries)
    mark(SYN_DROP_FIX)

    # drained_backend_fix: conn_reuse_mode=0, expire_nodest_conn=1; the backend that served the seed drained to
    # weight 0.
    sysctls((("ipv4/vs/conn_reuse_mode", 0), ("ipv4/vs/expire_nodest_conn", 1)))
    drain = {"seed": connect(sport + 1)}
    drained = drain["seed"].get("backend")
    drain["drained_backend"] = drained
    drain["connections"] = []
    if drained:
        address = LINKS[drained][0]
        run([tools["ipvsadm"], "-e", "-t", "%s:%d" % (VIP, PORT), "-r", "%s:%d" % (address, PORT), "-m", "-w", "0"])
        drain["connections"] = series(sport + 1)
    drain["hits_on_drained"] = sum(1 for c in drain["connections"] if drained and c.get("backend") == drained)
    drain.update(series_summary(drain["connections"]))
    drained_backend_fix, drained_backend_fix_reason = decide_drained_backend_fix(drain)
    mark(DRAINED_BACKEND_FIX)
    return {"probed": True, SYN_DROP_FIX: syn_drop_fix, DRAINED_BACKEND_FIX: drained_backend_fix, "reason": None,
            SYN_DROP_FIX + "_reason": syn_drop_fix_reason,
            DRAINED_BACKEND_FIX + "_reason": drained_backend_fix_reason,
            "connections": connections, "slow_ms": SLOW_MS, "conntrack_entries": conntrack_entries,
            "reuse": reuse, "drain": drain}
