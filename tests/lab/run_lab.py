"""The lab: measure both IPVS connection-reuse problems on real kernels and hold the
collection's verdicts to what was measured.

For each kernel (one qemu guest per kernel, settings changed inside it) and each setting of
net.ipv4.vs.conn_reuse_mode x expire_nodest_conn (0/1 x 0/1):

1. set the node state: the two values written to /etc/sysctl.d and applied, as a node whose
   configuration sets them (so the node's state now, after a kube-proxy restart and after a
   reboot are the same, and the collection's forecast has nothing to add);
2. measure with real traffic (tests/lab/reuse_probe.py, in the guest): connect() latency on
   client port reuse, and how many new connections from a reused port reach a backend drained
   to weight 0;
3. assess the guest with the collection (its assess role, tests/lab/assess.yml);
4. compare: the measurement says problem2 when reuse connects take ~1 s (most of them >= 500 ms),
   problem1 when the drained backend still receives new connections, safe when neither; the
   collection's verdict must say the same, or the lab fails;
5. where the collection chooses a mitigation it can apply (pin_sysctl), apply it with the
   collection's pin_sysctl role (or, while that role does not exist, the fallback in
   pin-fallback.yml), then measure, assess and compare again: it must now be safe.

  python3 tests/lab/run_lab.py                           # all kernels, 2 guests at a time, writes docs/lab.md
  python3 tests/lab/run_lab.py --kernel lab-6.1 --json out/lab.json   # one kernel, results as JSON
  python3 tests/lab/run_lab.py --kernel lab-6.1 --probe --json out/lab.json --probe-json out/probe.json
                                                         # also the kernel probe's checks on the same guest
  python3 tests/lab/run_lab.py --report out/lab-*.json --probe-report out/probe-*.json   # into docs/lab.md

With --probe, once the rows are measured the same guest is put back to the stand-in's own state (pins and the
row's sysctl.d file removed, the stand-in's kube-proxy start repeated) and tests/lab/kernel_probe_lab.py runs its
checks there (steps 3-7: probe = lab, host state byte-identical, probe during traffic, killed probe, module,
assess with the probe), held to the fixes this run measured (lab_fixes). It saves a second guest boot per kernel.

Exit status 0 only when every row matches. Needs ansible-playbook on PATH (scripts/dev-env),
qemu and the cached images/kernel (tests/guests/). Runs on the controller.
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

import kernel_probe_lab

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(LAB_DIR))
GUESTS = os.path.join(REPO, "tests", "guests")
CACHE = os.environ.get("KUBENODE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "kubenode-ipvs-reuse")

# kube-proxy whose start-up behaviour the stand-in reproduces: on these kernels (all >= 5.9 by
# their version string) it leaves conn_reuse_mode alone and writes conntrack/expire_nodest_conn=1.
KUBE_PROXY_VERSION = "v1.28.4"

KERNELS = {
    "bookworm-6.1": {"suite": "bookworm", "kernel": "stock", "label": "Debian 12, stock 6.1"},
    "bullseye-5.10": {"suite": "bullseye", "kernel": "stock", "label": "Debian 11, stock 5.10"},
    "lab-6.1": {"suite": "bookworm", "kernel": "lab", "label": "lab kernel: 6.1 with the pre-5.9 condition"},
    "lab-nofix1-6.1": {"suite": "bookworm", "kernel": "lab-nofix1",
                       "label": "lab kernel: 6.1 with the pre-5.9 condition, without the weight-0 fix"},
}

# Site knowledge the operator gives the collection: the lab kernels still say 6.1, but their IPVS
# reuse condition is the pre-5.9 one (tests/guests/lab-kernel/README.md). The weight-0 fix
# (c95c07836fa4) is in the 6.1 source: the first lab kernel keeps it, the second reverts it, as no
# real kernel before 5.9 has it. Each entry matches only its own build's release suffix.
LAB_KNOWN_KERNELS = [{
    "name": "lab pre-5.9 rebuild",
    "release_regex": "-ipvs-prefix-lab",
    "syn_drop_fix": False,
    "drained_backend_fix": True,
    "source": "tests/guests/lab-kernel",
}, {
    "name": "lab pre-5.9 rebuild without the weight-0 fix",
    "release_regex": "-ipvs-nofix2-nofix1-lab$",
    "syn_drop_fix": False,
    "drained_backend_fix": False,
    "source": "tests/guests/lab-kernel",
}]

# (conn_reuse_mode, expire_nodest_conn) of each row
SETTINGS = [(0, 0), (0, 1), (1, 0), (1, 1)]
STATE_FILE = "/etc/sysctl.d/60-kubenode-lab-node-state.conf"
PIN_FILES = "/etc/sysctl.d/90-kubenode-lab-pin.conf"
PROBE_PATH = "/usr/local/lib/kube-proxy-stand-in/reuse_probe.py"


def log(kernel, message):
    sys.stderr.write("[%s] lab %s: %s\n" % (time.strftime("%H:%M:%S", time.gmtime()), kernel, message))
    sys.stderr.flush()


def run(argv, **kwargs):
    kwargs.setdefault("check", True)
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("universal_newlines", True)
    check = kwargs.pop("check", False)
    return subprocess.run(argv, check=check, **kwargs)


def measured_verdict(measurement):
    """problem2 / problem1 / safe from what the probe saw (see the module docstring)."""
    count = measurement["count"]
    reuse_slow = measurement["reuse"]["slow"] * 2 > count
    drained_hits = measurement["drain"]["hits_on_drained"] > 0
    if reuse_slow and drained_hits:
        return "problem1+problem2"
    if reuse_slow:
        return "problem2"
    if drained_hits:
        return "problem1"
    return "safe"


class Guest:
    """One booted guest and the ways the lab talks to it."""

    def __init__(self, kernel_id, workdir):
        self.kernel_id = kernel_id
        self.spec = KERNELS[kernel_id]
        self.name = "lab-" + kernel_id
        self.workdir = workdir
        self.port = None
        self.key = os.path.join(CACHE, "ssh", "id_ed25519")
        self.inventory = os.path.join(workdir, "inventory.ini")

    def boot(self, keep):
        state = os.path.join(CACHE, "run", self.name)
        if keep and os.path.isfile(os.path.join(state, "port")):
            # --keep-guest: reuse the guest a previous --keep-guest run left running (development only).
            with open(os.path.join(state, "port")) as handle:
                self.port = int(handle.read())
            self.write_inventory()
            return
        out = run([os.path.join(GUESTS, "boot.sh"), self.name, self.spec["suite"], self.spec["kernel"]])
        self.port = int(out.stdout.strip().splitlines()[-1])
        self.write_inventory()

    def write_inventory(self):
        with open(self.inventory, "w") as handle:
            handle.write(
                "%s ansible_host=127.0.0.1 ansible_port=%d ansible_user=root ansible_ssh_private_key_file=%s "
                "ansible_python_interpreter=/usr/bin/python3 ansible_pipelining=true ansible_timeout=60 "
                "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n"
                % (self.name, self.port, self.key))

    def stop(self):
        run([os.path.join(GUESTS, "stop.sh"), self.name], check=False)

    def ssh(self, command):
        # Exit status 255 is ssh's own failure (a TCG guest on a busy host can miss a connect
        # timeout): try again. The commands sent here can be repeated safely.
        for attempt in range(3):
            result = run([os.path.join(GUESTS, "ssh.sh"), self.name, command], check=False)
            if result.returncode != 255:
                break
            log(self.kernel_id, "ssh failed (attempt %d), retrying" % (attempt + 1))
            time.sleep(5)
        if result.returncode != 0:
            raise RuntimeError("ssh %r failed with exit %d" % (command, result.returncode))
        return result.stdout

    def copy(self, src, dest):
        run(["scp", "-q", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "LogLevel=ERROR", "-i", self.key, "-P", str(self.port), src, "root@127.0.0.1:" + dest])

    def playbook(self, playbook, extra_vars, log_name):
        path = os.path.join(self.workdir, log_name + ".vars.json")
        with open(path, "w") as handle:
            json.dump(extra_vars, handle)
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
        with open(os.path.join(self.workdir, log_name + ".log"), "w") as output:
            result = subprocess.run(["ansible-playbook", "-i", self.inventory, "-e", "@" + path, playbook],
                                    stdout=output, stderr=subprocess.STDOUT, env=env, cwd=REPO, check=False)
        if result.returncode != 0:
            raise RuntimeError("%s failed (exit %d), see %s" % (playbook, result.returncode, output.name))


def step_name(setting, mitigated=False):
    """The row's name, as its log and work directory are named: conn_reuse_mode1-expire_nodest_conn0[-mitigated].

    The lab before 1.1.0 wrote crm1-end0[-mitigated]; readers go by a row's "setting", which both carry."""
    return "conn_reuse_mode%d-expire_nodest_conn%d%s" % (setting + ("-mitigated" if mitigated else "",))


def set_node_state(guest, conn_reuse_mode, expire_nodest_conn):
    """Write the setting to sysctl.d (dropping any earlier pin) and apply it; return the live values."""
    guest.ssh("set -e; rm -f %s; printf 'net.ipv4.vs.conn_reuse_mode = %d\\nnet.ipv4.vs.expire_nodest_conn = %d\\n' "
              "> %s; sysctl -q -p %s" % (PIN_FILES, conn_reuse_mode, expire_nodest_conn, STATE_FILE, STATE_FILE))
    return read_values(guest)


def read_values(guest):
    values = guest.ssh("cd /proc/sys/net/ipv4/vs && echo $(cat conn_reuse_mode conntrack expire_nodest_conn)").split()
    return dict(zip(("conn_reuse_mode", "conntrack", "expire_nodest_conn"), (int(v) for v in values)))


def measure(guest, sport, count):
    out = guest.ssh("ip netns exec client python3 %s --sport %d --count %d" % (PROBE_PATH, sport, count))
    measurement = json.loads(out)
    errors = measurement["reuse"]["errors"] + measurement["drain"]["errors"]
    if errors:
        raise RuntimeError("%d probe connections failed: %s" % (errors, json.dumps(measurement)))
    return measurement


def assess(guest, step):
    out_dir = os.path.join(guest.workdir, step)
    os.makedirs(out_dir, exist_ok=True)
    guest.playbook(os.path.join(LAB_DIR, "assess.yml"),
                   {"lab_kube_proxy_version": KUBE_PROXY_VERSION, "lab_known_kernels": LAB_KNOWN_KERNELS,
                    "lab_out_dir": out_dir}, step + "-assess")
    with open(os.path.join(out_dir, "ipvs_reuse.json")) as handle:
        facts = json.load(handle)
    return facts


def assess_vars(out_dir):
    return {"assess_proxy_mode": "ipvs", "assess_kube_proxy_version": KUBE_PROXY_VERSION,
            "assess_known_kernels": LAB_KNOWN_KERNELS, "assess_metrics_url": "",
            "assess_report_dir": os.path.join(out_dir, "report"), "assess_publish_stats": False}


def has_pin_role():
    return os.path.isdir(os.path.join(REPO, "roles", "pin_sysctl"))


def unpin(guest, step):
    """Remove an earlier pin so the next row starts from its own state."""
    if has_pin_role():
        guest.playbook(os.path.join(LAB_DIR, "unpin.yml"), {}, step + "-unpin")


def mitigate(guest, classification, step):
    """Apply the collection's mitigation; return how it was applied."""
    out_dir = os.path.join(guest.workdir, step)
    os.makedirs(out_dir, exist_ok=True)
    if has_pin_role():
        # The collection's own path: playbooks/mitigate.yml assesses, then runs pin_sysctl where chosen.
        # No Kubernetes API here, so the os_upgrade_flag part is off.
        extra = dict(assess_vars(out_dir), ipvs_reuse_os_upgrade_flag=False)
        guest.playbook(os.path.join(REPO, "playbooks", "mitigate.yml"), extra, step + "-mitigate")
        return "playbooks/mitigate.yml (pin_sysctl role)"
    guest.playbook(os.path.join(LAB_DIR, "pin-fallback.yml"), {"lab_pin_value": classification["pin_value"]},
                   step + "-mitigate")
    return "lab fallback (ansible.posix.sysctl)"


def row(guest, step, setting, values, measurement, facts, applied=None):
    classification = facts["classification"]
    measured = measured_verdict(measurement)
    verdict = classification["verdict"]
    live = (classification.get("states") or {}).get("live", {}).get("verdict")
    result = {
        "kernel_id": guest.kernel_id,
        "kernel": facts["kernel"]["release"],
        "label": guest.spec["label"],
        "step": step,
        "setting": {"conn_reuse_mode": setting[0], "expire_nodest_conn": setting[1]},
        "live": values,
        "mitigation_applied": applied,
        "count": measurement["count"],
        "reuse_median_ms": measurement["reuse"]["median_ms"],
        "reuse_slow": measurement["reuse"]["slow"],
        "drain_hits": measurement["drain"]["hits_on_drained"],
        "drain_median_ms": measurement["drain"]["median_ms"],
        "drain_slow": measurement["drain"]["slow"],
        "measured": measured,
        "verdict": verdict,
        "live_state_verdict": live,
        "mitigation": classification["mitigation"],
        "pin_value": classification.get("pin_value"),
        "syn_drop_fix": classification.get("syn_drop_fix"),
        "drained_backend_fix": classification.get("drained_backend_fix"),
        "match": verdict == measured,
        "measurement": measurement,
        "reasons": [reason.get("text") for reason in classification.get("reasons", [])],
    }
    log(guest.kernel_id, "%s conn_reuse_mode=%d expire_nodest_conn=%d: reuse median %.0f ms (%d/%d slow), drained backend %d/%d -> "
        "measured %s, collection says %s%s%s" % (
            step, values["conn_reuse_mode"], values["expire_nodest_conn"], result["reuse_median_ms"],
            result["reuse_slow"], result["count"], result["drain_hits"], result["count"], measured, verdict,
            "" if result["match"] else "  MISMATCH",
            "  MITIGATION DID NOT MAKE IT SAFE" if applied is not None and measured != "safe" else ""))
    return result


def checkout_commit():
    """The commit the collection under test was at ("+changes" when the checkout had uncommitted ones)."""
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, universal_newlines=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, universal_newlines=True, check=False).stdout.strip()
    return (head or "unknown") + ("+changes" if dirty else "")


def lab_fixes(rows):
    """(syn_drop_fix, drained_backend_fix) as this lab run measured them on one kernel, None where its rows do not
    tell.

    syn_drop_fix: the reuse connects with conn_reuse_mode=1 (both expire_nodest_conn rows) were slow (False) or fast
    (True). drained_backend_fix: with conn_reuse_mode=0 and expire_nodest_conn=1 the drained backend got hits (False)
    or none (True). Rows are found by their setting, so rows written before 1.1.0 (other step names) count too.
    """
    by_setting = dict(((r["setting"]["conn_reuse_mode"], r["setting"]["expire_nodest_conn"]), r)
                      for r in rows if not r["mitigation_applied"])
    slow = [2 * by_setting[setting]["reuse_slow"] > by_setting[setting]["count"] for setting in ((1, 0), (1, 1))
            if setting in by_setting]
    syn_drop_fix = None if not slow or len(set(slow)) != 1 else not slow[0]
    drain = by_setting.get((0, 1))
    drained_backend_fix = None if drain is None else drain["drain_hits"] == 0
    return syn_drop_fix, drained_backend_fix


def reset_to_stand_in(guest, step):
    """Back to the node as the stand-in left it: no pin, no row's sysctl.d file, the kernel's default
    conn_reuse_mode, then the stand-in's kube-proxy start sysctls (conntrack=1, expire_nodest_conn=1)."""
    unpin(guest, step)
    guest.ssh("set -e; rm -f %s %s; sysctl -q -w net.ipv4.vs.conn_reuse_mode=1 net.ipv4.vs.expire_nodest_conn=0; "
              "kube-proxy-stand-in sysctls >/dev/null" % (STATE_FILE, PIN_FILES))
    return read_values(guest)


def probe_on_lab_guest(guest, rows, workdir):
    """kernel_probe_lab's checks (steps 3-7) on this booted lab guest, held to the fixes these rows measured."""
    started = time.monotonic()
    measured = lab_fixes(rows)
    listed = kernel_probe_lab.EXPECTED.get(guest.kernel_id)
    report = {"kernel_id": guest.kernel_id, "expected": {"syn_drop_fix": measured[0], "drained_backend_fix": measured[1]},
              "expected_from": "this lab run's rows (lab_fixes)", "job": "lab-%s --probe" % guest.kernel_id,
              "checks": {}, "runs": {}}
    report["checks"]["lab rows tell both fixes, as kernel_probe_lab.EXPECTED lists them"] = (
        None not in measured and measured == listed)
    try:
        values = reset_to_stand_in(guest, "probe")
        report["node_state"] = values
        log(guest.kernel_id, "kernel probe checks on this guest (node back to the stand-in's state %s), "
            "held to the lab's syn_drop_fix=%s drained_backend_fix=%s" % (values, measured[0], measured[1]))
        probe_guest = kernel_probe_lab.Guest(guest.kernel_id, name=guest.name, port=guest.port)
        kernel_probe_lab.probe_checks(probe_guest, guest.kernel_id, report, measured,
                                      workdir=os.path.join(workdir, "probe"))
    except Exception as exc:  # noqa: BLE001 - keep the checks made so far, fail the job
        report["error"] = str(exc)
        log(guest.kernel_id, "kernel probe FAILED: %s" % exc)
    return kernel_probe_lab.finish_report(report, started)


def run_kernel(kernel_id, count, keep_workdir=None, keep_guest=False, probe=False):
    workdir = keep_workdir or tempfile.mkdtemp(prefix="kubenode-lab-%s-" % kernel_id)
    os.makedirs(workdir, exist_ok=True)
    guest = Guest(kernel_id, workdir)
    started = time.monotonic()
    rows = []
    error = None
    probe_report = None
    try:
        log(kernel_id, "booting (%s); logs in %s" % (guest.spec["label"], workdir))
        guest.boot(keep_guest)
        guest.playbook(os.path.join(REPO, "molecule", "resources", "prepare.yml"),
                       {"kube_proxy_stand_in_version": KUBE_PROXY_VERSION}, "prepare")
        guest.copy(os.path.join(LAB_DIR, "reuse_probe.py"), PROBE_PATH)
        sport = 20000
        pending = []
        for setting in SETTINGS:
            step = step_name(setting)
            values = set_node_state(guest, *setting)
            if (values["conn_reuse_mode"], values["expire_nodest_conn"]) != setting or values["conntrack"] != 1:
                raise RuntimeError("could not set %s: live values %s" % (step, values))
            measurement = measure(guest, sport, count)
            sport += 10
            result = row(guest, step, setting, values, measurement, assess(guest, step))
            rows.append(result)
            if result["mitigation"] == "pin_sysctl":
                pending.append((setting, result))
        # Mitigations last, each from its own starting state: a pin must not leak into the other rows.
        for setting, before in pending:
            step = step_name(setting, mitigated=True)
            unpin(guest, step)
            set_node_state(guest, *setting)
            applied = mitigate(guest, {"pin_value": before["pin_value"]}, step)
            values = read_values(guest)
            measurement = measure(guest, sport, count)
            sport += 10
            rows.append(row(guest, step, setting, values, measurement, assess(guest, step), applied=applied))
        if probe:
            os.makedirs(os.path.join(workdir, "probe"), exist_ok=True)
            probe_report = probe_on_lab_guest(guest, rows, workdir)
    except Exception as exc:  # noqa: BLE001 - keep the rows measured so far, report the failure
        error = str(exc)
        log(kernel_id, "FAILED: %s" % error)
    finally:
        if not keep_guest:
            guest.stop()
    log(kernel_id, "done in %.0f s" % (time.monotonic() - started))
    result = {"kernel_id": kernel_id, "seconds": round(time.monotonic() - started), "rows": rows,
              "commit": checkout_commit()}
    if error:
        result["error"] = error
    if probe:
        result["probe"] = probe_report or {"kernel_id": kernel_id, "ok": False, "checks": {},
                                           "error": "not run: the lab failed first (%s)" % error}
    return result


def row_ok(result_row):
    """A row passes when the verdict matches the measurement and, after a mitigation, the node measures safe."""
    return result_row["match"] and (result_row["mitigation_applied"] is None or result_row["measured"] == "safe")


def ok(results):
    return all(row_ok(r) for result in results for r in result["rows"]) and all(
        result.get("rows") for result in results)


def fix_text(value):
    return {True: "present", False: "missing", None: "not measured"}[value]


def probe_lines(results, probes):
    """The kernel probe beside the lab: one row per lab kernel, from the probe jobs' JSON (run_lab --probe or
    kernel_probe_lab --json); a kernel whose probe did not run in this run says so."""
    lines = [
        "## The kernel probe beside the lab",
        "",
        "The collection's kernel probe (`ipvs_kernel_probe`, `plugins/module_utils/kernel_probe.py`) measured each lab",
        "kernel in throwaway network namespaces of the same guests (`tests/lab/kernel_probe_lab.py`: probe-<kernel> jobs",
        "on a guest of their own, or `run_lab.py --probe` after the rows above on the lab's guest). **lab** is what",
        "the rows above measured: `syn_drop_fix` missing when the `conn_reuse_mode=1` reuse connects were slow,",
        "`drained_backend_fix` missing when the drained backend got hits with `conn_reuse_mode=0`, `expire_nodest_conn=1`. **host state**: `ipvsadm -Ln`,",
        "the `net.ipv4.vs` sysctls, `iptables-save`, `iptables-legacy-save`, `nft list ruleset`, `ip netns list`, the",
        "loaded modules and the links, compared before and after a probe and after a killed probe plus the next run.",
        "",
        "| kernel | probe: syn_drop_fix (reuse connects) | probe: drained_backend_fix (drained hits) | probe time |"
        " lab: syn_drop_fix / drained_backend_fix |"
        " match | host state | checks |",
        "|---|---|---|---:|---|---|---|---|",
    ]
    by_kernel = dict((p["kernel_id"], p) for p in probes)
    for result in results:
        kernel_id = result["kernel_id"]
        lab = lab_fixes(result["rows"])
        label = "%s `%s`" % (KERNELS[kernel_id]["label"], result["rows"][0]["kernel"]) if result["rows"] else kernel_id
        report = by_kernel.get(kernel_id)
        first = ((report or {}).get("runs") or {}).get("first")
        if not first:
            lines.append("| %s | not run in this run | | | %s / %s | - | - | %s |" % (
                label, fix_text(lab[0]), fix_text(lab[1]), (report or {}).get("error", "no probe job")))
            continue
        reuse, drain = first.get("reuse") or {}, first.get("drain") or {}
        measured = kernel_probe_lab.fixes_of(first)
        checks = report.get("checks") or {}
        state_checks = [name for name in checks if "byte-identical" in name]
        lines.append("| %s | %s (median %s ms, %s/%s slow) | %s (%s/%s) | %s s | %s / %s | %s | %s | %d/%d ok (%s) |" % (
            label, fix_text(measured[0]), reuse.get("median_ms"), reuse.get("slow"),
            len(reuse.get("connections") or []), fix_text(measured[1]), drain.get("hits_on_drained"),
            len(drain.get("connections") or []), first.get("duration_s"), fix_text(lab[0]), fix_text(lab[1]),
            "yes" if measured == lab else "**NO**",
            "identical" if state_checks and all(checks[name] for name in state_checks) else "**changed**",
            sum(1 for ok_ in checks.values() if ok_), len(checks), report.get("job", "probe")))
    return lines + [""]


def markdown(results, command, probes=()):
    lines = [
        "# The lab: both problems measured on real kernels, beside the collection's verdicts",
        "",
        "Generated by `%s` on %s (UTC). Every number below was measured in a qemu (TCG) guest with"
        % (command, datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")),
        "real `ip_vs`; every verdict is what the collection's `assess` role said about that guest in",
        "that state. A row whose verdict differs from the measurement fails the lab.",
        "",
        "How to read it:",
        "",
        "- **reuse connect**: median `connect()` time of %d connections that reuse one client ip:port"
        % results[0]["rows"][0]["count"] if results and results[0]["rows"] else "- **reuse connect**: see below",
        "  (all backends at weight 1), and how many took >= 500 ms. Problem 2 is ~1000 ms: IPVS dropped",
        "  the first SYN and the client retransmitted.",
        "- **drained hits**: of the same number of new connections from a reused port, how many reached",
        "  the backend that served the earlier connection after it was drained to weight 0 (as",
        "  kube-proxy does for a terminating pod). Problem 1 is any hit.",
        "- **measured**: problem2 if most reuse connects were slow, problem1 if the drained backend was",
        "  hit, safe if neither. **verdict**: the collection's `classification.verdict`, with the",
        "  mitigation it chose.",
        "- The setting is written to `/etc/sysctl.d` and applied, so the node's state now, after a",
        "  kube-proxy restart (the stand-in mimics kube-proxy %s, which leaves `conn_reuse_mode`" % KUBE_PROXY_VERSION,
        "  alone on these kernels) and after a reboot are the same.",
        "",
        "| kernel | conn_reuse_mode | expire_nodest_conn | reuse connect median (slow) | drained hits |"
        " measured | verdict (mitigation) | match |",
        "|---|---:|---:|---|---:|---|---|---|",
    ]
    for result in results:
        for r in result["rows"]:
            if r["mitigation_applied"]:
                continue
            lines.append("| %s `%s` | %d | %d | %.0f ms (%d/%d) | %d/%d | %s | %s (%s) | %s |" % (
                r["label"], r["kernel"], r["live"]["conn_reuse_mode"], r["live"]["expire_nodest_conn"],
                r["reuse_median_ms"], r["reuse_slow"], r["count"], r["drain_hits"], r["count"], r["measured"],
                r["verdict"], r["mitigation"] if r["pin_value"] is None else
                "%s=%d" % (r["mitigation"], r["pin_value"]), "yes" if r["match"] else "**NO**"))
    lines += [
        "",
        "## After the collection's mitigation",
        "",
        "Where the verdict came with `pin_sysctl`, the lab applied it from the same starting state and",
        "measured again. A row passes when the verdict matches the measurement and the node measures safe.",
        "",
        "| kernel | starting state (conn_reuse_mode/expire_nodest_conn) | applied |"
        " live after (conn_reuse_mode/expire_nodest_conn) | reuse connect median (slow) |"
        " drained hits | measured | verdict | match |",
        "|---|---|---|---|---|---:|---|---|---|",
    ]
    any_mitigated = False
    for result in results:
        for r in result["rows"]:
            if not r["mitigation_applied"]:
                continue
            any_mitigated = True
            lines.append("| %s `%s` | %d/%d | %s, conn_reuse_mode=%s | %d/%d | %.0f ms (%d/%d) | %d/%d | %s | %s | %s |" % (
                r["label"], r["kernel"], r["setting"]["conn_reuse_mode"], r["setting"]["expire_nodest_conn"],
                r["mitigation_applied"], r["live"]["conn_reuse_mode"], r["live"]["conn_reuse_mode"],
                r["live"]["expire_nodest_conn"], r["reuse_median_ms"], r["reuse_slow"], r["count"],
                r["drain_hits"], r["count"], r["measured"], r["verdict"], "yes" if row_ok(r) else "**NO**"))
    if not any_mitigated:
        lines.append("| - | no verdict chose pin_sysctl | | | | | | | |")
    lines += [
        "",
        "Wall time per kernel (boot, prepare, all rows) and the commit each ran on: %s." % ", ".join(
            "%s %d s (%s)" % (result["kernel_id"], result["seconds"], result.get("commit", "commit not recorded"))
            for result in results),
        "",
    ]
    if probes:
        lines += probe_lines(results, probes)
    incomplete = [result for result in results if result.get("error")]
    if incomplete:
        lines += ["**Incomplete, the lab failed:**", ""]
        lines += ["- %s: %s" % (result["kernel_id"], result["error"]) for result in incomplete]
        lines.append("")
    with open(os.path.join(LAB_DIR, "method.md")) as handle:
        return "\n".join(lines) + "\n" + handle.read()


def load_reports(paths):
    """JSON files holding a list of results or one result each."""
    loaded = []
    for path in paths:
        with open(path) as handle:
            data = json.load(handle)
        loaded.extend(data if isinstance(data, list) else [data])
    return loaded


def main():
    parser = argparse.ArgumentParser(description="Measure both problems on real kernels; compare with the verdicts.")
    parser.add_argument("--kernel", action="append", choices=sorted(KERNELS),
                        help="kernel(s) to run (default: all)")
    parser.add_argument("--count", type=int, default=7, help="reuse connections per measurement (default 7)")
    parser.add_argument("--parallel", type=int, default=int(os.environ.get("KUBENODE_GUEST_JOBS", "2")),
                        help="guests at a time (default 2: TCG guests are CPU-bound)")
    parser.add_argument("--probe", action="store_true",
                        help="after the rows, run the kernel probe's checks on the same guest (kernel_probe_lab.py)")
    parser.add_argument("--json", help="write the results as JSON here (no docs/lab.md)")
    parser.add_argument("--probe-json", help="with --probe: write the probe reports as JSON here")
    parser.add_argument("--report", nargs="+", metavar="JSON", help="merge per-kernel JSON results into the doc")
    parser.add_argument("--probe-report", nargs="*", default=[], metavar="JSON",
                        help="with --report: the probe jobs' JSON (kernel_probe_lab.py --json, run_lab.py --probe-json)")
    parser.add_argument("--doc", default=os.path.join(REPO, "docs", "lab.md"), help="Markdown output")
    parser.add_argument("--workdir", help="keep logs here (default: a temporary directory per kernel)")
    parser.add_argument("--keep-guest", action="store_true",
                        help="development: leave the guest running and reuse it on the next --keep-guest run")
    args = parser.parse_args()

    command = "python3 tests/lab/run_lab.py"
    probes = []
    if args.report:
        results = load_reports(args.report)
        probes = load_reports(args.probe_report)
    else:
        kernels = args.kernel or list(KERNELS)
        results = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
            futures = {pool.submit(run_kernel, kernel_id, args.count,
                                   os.path.join(args.workdir, kernel_id) if args.workdir else None,
                                   args.keep_guest, args.probe): kernel_id
                       for kernel_id in kernels}
            for future in concurrent.futures.as_completed(futures):
                try:
                    results.append(future.result())
                except Exception as exc:  # noqa: BLE001 - report every kernel, then fail
                    log(futures[future], "FAILED: %s" % exc)
                    results.append({"kernel_id": futures[future], "seconds": 0, "rows": [], "error": str(exc)})
        results.sort(key=lambda result: list(KERNELS).index(result["kernel_id"]))
        probes = [result.pop("probe") for result in results if "probe" in result]
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(results, handle, indent=1)
                handle.write("\n")
        if args.probe_json:
            with open(args.probe_json, "w") as handle:
                json.dump(probes, handle, indent=1)
                handle.write("\n")
    if not args.json:
        results.sort(key=lambda result: list(KERNELS).index(result["kernel_id"]))
        with open(args.doc, "w") as handle:
            handle.write(markdown(results, command + ("" if args.report or not args.kernel else " " + " ".join(
                "--kernel " + shlex.quote(k) for k in args.kernel)), probes))
        log("all", "wrote %s" % args.doc)
    failed = [r for result in results for r in result["rows"] if not row_ok(r)]
    errors = [result for result in results if result.get("error") or not result.get("rows")]
    for r in failed:
        log(r["kernel_id"], "FAILED %s: measured %s, verdict %s%s" % (
            r["step"], r["measured"], r["verdict"], "" if r["match"] else " (mismatch)"))
    for result in errors:
        log(result["kernel_id"], "no results: %s" % result.get("error"))
    # A probe report merged with --report was judged by its own job already; a probe run here fails this run.
    probe_failed = [] if args.report else [p for p in probes if not p.get("ok")]
    for report in probe_failed:
        log(report["kernel_id"], "kernel probe checks FAILED: %s" % (
            report.get("error") or ", ".join(name for name, ok_ in report["checks"].items() if not ok_)))
    return 0 if not failed and not errors and not probe_failed else 1


if __name__ == "__main__":
    sys.exit(main())
