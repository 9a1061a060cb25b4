"""The kernel probe (plugins/module_utils/kernel_probe.py) on a real guest, held to the lab's own results.

For one kernel (one qemu guest, booted through tests/guests/boot.sh):

1. before the node looks like a kube-proxy IPVS node (ip_vs not loaded): the probe must refuse, return null
   results, and load no kernel module;
2. install the kube-proxy stand-in (molecule/resources/files, the lab's node);
3. take the host's state (ipvsadm -Ln, net.ipv4.vs sysctls, iptables-save, nft list ruleset, ip netns list,
   loaded modules, links), run the probe, take the state again: it must be byte-identical, and the probe's
   syn_drop_fix/drained_backend_fix must equal what the lab measured on this kernel (EXPECTED, from docs/lab.md and
   ../shared/lab/real-nodes.md);
4. run the probe while the stand-in's own service traffic flows from its client namespace: no request of that
   traffic may fail;
5. kill a probe mid-way (SIGKILL once its namespaces exist), check that it left namespaces behind, run again:
   the new run must remove them, measure the same, and leave the state identical;
6. run the collection's module (kubenode.ipvs_reuse.ipvs_kernel_probe) once through Ansible;
7. run playbooks/assess.yml with assess_kernel_probe on and no known_kernels entry: the verdict must follow the
   measurement, and where the version rules disagree (the lab kernel still says 6.1) the report must warn.

  /work/bin/guest-slot python3 tests/lab/kernel_probe_lab.py --kernel lab-6.1 --json out.json

The probe runs directly with the guest's python3 in steps 1-5 (the file is standard library only), so the
timings are the probe's own, without Ansible's module start-up; step 6 adds the module path.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(LAB_DIR))
GUESTS = os.path.join(REPO, "tests", "guests")
FILES = os.path.join(REPO, "molecule", "resources", "files")
PROBE = os.path.join(REPO, "plugins", "module_utils", "kernel_probe.py")
CACHE = os.environ.get("KUBENODE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "kubenode-ipvs-reuse")

KERNELS = {
    "bookworm-6.1": {"suite": "bookworm", "kernel": "stock"},
    "bullseye-5.10": {"suite": "bullseye", "kernel": "stock"},
    "lab-6.1": {"suite": "bookworm", "kernel": "lab"},
    "lab-nofix1-6.1": {"suite": "bookworm", "kernel": "lab-nofix1"},
}
# What the lab measured with its own method on these kernels (docs/lab.md; ../shared/lab/real-nodes.md):
# stock kernels carry both fixes; the lab kernel has the pre-5.9 SYN-drop condition and keeps c95c07836fa4;
# the second lab kernel also reverts c95c07836fa4. tests/lab/run_lab.py --probe holds the probe to the rows it
# measured on the same guest instead (lab_fixes there), and checks those against this table too.
# Each as (syn_drop_fix, drained_backend_fix).
EXPECTED = {"bookworm-6.1": (True, True), "bullseye-5.10": (True, True), "lab-6.1": (False, True),
            "lab-nofix1-6.1": (False, False)}

# The host's IPVS table is compared as configuration: `ipvsadm -Ln` without its ActiveConn/InActConn columns, and
# `ipvsadm -Sn`. Those two counters move with the node's own traffic: on 2026-12-02 (probe-bullseye-5.10) the raw
# -Ln differed after the kill step, which began seconds after the traffic step's requests (their TIME_WAIT entries,
# kept 120 s, expiring in between is the likely cause; that run kept no text of the difference). The raw output is
# still taken, and what changed in it is reported (counters_changed_*) next to the comparison.
IPVS_TABLE = "ipvsadm -Ln 2>&1 | awk '$1 == \"->\" {print $1, $2, $3, $4; next} {print}'"
STATE_COMMANDS = (
    ("ipvsadm -Ln (without the connection counters)", IPVS_TABLE),
    ("ipvsadm -Sn", "ipvsadm -Sn 2>&1"),
    ("net.ipv4.vs sysctls", "sysctl -a 2>/dev/null | grep '^net\\.ipv4\\.vs\\.' | grep -v '^net.ipv4.vs.drop_rate'"),
    ("iptables-save", "iptables-save 2>&1 | grep -v '^#'"),
    ("iptables-legacy-save", "iptables-legacy-save 2>&1 | grep -v '^#'"),
    ("nft list ruleset", "nft list ruleset 2>&1"),
    ("ip netns list", "ip netns list 2>&1"),
    ("kernel modules", "cut -d' ' -f1 /proc/modules | sort"),
    ("links", "ip -o link show | sed 's/ qlen.*//'"),
)
RUN_PROBE = ("python3 -c 'import json, sys; sys.path.insert(0, \"/root\"); import kernel_probe; "
             "print(json.dumps(kernel_probe.run_probe(timeout=%s)))'")


def fixes_of(result):
    """(syn_drop_fix, drained_backend_fix) of a probe or module result; a result of the code before 1.1.0 (kept
    JSON) names them fix2/fix1."""
    return tuple(result[name] if name in result else result.get(old)
                 for name, old in (("syn_drop_fix", "fix2"), ("drained_backend_fix", "fix1")))


def log(message):
    sys.stderr.write("[%s] kernel probe lab: %s\n" % (time.strftime("%H:%M:%S", time.gmtime()), message))
    sys.stderr.flush()


class Guest:
    def __init__(self, kernel_id, name=None, port=None):
        self.name = name or "probe-" + kernel_id
        self.spec = KERNELS[kernel_id]
        self.key = os.path.join(CACHE, "ssh", "id_ed25519")
        self.port = port

    def boot(self):
        out = subprocess.run([os.path.join(GUESTS, "boot.sh"), self.name, self.spec["suite"], self.spec["kernel"]],
                             stdout=subprocess.PIPE, universal_newlines=True, check=True)
        self.port = int(out.stdout.strip().splitlines()[-1])

    def stop(self):
        subprocess.run([os.path.join(GUESTS, "stop.sh"), self.name], check=False)

    def ssh(self, command, check=True):
        for _attempt in range(3):
            result = subprocess.run([os.path.join(GUESTS, "ssh.sh"), self.name, command], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, universal_newlines=True, check=False)
            if result.returncode != 255:
                break
            time.sleep(5)
        if check and result.returncode != 0:
            raise RuntimeError("ssh %r: exit %d: %s" % (command, result.returncode, result.stderr.strip()))
        return result.stdout

    def copy(self, src, dest):
        subprocess.run(["scp", "-q", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                        "-o", "LogLevel=ERROR", "-i", self.key, "-P", str(self.port), src, "root@127.0.0.1:" + dest],
                       check=True)


RAW_IPVS = "ipvsadm -Ln (raw, with counters)"


def host_state(guest):
    state = dict((label, guest.ssh(command, check=False)) for label, command in STATE_COMMANDS)
    state[RAW_IPVS] = guest.ssh("ipvsadm -Ln 2>&1", check=False)
    return state


def state_diff(before, after):
    return [label for label in before if label != RAW_IPVS and before[label] != after[label]]


def counters_changed(before, after):
    """The raw `ipvsadm -Ln` lines that differ (only counters, when state_diff is empty), for the report."""
    old, new = before[RAW_IPVS].splitlines(), after[RAW_IPVS].splitlines()
    return [[a, b] for a, b in zip(old, new) if a != b] + ([["lines", "%d -> %d" % (len(old), len(new))]]
                                                           if len(old) != len(new) else [])


def probe(guest, timeout=60):
    started = time.monotonic()
    out = guest.ssh(RUN_PROBE % timeout)
    result = json.loads(out.strip().splitlines()[-1])
    result["ssh_wall_s"] = round(time.monotonic() - started, 2)
    log("probe: syn_drop_fix=%s drained_backend_fix=%s in %s s (%s) timings %s; %s | %s" % (
        result.get("syn_drop_fix"), result.get("drained_backend_fix"), result.get("duration_s"),
        result.get("reason") or "measured", result.get("timings_ms"), result.get("syn_drop_fix_reason"),
        result.get("drained_backend_fix_reason")))
    return result


def install_stand_in(guest):
    guest.ssh("mkdir -p /usr/local/lib/kube-proxy-stand-in")
    guest.copy(os.path.join(FILES, "kube-proxy-stand-in"), "/usr/local/sbin/kube-proxy-stand-in")
    guest.copy(os.path.join(FILES, "backend.py"), "/usr/local/lib/kube-proxy-stand-in/backend.py")
    guest.ssh("chmod 755 /usr/local/sbin/kube-proxy-stand-in /usr/local/lib/kube-proxy-stand-in/backend.py && "
              "echo KUBE_PROXY_VERSION=v1.28.4 > /etc/default/kube-proxy-stand-in && "
              "kube-proxy-stand-in start 2>&1 | tail -3")


def write_inventory(guest, workdir):
    inventory = os.path.join(workdir, "inventory.ini")
    with open(inventory, "w") as handle:
        handle.write("%s ansible_host=127.0.0.1 ansible_port=%d ansible_user=root ansible_ssh_private_key_file=%s "
                     "ansible_python_interpreter=/usr/bin/python3 ansible_pipelining=true ansible_timeout=60 "
                     "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n"
                     % (guest.name, guest.port, guest.key))
    return inventory


def run_module(guest, workdir):
    inventory = write_inventory(guest, workdir)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    started = time.monotonic()
    out = subprocess.run(["ansible", "-i", inventory, guest.name, "-m", "kubenode.ipvs_reuse.ipvs_kernel_probe",
                          "-a", "timeout=60"], cwd=REPO, env=env, stdout=subprocess.PIPE, universal_newlines=True,
                         check=False)
    wall = round(time.monotonic() - started, 2)
    try:
        result = json.loads(out.stdout)["plays"][0]["tasks"][0]["hosts"][guest.name]
    except (ValueError, KeyError, IndexError):
        raise RuntimeError("ansible ad-hoc run gave no result: %s" % out.stdout[-2000:])
    log("module through Ansible: syn_drop_fix=%s drained_backend_fix=%s, probe %s s, task wall %s s" % (
        result.get("syn_drop_fix"), result.get("drained_backend_fix"), result.get("probe", {}).get("duration_s"),
        wall))
    return {"syn_drop_fix": result.get("syn_drop_fix"), "drained_backend_fix": result.get("drained_backend_fix"),
            "deprecated_names": (result.get("fix2"), result.get("fix1")), "probe": result.get("probe"),
            "wall_s": wall, "changed": result.get("changed"), "failed": result.get("failed", False)}


def assess_with_probe(guest, workdir):
    """playbooks/assess.yml with assess_kernel_probe on, no known_kernels entry: the report's verdict and evidence."""
    inventory = write_inventory(guest, workdir)
    report_dir = os.path.join(workdir, "report")
    extra = {"assess_kernel_probe": True, "assess_kernel_probe_timeout": 90, "assess_proxy_mode": "ipvs",
             "assess_kube_proxy_version": "v1.28.4", "assess_metrics_url": "", "assess_report_dir": report_dir,
             "assess_publish_stats": False}
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    started = time.monotonic()
    with open(os.path.join(workdir, "assess.log"), "w") as output:
        result = subprocess.run(["ansible-playbook", "-i", inventory, "-e", json.dumps(extra),
                                 os.path.join(REPO, "playbooks", "assess.yml")], cwd=REPO, env=env, stdout=output,
                                stderr=subprocess.STDOUT, check=False)
    wall = round(time.monotonic() - started, 1)
    if result.returncode != 0:
        raise RuntimeError("assess.yml failed (exit %d), see %s" % (result.returncode, output.name))
    with open(os.path.join(report_dir, "fleet.json")) as handle:
        record = json.load(handle)["nodes"][0]
    measured = [reason["text"] for reason in record["reasons"] if reason.get("confidence") == "measured"]
    log("assess with the probe: verdict %s, mitigation %s, syn_drop_fix %s (%s s); measured reasons: %s; "
        "warnings: %s" % (record["verdict"], record["mitigation"], record["syn_drop_fix"], wall, measured,
                          record["warnings"]))
    return {"verdict": record["verdict"], "mitigation": record["mitigation"], "syn_drop_fix": record["syn_drop_fix"],
            "measured_reasons": measured, "warnings": record["warnings"], "wall_s": wall}


# Step 5 in one SSH command: start a probe, watch /run/netns inside the guest until its four namespaces exist, then
# SIGKILL it (and its agents, which die with it). Polling from the controller over SSH was too slow under TCG: the
# probe had finished before the first poll came back.
KILL_MIDWAY = """rm -f /root/killed.json
%s >/root/killed.json 2>&1 &
pid=$!
i=0
while [ $i -lt 1200 ] && kill -0 $pid 2>/dev/null; do
    [ "$(ls /run/netns 2>/dev/null | grep -c '^kubenode-ipvsprobe-')" -ge 4 ] && break
    i=$((i+1)); sleep 0.1
done
kill -KILL $pid 2>/dev/null
sleep 1
ls /run/netns 2>/dev/null | grep '^kubenode-ipvsprobe-' || true
"""


def interrupted(guest):
    """SIGKILL a probe once its namespaces exist; return the leftovers it left."""
    left = guest.ssh(KILL_MIDWAY % (RUN_PROBE % 60)).split()
    log("killed a probe mid-way: %d namespaces left behind (%s)" % (len(left), ", ".join(left)))
    return left


def traffic_run(guest, report, checks, expected):
    """Step 4: a probe while the stand-in's own service traffic flows from its client namespace."""
    guest.ssh("rm -f /root/traffic.log; nohup ip netns exec client sh -c 'i=0; while [ $i -lt 400 ] && "
              "[ ! -e /root/traffic.stop ]; do curl -s -m 3 -o /dev/null -w \"%{http_code}\\n\" "
              "http://10.96.0.10/ || echo FAIL; i=$((i+1)); sleep 0.05; done' >/root/traffic.log 2>&1 &")
    time.sleep(2)
    during = probe(guest)
    guest.ssh("touch /root/traffic.stop; sleep 4; rm -f /root/traffic.stop")
    traffic = guest.ssh("cat /root/traffic.log").split()
    report["runs"]["during_traffic"] = during
    report["traffic"] = {"requests": len(traffic), "ok": traffic.count("200"),
                         "failed": len(traffic) - traffic.count("200")}
    log("stand-in traffic during the probe: %s" % report["traffic"])
    checks["probe with traffic = lab"] = fixes_of(during) == expected
    checks["stand-in traffic undisturbed"] = len(traffic) > 0 and traffic.count("200") == len(traffic)


def bare_node(guest, report, checks, expected):
    """Step 1, before the node looks like a kube-proxy IPVS node.

    With ip_vs as a module (stock kernels) it is not loaded yet: the probe must refuse with null results. The lab
    kernels have IPVS built in (/proc/sys/net/ipv4/vs exists from boot, as on such a node): there the probe measures.
    Either way it must not load a module.
    """
    builtin = guest.ssh("test -d /proc/sys/net/ipv4/vs && echo builtin || echo absent").strip() == "builtin"
    modules_before = guest.ssh("cut -d' ' -f1 /proc/modules | sort")
    first = probe(guest)
    report["runs"]["bare_node"] = first
    report["ipvs_at_boot"] = "built in" if builtin else "not loaded"
    if builtin:
        checks["bare node, IPVS built in: measured = lab"] = fixes_of(first) == expected
    else:
        checks["bare node: refused with null results"] = (
            fixes_of(first) == (None, None) and not first.get("probed"))
    checks["bare node: no module loaded"] = guest.ssh("cut -d' ' -f1 /proc/modules | sort") == modules_before


def probe_checks(guest, kernel_id, report, expected, with_module=True, quick=False, workdir=None):
    """Steps 3-7 on a booted guest that already runs the stand-in; fills report["checks"] and report["runs"]."""
    checks = report["checks"]
    workdir = workdir or tempfile.mkdtemp(prefix="kubenode-probe-lab-")
    guest.copy(PROBE, "/root/kernel_probe.py")
    report["kernel"] = guest.ssh("uname -r; cat /proc/sys/kernel/version").strip().splitlines()

    # 3. state before/after; the lab's answer
    before = host_state(guest)
    first = probe(guest)
    after = host_state(guest)
    report["runs"]["first"] = first
    checks["probe = lab (syn_drop_fix, drained_backend_fix)"] = fixes_of(first) == expected
    checks["host state byte-identical after the probe"] = not state_diff(before, after)
    report["state_diff_first"] = state_diff(before, after)
    report["counters_changed_first"] = counters_changed(before, after)
    report["state_compared"] = [label for label, _command in STATE_COMMANDS]
    if not quick:
        second = probe(guest)
        report["runs"]["second"] = second
        checks["second probe = lab"] = fixes_of(second) == expected
        traffic_run(guest, report, checks, expected)

    # 5. killed mid-way, then cleaned up and measured again
    before = host_state(guest)
    left = interrupted(guest)
    recovered = probe(guest)
    after = host_state(guest)
    report["runs"]["after_kill"] = recovered
    checks["killed probe left namespaces"] = len(left) > 0
    checks["next run removed them"] = sorted(recovered.get("leftovers_removed") or []) == sorted(left)
    checks["next run = lab"] = fixes_of(recovered) == expected
    checks["host state byte-identical after kill + recovery"] = not state_diff(before, after)
    report["state_diff_recovery"] = state_diff(before, after)
    report["counters_changed_recovery"] = counters_changed(before, after)

    if not with_module:
        return
    # 6. the module through Ansible
    module = run_module(guest, workdir)
    report["runs"]["module"] = module
    checks["module through Ansible = lab, not changed"] = (
        fixes_of(module) == expected and module["changed"] is False)
    checks["module's deprecated fix2/fix1 = its new names"] = module["deprecated_names"] == fixes_of(module)

    # 7. the assess role with the probe on: the measured verdict, without any known_kernels entry. The stand-in
    # (kube-proxy v1.28.4 on a kernel that says 6.1) leaves conn_reuse_mode at 1: problem 2 wherever syn_drop_fix is
    # missing.
    assessed = assess_with_probe(guest, workdir)
    report["runs"]["assess"] = assessed
    syn_drop_fix = expected[0]
    checks["assess with the probe: measured verdict"] = (
        assessed["syn_drop_fix"] is syn_drop_fix and assessed["verdict"] == ("safe" if syn_drop_fix else "problem2")
        and len(assessed["measured_reasons"]) == 2)
    if not syn_drop_fix:  # the version rules call this 6.1 kernel fixed: the report must warn
        checks["assess with the probe: disagreement warned"] = any(
            "report it upstream" in warning for warning in assessed["warnings"])


def finish_report(report, started):
    report["seconds"] = round(time.monotonic() - started)
    report["ok"] = not report.get("error") and all(report["checks"].values()) and bool(report["checks"])
    for name, passed in report["checks"].items():
        log("%-50s %s" % (name, "ok" if passed else "FAILED"))
    return report


def run_kernel(kernel_id, with_module, quick=False):
    guest = Guest(kernel_id)
    expected = EXPECTED[kernel_id]
    report = {"kernel_id": kernel_id, "expected": {"syn_drop_fix": expected[0], "drained_backend_fix": expected[1]},
              "expected_from": "EXPECTED (tests/lab/kernel_probe_lab.py)", "job": "probe-" + kernel_id,
              "checks": {}, "runs": {}}
    started = time.monotonic()
    try:
        log("booting %s" % kernel_id)
        guest.boot()
        report["boot_s"] = round(time.monotonic() - started, 1)
        guest.copy(PROBE, "/root/kernel_probe.py")
        bare_node(guest, report, report["checks"], expected)
        install_stand_in(guest)
        probe_checks(guest, kernel_id, report, expected, with_module, quick)
    except Exception as exc:  # noqa: BLE001 - report what was measured so far
        report["error"] = str(exc)
        log("FAILED: %s" % exc)
    finally:
        guest.stop()
    return finish_report(report, started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", required=True, choices=sorted(KERNELS))
    parser.add_argument("--json", help="write the report here")
    parser.add_argument("--no-module", action="store_true", help="skip the runs through Ansible (steps 6 and 7)")
    parser.add_argument("--quick", action="store_true", help="skip the second probe and the traffic run (step 4)")
    args = parser.parse_args()
    report = run_kernel(args.kernel, not args.no_module, args.quick)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
