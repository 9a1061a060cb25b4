"""Benchmark the assessment against its floor and against the naive way, in one run.

Generates a fleet of offline node roots (cycling through the demo fleet's situations), then times,
over the same inventory and with the same forks:
  (a) ansible -m ping                      the floor: one module round trip per node
  (b) ansible-playbook playbooks/assess.yml  the assessment (one ipvs_facts call per node + report)
  (c) the naive way: setup + command/slurp tasks per node (tests/benchmark/naive.yml)
and the classification engine alone over 100,000 nodes' facts. Peak memory is the largest resident
set of any controller process of that command (getrusage of its children).

Usage: python3 tests/benchmark/run_benchmark.py [--nodes 500] [--forks 10] [--write-doc docs/benchmarks.md]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))
from support import fleetgen  # noqa: E402

MARK_START = "<!-- assess-benchmark:start -->"
MARK_END = "<!-- assess-benchmark:end -->"


def make_fleet(directory, count):
    specs = [fleetgen.DEMO_FLEET[name] for name in sorted(fleetgen.DEMO_FLEET)]
    hosts = {}
    for index in range(count):
        spec = specs[index % len(specs)]
        name = "node%04d" % index
        fleetgen.write_node(os.path.join(directory, "nodes", name), spec)
        hosts[name] = dict({"assess_node_root": os.path.join(directory, "nodes", name)}, **spec.get("inventory", {}))
    inventory = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                  "assess_metrics_url": ""}, "hosts": hosts}}
    path = os.path.join(directory, "inventory.json")
    with open(path, "w") as handle:
        json.dump(inventory, handle)
    return path


def measure(command, env, cwd):
    """Run command in a child that reports its children's peak RSS and CPU time.

    Returns (wall seconds, peak MiB, CPU seconds). CPU time (user + system of every process of the run,
    module executions included) is steadier than wall time on a machine that is busy with other work.
    """
    probe = ("import resource, subprocess, sys, time\n"
             "start = time.monotonic()\n"
             "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
             "took = time.monotonic() - start\n"
             "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
             "print('%d %.3f %.1f %.3f' % (code, took, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime))\n")
    output = subprocess.check_output([sys.executable, "-c", probe] + command, env=env, cwd=cwd).decode()
    code, took, peak, cpu = output.split()
    if code != "0":
        raise SystemExit("benchmark command failed (%s): %s" % (code, " ".join(command)))
    return float(took), float(peak), float(cpu)


def median_run(values):
    """The median of each column of (wall, peak MiB, CPU) samples."""
    return tuple(statistics.median(column) for column in zip(*values))


def vary_build(facts, index):
    """The facts with the kernel's build number replaced by one derived from index.

    The engine caches its kernel lookups per build (a real fleet has few); distinct builds make
    the 100,000-node run pay for a lookup on nearly every node, the worst case.
    """
    release = (facts.get("kernel") or {}).get("release")
    match = re.match(r"^(\d+\.\d+\.\d+-)(\d+)(.*)$", release or "")
    if not match:
        return facts
    varied = dict(facts, kernel=dict(facts["kernel"], release="%s%d%s" % (match.group(1), index, match.group(3))))
    return varied


def engine_only(count):
    """Classify count nodes' facts (the demo fleet's, each with its own kernel build): (seconds, verdicts)."""
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import classify
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.gather import gather
    samples = []
    with tempfile.TemporaryDirectory() as directory:
        for name, spec in sorted(fleetgen.DEMO_FLEET.items()):
            options = spec.get("inventory", {})
            samples.append(gather(fleetgen.write_node(os.path.join(directory, name), spec),
                                  proxy_mode=options.get("assess_proxy_mode"),
                                  kube_proxy_version=options.get("assess_kube_proxy_version")))
    fleet = [vary_build(samples[index % len(samples)], index) for index in range(count)]
    start = time.monotonic()
    verdicts = {}
    for facts in fleet:
        verdict = classify(facts)["verdict"]
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
    return time.monotonic() - start, verdicts


def write_doc(path, text):
    block = "%s\n%s\n%s" % (MARK_START, text.rstrip(), MARK_END)
    current = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    if MARK_START in current:
        before, rest = current.split(MARK_START, 1)
        current = before + block + rest.split(MARK_END, 1)[1]
    else:
        current = current.rstrip() + "\n\n## Assessment: round trips per node\n\n" + block + "\n"
    with open(path, "w") as handle:
        handle.write(current)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--engine-nodes", type=int, default=100000)
    parser.add_argument("--property-examples", type=int, default=10000,
                        help="examples per property-based test (tests/unit/.../test_properties.py); 0 skips")
    parser.add_argument("--skip-naive", action="store_true",
                        help="leave out (c), the naive playbook (about 20 minutes at 500 nodes on 2 cores)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run (a) and (b) this many times, alternating, and compare the medians: on a shared "
                             "machine single runs differ by about 5 %%")
    parser.add_argument("--write-doc", metavar="PATH")
    parser.add_argument("--round-trips", metavar="local,ssh",
                        help="instead of the run above: ping, raw true and the assessment (lean and module transports) "
                             "over these connections, alternating, at least 3 times (see round_trips_main)")
    parser.add_argument("--check", action="store_true",
                        help="exit non-zero when a goal (<=1.1x ping, >=5x faster than naive, engine <10 s) is missed")
    args = parser.parse_args()
    if args.round_trips:
        return round_trips_main(args)

    load_before = os.getloadavg()
    workdir = tempfile.mkdtemp(prefix="ipvs-reuse-bench-")
    try:
        inventory = make_fleet(workdir, args.nodes)
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_FORKS=str(args.forks),
                   ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_LOCALHOST_WARNING="false",
                   ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
        bindir = os.path.dirname(sys.executable)
        ping = [os.path.join(bindir, "ansible"), "all", "-i", inventory, "-m", "ping"]
        assess = [os.path.join(bindir, "ansible-playbook"), "-i", inventory, os.path.join(REPO, "playbooks", "assess.yml"),
                  "-e", "assess_report_dir=%s/report" % workdir]
        samples = {"ping": [], "assess": []}
        for unused_repetition in range(max(1, args.repeat)):
            samples["ping"].append(measure(ping, env, workdir))
            samples["assess"].append(measure(assess, env, workdir))
        runs = dict((name, median_run(values)) for name, values in samples.items())
        if not args.skip_naive:
            runs["naive"] = measure([os.path.join(bindir, "ansible-playbook"), "-i", inventory,
                                     os.path.join(HERE, "naive.yml")], env, workdir)
        report = json.load(open(os.path.join(workdir, "report", "fleet.json")))
        assert report["summary"]["nodes"] == args.nodes, report["summary"]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    engine_seconds, verdicts = engine_only(args.engine_nodes)
    property_line = "Property-based tests: skipped."
    if args.property_examples:
        start = time.monotonic()
        subprocess.check_call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               os.path.join(REPO, "tests", "unit", "plugins", "module_utils", "test_properties.py")],
                              env=dict(os.environ, IPVS_REUSE_HYPOTHESIS_EXAMPLES=str(args.property_examples)),
                              cwd=REPO)
        property_line = ("Property-based tests: %d examples for each of the 4 properties (engine never raises, "
                         "engine deterministic, gatherer never raises on arbitrary files, gatherer holds on hostile "
                         "trees: links out of the root, FIFOs, huge files, pathological repetitions) passed in %.0f s."
                         % (args.property_examples, time.monotonic() - start))

    ratio_ping = runs["assess"][0] / runs["ping"][0]
    cpu_ping = runs["assess"][2] / runs["ping"][2]
    if "naive" in runs:
        ratio_naive = runs["naive"][0] / runs["assess"][0]
        cpu_naive = runs["naive"][2] / runs["assess"][2]
        naive_row = ("| (c) naive: setup + command/slurp per node | %.1f | %.0f | %.1f | assess is %.1fx / %.1fx faster "
                     "(goal >= 5x) |" % (runs["naive"] + (ratio_naive, cpu_naive)))
    else:
        ratio_naive = None
        naive_row = "| (c) naive: setup + command/slurp per node | not run (--skip-naive) | | | |"
    lines = [
        "Command: `%s`" % " ".join(["python3 tests/benchmark/run_benchmark.py"] + sys.argv[1:]),
        "",
        "Measured %s on %s (%d cores), %d offline nodes, forks %d, connection local; load average %s before, "
        "%s after (1, 5, 15 min)." % (time.strftime("%Y-%m-%d"), os.uname().nodename, os.cpu_count(), args.nodes,
                                      args.forks, "/".join("%.1f" % v for v in load_before),
                                      "/".join("%.1f" % v for v in os.getloadavg())),
        "",
        "| run | wall time (s) | peak controller RSS (MiB) | CPU time (s) | ratio (wall / CPU) |",
        "|---|---:|---:|---:|---|",
        "| (a) `ansible -m ping` | %.1f | %.0f | %.1f | floor |" % runs["ping"],
        "| (b) `playbooks/assess.yml` | %.1f | %.0f | %.1f | %.2fx / %.2fx of ping (goal <= 1.1x) |"
        % (runs["assess"] + (ratio_ping, cpu_ping)),
        naive_row,
        "",
    ]
    if args.repeat > 1:
        lines += ["(a) and (b) ran %d times each, alternating; the table shows the medians. Each run, wall s / CPU s: "
                  "ping %s; assess %s." % (args.repeat,
                                           ", ".join("%.1f / %.1f" % (run[0], run[2]) for run in samples["ping"]),
                                           ", ".join("%.1f / %.1f" % (run[0], run[2]) for run in samples["assess"])),
                  ""]
    lines += [
        "Classification engine alone: %d nodes' facts (each with its own kernel build) in %.2f s "
        "(goal well under 10 s); verdicts %s."
        % (args.engine_nodes, engine_seconds, json.dumps(verdicts, sort_keys=True)),
        "",
        property_line,
    ]
    text = "\n".join(lines)
    print(text)
    if args.write_doc:
        write_doc(args.write_doc, text)
    if args.check:
        missed = [goal for goal, ok in (("<=1.1x ping", ratio_ping <= 1.1), (">=5x naive", ratio_naive is None or ratio_naive >= 5),
                                        ("engine <10 s", engine_seconds < 10)) if not ok]
        if missed:
            raise SystemExit("benchmark goals missed: %s" % ", ".join(missed))


# ---------------------------------------------------------------------------------------------------------------
# Round trips per node over local and SSH connections (issue 17): ping, raw true, the assessment with the lean
# transport and with the module transport, alternating. Kept apart from the run above (own options, own doc block).
# ---------------------------------------------------------------------------------------------------------------

ROUND_TRIPS_START = "<!-- round-trips-benchmark:start -->"
ROUND_TRIPS_END = "<!-- round-trips-benchmark:end -->"
SSHD_CONFIG = """Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/host_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
AllowUsers {user}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 200
MaxSessions 50
PrintMotd no
LogLevel ERROR
Subsystem sftp internal-sftp
"""


def free_port():
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LoopbackSshd:
    """An sshd of the benchmark's own on 127.0.0.1 (high port, own host and user keys in a temp dir), stopped on exit.

    node_cpu() is the CPU time of sshd and everything it ran (login shells, the nodes' Pythons), read from
    /proc/<pid>/stat (utime, stime, cutime, cstime): the node side of the run, which the controller's
    getrusage does not see.
    """

    def __init__(self, directory):
        self.directory = directory
        self.sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
        if not self.sshd:
            raise SystemExit("the SSH run needs OpenSSH's server: apt-get install openssh-server (Debian/Ubuntu); "
                             "it is started by the benchmark only, on loopback, and no system service is needed")
        self.port = free_port()
        self.user = __import__("pwd").getpwuid(os.getuid()).pw_name
        self.process = None

    def __enter__(self):
        directory = self.directory
        for name in ("host_key", "user_key"):
            subprocess.check_call(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ipvs-reuse-bench",
                                   "-f", os.path.join(directory, name)])
        shutil.copy(os.path.join(directory, "user_key.pub"), os.path.join(directory, "authorized_keys"))
        with open(os.path.join(directory, "known_hosts"), "w") as handle:
            handle.write("[127.0.0.1]:%d %s" % (self.port, open(os.path.join(directory, "host_key.pub")).read()))
        config = os.path.join(directory, "sshd_config")
        with open(config, "w") as handle:
            handle.write(SSHD_CONFIG.format(port=self.port, dir=directory, user=self.user))
        if os.getuid() == 0 and not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", mode=0o755)  # sshd's privilege separation directory, empty (as its service makes it)
        self.process = subprocess.Popen([self.sshd, "-D", "-e", "-f", config])
        deadline = time.monotonic() + 20
        while subprocess.call(self.ssh_command("true"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise SystemExit("the benchmark's sshd did not accept a login on port %d" % self.port)
            time.sleep(0.3)
        return self

    def __exit__(self, *unused):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def client_options(self):
        return ["-o", "ControlMaster=no", "-o", "ControlPersist=no", "-o", "ControlPath=none",
                "-o", "UserKnownHostsFile=%s" % os.path.join(self.directory, "known_hosts"),
                "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]

    def ssh_command(self, command):
        return (["ssh", "-p", str(self.port), "-i", os.path.join(self.directory, "user_key")] + self.client_options()
                + ["%s@127.0.0.1" % self.user, command])

    def host_vars(self):
        return {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": self.port,
                "ansible_user": self.user, "ansible_ssh_private_key_file": os.path.join(self.directory, "user_key"),
                "ansible_ssh_args": " ".join(self.client_options()), "ansible_ssh_pipelining": True}

    def node_cpu(self):
        fields = open("/proc/%d/stat" % self.process.pid).read().rsplit(")", 1)[1].split()
        return sum(int(value) for value in fields[11:15]) / float(os.sysconf("SC_CLK_TCK"))


def node_python():
    """A node's Python: the system one where there is one (what a real node runs), else this one."""
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def round_trip_inventory(directory, count, connection_vars):
    """The fleet of make_fleet with the connection's variables for every host; the path of the inventory."""
    path = make_fleet(directory, count)
    inventory = json.load(open(path))
    inventory["all"]["vars"].update(connection_vars)
    path = os.path.join(directory, "inventory-%s.json" % connection_vars["ansible_connection"])
    with open(path, "w") as handle:
        json.dump(inventory, handle)
    return path


def round_trip_commands(inventory, workdir):
    bindir = os.path.dirname(sys.executable)
    assess = [os.path.join(bindir, "ansible-playbook"), "-i", inventory, os.path.join(REPO, "playbooks", "assess.yml"),
              "-e", "assess_report_dir=%s/report" % workdir]
    return [("ping", [os.path.join(bindir, "ansible"), "all", "-i", inventory, "-m", "ping"]),
            ("raw", [os.path.join(bindir, "ansible"), "all", "-i", inventory, "-m", "raw", "-a", "true"]),
            ("assess", assess),
            ("assess_module", assess + ["-e", "assess_facts_transport=module"])]


ROUND_TRIP_LABELS = {"ping": "`ansible -m ping`", "raw": "`ansible -m raw -a true`",
                     "assess": "`playbooks/assess.yml` (lean transport, the default)",
                     "assess_module": "`playbooks/assess.yml -e assess_facts_transport=module`"}
ROUND_TRIP_TARGETS = {"local": 0.5, "ssh": 0.85}


def round_trip_run(transport, args, workdir, env):
    """{command name: [(wall, peak MiB, controller CPU, node CPU), ...]} for one transport, commands alternating."""
    samples = {}
    sshd = LoopbackSshd(workdir) if transport == "ssh" else None
    if sshd:
        sshd.__enter__()
    try:
        connection_vars = sshd.host_vars() if sshd else {"ansible_connection": "local"}
        connection_vars["ansible_python_interpreter"] = node_python() if sshd else sys.executable
        inventory = round_trip_inventory(os.path.join(workdir, transport), args.nodes, connection_vars)
        commands = round_trip_commands(inventory, os.path.join(workdir, transport))
        for unused_repetition in range(max(3, args.repeat)):
            for name, command in commands:
                node_before = sshd.node_cpu() if sshd else 0.0
                wall, peak, cpu = measure(command, env, workdir)
                node = sshd.node_cpu() - node_before if sshd else 0.0
                samples.setdefault(name, []).append((wall, peak, cpu, node))
                print("%s %-13s wall %6.1f s  controller CPU %6.1f s  node CPU %6.1f s  peak %4.0f MiB"
                      % (transport, name, wall, cpu, node, peak), file=sys.stderr)
        report = json.load(open(os.path.join(workdir, transport, "report", "fleet.json")))
        assert report["summary"]["nodes"] == args.nodes, report["summary"]
    finally:
        if sshd:
            sshd.__exit__(None, None, None)
    return samples


def round_trip_table(transport, samples):
    runs = dict((name, median_run(values)) for name, values in samples.items())
    ping_wall, ping_cpu = runs["ping"][0], runs["ping"][2] + runs["ping"][3]
    lines = ["| %s: run | wall (s) | controller CPU (s) | node CPU (s) | peak controller RSS (MiB) | wall / CPU vs ping |"
             % transport, "|---|---:|---:|---:|---:|---|"]
    for name in ("ping", "raw", "assess", "assess_module"):
        wall, peak, cpu, node = runs[name]
        ratio = "floor" if name == "ping" else "%.2fx / %.2fx" % (wall / ping_wall, (cpu + node) / ping_cpu)
        if name == "assess":
            target = ROUND_TRIP_TARGETS[transport]
            ratio += " (target <= %.2fx wall: %s)" % (target, "met" if wall / ping_wall <= target else "missed")
        lines.append("| %s | %.1f | %.1f | %s | %.0f | %s |" % (ROUND_TRIP_LABELS[name], wall, cpu,
                                                                "%.1f" % node if transport == "ssh" else "in controller CPU",
                                                                peak, ratio))
    each = "; ".join("%s %s" % (name, ", ".join("%.1f/%.1f" % (run[0], run[2] + run[3]) for run in values))
                     for name, values in samples.items())
    lines += ["", "Each run, wall s / CPU s (controller + node): %s." % each,
              "Lean against module transport (wall): %.2fx; assess (lean) against raw true (wall): %.2fx." % (
                  runs["assess"][0] / runs["assess_module"][0], runs["assess"][0] / runs["raw"][0])]
    return "\n".join(lines), runs


def round_trips_main(args):
    transports = [name.strip() for name in args.round_trips.split(",") if name.strip()]
    unknown = set(transports) - set(ROUND_TRIP_TARGETS)
    if unknown:
        raise SystemExit("--round-trips takes local and/or ssh, not %s" % ", ".join(sorted(unknown)))
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_FORKS=str(args.forks),
               ANSIBLE_HOST_KEY_CHECKING="true", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_PIPELINING="true")
    tables = []
    missed = []
    workdir = tempfile.mkdtemp(prefix="ipvs-reuse-bench-rt-")
    try:
        for transport in transports:
            os.makedirs(os.path.join(workdir, transport))
            table, runs = round_trip_table(transport, round_trip_run(transport, args, workdir, env))
            tables.append(table)
            if runs["assess"][0] / runs["ping"][0] > ROUND_TRIP_TARGETS[transport]:
                missed.append("%s <= %.2fx ping" % (transport, ROUND_TRIP_TARGETS[transport]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = "\n".join([
        "Command: `%s`" % " ".join(["python3 tests/benchmark/run_benchmark.py"] + sys.argv[1:]),
        "",
        "Measured %s on %s (%d cores), %d offline nodes, forks %d, pipelining on; load average %s before, %s after "
        "(1, 5, 15 min). Each command ran %d times per transport, alternating; the tables show the medians. Local: "
        "connection local, the node's CPU is part of the controller's (same process tree). SSH: an sshd of the "
        "benchmark's own on 127.0.0.1, every node an inventory host with its own connection (ControlMaster=no, "
        "ControlPersist=no), the node's Python %s; node CPU is sshd's and everything it ran."
        % (started, os.uname().nodename, os.cpu_count(), args.nodes, args.forks,
           "/".join("%.1f" % v for v in load_before), "/".join("%.1f" % v for v in os.getloadavg()),
           max(3, args.repeat), node_python()),
        "",
        "\n\n".join(tables),
    ])
    print(text)
    if args.write_doc:
        block = "%s\n%s\n%s" % (ROUND_TRIPS_START, text.rstrip(), ROUND_TRIPS_END)
        current = open(args.write_doc).read() if os.path.exists(args.write_doc) else "# Benchmarks\n"
        if ROUND_TRIPS_START in current:
            before, rest = current.split(ROUND_TRIPS_START, 1)
            current = before + block + rest.split(ROUND_TRIPS_END, 1)[1]
        else:
            current = current.rstrip() + "\n\n## Assessment against ping, local and over SSH\n\n" + block + "\n"
        with open(args.write_doc, "w") as handle:
            handle.write(current)
    if args.check and missed:
        raise SystemExit("benchmark goals missed: %s" % ", ".join(missed))


if __name__ == "__main__":
    main()
