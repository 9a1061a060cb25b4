"""Property-based tests: whatever the files or the fact dicts contain, the gatherer and the engine
answer with a valid verdict/mitigation pair and never raise.

The default suite runs a few hundred examples; IPVS_REUSE_HYPOTHESIS_EXAMPLES=10000 (scripts/test
--slow and the benchmark) runs 10,000 per property.
"""
import os
import shutil
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import fleetgen
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge as K
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import classify
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.gather import gather

EXAMPLES = int(os.environ.get("IPVS_REUSE_HYPOTHESIS_EXAMPLES", "300"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

VALID_PAIRS = {
    "not_applicable": {"none"}, "unknown": {"none"}, "safe": {"none"},
    "problem1": {"pin_sysctl", "switch_iptables", "os_upgrade"},
    "problem2": {"pin_sysctl", "switch_iptables", "os_upgrade"},
}


CONFIDENCES = ("measured", "verified", "inferred", "user", "observed", "assumed")


def assert_valid(result):
    assert result["verdict"] in K.VERDICTS
    assert result["mitigation"] in VALID_PAIRS[result["verdict"]]
    assert result["syn_drop_fix"] in (True, False, None)
    assert result["reasons"] and all(set(reason) == {"rule", "text", "source", "confidence"}
                                     and reason["confidence"] in CONFIDENCES for reason in result["reasons"])
    if result["mitigation"] == "pin_sysctl":
        assert result["pin_value"] in (0, 1)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=20), st.binary(max_size=10))
sysctl_values = st.one_of(st.integers(-1, 3), scalars)
facts_strategy = st.fixed_dictionaries({}, optional={
    "kernel": st.one_of(scalars, st.fixed_dictionaries({}, optional={"release": st.one_of(
        st.sampled_from(["3.10.0-1160.el7.x86_64", "4.19.140", "5.4.0-150-generic", "5.10.0-28-amd64",
                         "6.1.0-18-amd64", "4.18.0-147.5.1.6.h686.eulerosv2r9.x86_64", "5.8.2"]), scalars)})),
    "os": st.one_of(scalars, st.dictionaries(st.sampled_from(["id", "version_id"]), scalars)),
    "ipvs": st.one_of(scalars, st.dictionaries(st.sampled_from(["sysctl_dir", "kube_ipvs0", "virtual_services"]),
                                               scalars)),
    "sysctl": st.one_of(scalars, st.dictionaries(st.sampled_from(
        ["conn_reuse_mode", "conntrack", "expire_nodest_conn", "conn_reuse_old_conntrack"]), sysctl_values)),
    "sysctl_errors": st.one_of(scalars, st.dictionaries(st.text(max_size=5), scalars)),
    "persisted": st.one_of(scalars, st.dictionaries(st.sampled_from(["conn_reuse_mode"]), st.one_of(
        scalars, st.dictionaries(st.sampled_from(["value", "file"]), scalars)))),
    "pin": st.one_of(scalars, st.dictionaries(st.sampled_from(["value", "keeper", "file"]), scalars)),
    "kube_proxy": st.one_of(scalars, st.fixed_dictionaries({}, optional={
        "mode": st.one_of(st.sampled_from(["ipvs", "iptables", "IPVS", ""]), scalars),
        "version": st.one_of(st.sampled_from(["v1.10.0", "v1.12.3", "v1.18.20", "v1.21.14", "v1.28.4",
                                              "v1.27.3-eks-a5565ad"]), scalars)})),
})
policy_strategy = st.fixed_dictionaries({}, optional={
    "allow_pin": st.booleans(),
    "fallback_mitigation": st.sampled_from(["os_upgrade", "switch_iptables"]),
    "known_kernels": st.lists(st.fixed_dictionaries(
        {"release_regex": st.sampled_from(["^5", "lab", r"^4\.19\.", "el7"])},
        optional={"syn_drop_fix": st.sampled_from([True, False, None]),
                  "drained_backend_fix": st.sampled_from([True, False, None])}),
        max_size=3),
})


@SETTINGS
@given(facts=facts_strategy, policy=policy_strategy)
def test_engine_never_raises_and_answers_a_valid_pair(facts, policy):
    assert_valid(classify(facts, policy))


@SETTINGS
@given(facts=facts_strategy)
def test_engine_is_deterministic(facts):
    assert classify(facts) == classify(facts)


file_contents = st.one_of(st.binary(max_size=64), st.text(max_size=64),
                          st.sampled_from(["0\n", "1\n", "2\n", "-1\n", "", "5.10.0-28-amd64\n", "6.1.0\n"]))
TARGETS = ["proc/sys/kernel/osrelease", "proc/sys/kernel/version", "etc/os-release", "proc/modules",
           "proc/net/ip_vs", "proc/sys/net/ipv4/vs/conn_reuse_mode", "proc/sys/net/ipv4/vs/conntrack",
           "proc/sys/net/ipv4/vs/expire_nodest_conn", "proc/sys/net/ipv4/vs/conn_reuse_old_conntrack",
           "etc/sysctl.d/50-x.conf", "etc/sysctl.conf", "etc/rancher/k3s/config.yaml",
           "etc/kubernetes/manifests/kube-proxy.yaml", "etc/systemd/system/kube-proxy.service",
           "var/log/pods/kube-system_kube-proxy-a_1/kube-proxy/0.log", "proc/77/cmdline",
           "etc/sysctl.d/90-kubenode-ipvs-reuse.conf"]


@SETTINGS
@given(files=st.dictionaries(st.sampled_from(TARGETS), file_contents, max_size=len(TARGETS)),
       drop_vs=st.booleans(), proxy_mode=st.sampled_from([None, "ipvs", "iptables"]))
def test_gatherer_never_raises_on_arbitrary_files(files, drop_vs, proxy_mode):
    root = tempfile.mkdtemp(prefix="ipvs-reuse-prop-")
    try:
        if not drop_vs:
            fleetgen.write_node(root, {"vs": fleetgen.KUBEPROXY_VS})
        for relative, content in files.items():
            fleetgen.write_file(root, relative, content)
        facts = gather(root, proxy_mode=proxy_mode)
        assert isinstance(facts["missing"], list)
        assert_valid(classify(facts))
    finally:
        shutil.rmtree(root)


# -- hostile trees (issue 14): links out of the root, chains, special files, huge files, pathological
# repetitions and control bytes. Each gather must end in bounded time, read nothing outside the root
# (a secret planted beside the root never appears), and give facts the engine classifies.
HOSTILE_SECRET = "hostile-secret-outside-the-root"
HOSTILE_EXAMPLES = max(20, EXAMPLES // 6)  # about 50 by default: well under a minute
HOSTILE_SETTINGS = settings(max_examples=HOSTILE_EXAMPLES if "IPVS_REUSE_HYPOTHESIS_EXAMPLES" not in os.environ
                            else EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
PATHOLOGICAL = st.builds(lambda unit, count, tail: unit * count + tail,
                         st.sampled_from(["image:", "image: ", "mode:", " ", "ID=", "Ubuntu", "Version: ",
                                          "proxy-mode=", "--config ", "ExecStart=", "net.ipv4.vs.", "#", "\\\n",
                                          "kubernetes_build_info{", "\0", "\x1b", "-", "'", '"']),
                         st.integers(1, 40000), st.sampled_from(["", "x", "!", "\n", " #", "=1"]))
hostile_entries = st.one_of(
    st.tuples(st.just("content"), st.one_of(file_contents, PATHOLOGICAL, st.binary(max_size=300))),
    st.tuples(st.just("relative_link"), st.sampled_from(["../" * 12 + "outside/secret", "../../../outside/secret",
                                                         "../../../../outside", "self", "../" * 3])),
    st.tuples(st.just("absolute_link"), st.sampled_from(["/outside/secret", "/", "/proc", "/chain/0"])),
    st.tuples(st.just("special"), st.sampled_from(["fifo", "directory", "huge"])),
)
HOSTILE_TARGETS = TARGETS + ["proc/sys/kernel", "proc/sys/net/ipv4/vs", "etc/kubernetes/kp.yaml", "etc",
                             "var/log/pods/kube-system_kube-proxy-a_1/kube-proxy/1.log", "boot/config-6.1.0-9-amd64",
                             "boot/vmlinuz-6.1.0-9-amd64", "vmlinuz", "proc/77/root"]


def plant(root, relative, entry):
    kind, value = entry
    path = os.path.join(root, relative)
    ancestor = os.path.dirname(path)
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if os.path.realpath(ancestor) != os.path.normpath(ancestor) or not os.path.isdir(ancestor):
        return  # an earlier entry replaced a parent: never write through it (it may point at the host)
    fleetgen.remove_entry(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if kind == "content":
        fleetgen.write_file(root, relative, value)
    elif kind == "relative_link":
        os.symlink(relative.rpartition("/")[2] if value == "self" else value, path)
    elif kind == "absolute_link":
        os.symlink(value, path)
    elif value == "fifo":
        os.mkfifo(path)
    elif value == "directory":
        os.mkdir(path)
    else:
        with open(path, "wb") as handle:
            handle.truncate(64 * 1024 * 1024)  # sparse: huge but cheap


@HOSTILE_SETTINGS
@given(entries=st.dictionaries(st.sampled_from(HOSTILE_TARGETS), hostile_entries, max_size=8),
       proxy_mode=st.sampled_from([None, "ipvs"]))
def test_gatherer_holds_on_hostile_trees(entries, proxy_mode):
    import time
    world = tempfile.mkdtemp(prefix="ipvs-reuse-hostile-")
    try:
        fleetgen.write_file(world, "outside/secret", HOSTILE_SECRET + "\nmode: iptables\n")
        root = fleetgen.write_node(os.path.join(world, "node"), {"kernel": "6.1.0-9-amd64", "vs": fleetgen.KUBEPROXY_VS,
                                                                 "os": {"ID": "debian"}})
        fleetgen.write_file(root, "etc/kubernetes/kp.yaml", "mode: ipvs\n")
        fleetgen.write_file(root, "proc/77/cmdline", "kube-proxy\0--config=/etc/kubernetes/kp.yaml\0")
        for index in range(45):
            os.makedirs(os.path.join(root, "chain"), exist_ok=True)
            os.symlink("/chain/%d" % (index + 1), os.path.join(root, "chain", str(index)))
        for relative, entry in sorted(entries.items()):
            plant(root, relative, entry)
        started = time.monotonic()
        facts = gather(root, proxy_mode=proxy_mode)
        assert time.monotonic() - started < 10
        assert HOSTILE_SECRET not in repr(facts)
        assert "\x00" not in repr([facts.get("kernel"), facts.get("os"), facts["kube_proxy"].get("mode")])
        result = classify(facts)
        assert_valid(result)
        if result["verdict"] == "not_applicable":  # only a readable, real non-IPVS mode may say so
            assert facts["kube_proxy"]["mode"] in ("iptables", "nftables", "userspace", "kernelspace")
    finally:
        shutil.rmtree(world)
