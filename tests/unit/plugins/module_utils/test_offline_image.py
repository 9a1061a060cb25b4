"""Offline images (a mounted root without a live /proc): the gatherer finds the kernel the image boots and its
upstream version, and the engine classifies the after-boot state. Table-driven, over facts and over real-layout
fixture trees (tests/support/fleetgen.py's ubuntu_focal_image)."""
import gzip
import os

import pytest

from support import fleetgen
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge as K
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import classify
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.gather import MAX_READ, gather

FOCAL_150 = {"5.4.0-150-generic": ("5.4.0-150.167", "5.4.231")}
FOCAL_TWO = {"5.4.0-100-generic": ("5.4.0-100.113", "5.4.166"), "5.4.0-150-generic": ("5.4.0-150.167", "5.4.231")}
KP_UNIT = {"etc/systemd/system/kube-proxy.service": "[Service]\nExecStart=/usr/local/bin/kube-proxy --proxy-mode=ipvs\n"}


def image_facts(kernel="5.10.0-9-amd64", upstream=None, kp="v1.28.4", mode="ipvs", persisted=None, pin=None,
                built="module", configured=None):
    """ipvs_reuse facts as the gatherer returns them for an image: live false, no live values."""
    return {
        "live": False, "root": "/mnt/image",
        "kernel": {"release": kernel, "upstream_version": upstream,
                   "upstream_source": "/boot/config-%s" % kernel if upstream else None,
                   "source": "/boot/vmlinuz-%s" % kernel if kernel else None,
                   "installed": [kernel] if kernel else [], "selection": "the only kernel installed"},
        "os": {"id": "debian"},
        "ipvs": {"loaded": None, "sysctl_dir": False, "virtual_services": None, "kube_ipvs0": None, "built": built},
        "sysctl": dict((name, None) for name in ("conn_reuse_mode", "conntrack", "expire_nodest_conn",
                                                 "expire_quiescent_template", "conn_reuse_old_conntrack")),
        "sysctl_errors": {},
        "persisted": dict((name, {"value": value, "file": "/etc/sysctl.d/60-ipvs.conf"})
                          for name, value in (persisted or {}).items()),
        "pin": pin or {"file": None, "value": None, "keeper": False},
        "kube_proxy": {"mode": mode, "version": kp, "mode_source": "test", "version_source": "test",
                       "configured_mode": configured},
    }


def rules(result):
    return [reason["rule"] for reason in result["reasons"]]


# (id, facts, verdict, starts, mitigation, after-boot conn_reuse_mode)
ENGINE_TABLE = [
    ("no sysctl file: kernel default 1, kp 1.28 leaves it on 5.10.70 (syn_drop_fix)",
     image_facts(upstream="5.10.70"), "safe", None, "none", 1),
    ("sysctl file pins 0, kp 1.28 leaves it on 5.10.70 (no drained_backend_fix)",
     image_facts(upstream="5.10.70", persisted={"conn_reuse_mode": "0"}), "problem1", "after_reboot", "pin_sysctl", 0),
    ("sysctl file pins 0 on 6.1 (drained_backend_fix, kube-proxy sets expire_nodest_conn=1): row 6",
     image_facts(kernel="6.1.0-18-amd64", persisted={"conn_reuse_mode": "0"}), "safe", None, "none", 0),
    ("sysctl file pins 1 on 5.4 focal ABI 150: kube-proxy 1.21 writes 0 anyway, both fixes (row 6)",
     image_facts(kernel="5.4.0-150-generic", kp="v1.21.14", persisted={"conn_reuse_mode": "1"}),
     "safe", None, "none", 0),
    ("focal ABI 42 (neither fix): kube-proxy's 0 gives problem 1 from the first boot",
     image_facts(kernel="5.4.0-42-generic", kp="v1.21.14"), "problem1", "after_reboot", "os_upgrade", 0),
    ("kernel default 1 on an unfixed 4.19 with kube-proxy 1.10 (leaves it): problem 2",
     image_facts(kernel="4.19.0-9-amd64", upstream="4.19.118", kp="v1.10.13"), "problem2", "after_reboot",
     "os_upgrade", 1),
    ("a pin keeper in the image re-asserts 1 after kube-proxy's start on focal 150",
     image_facts(kernel="5.4.0-150-generic", kp="v1.21.14",
                 pin={"file": K.PIN_SYSCTL_FILE, "value": 1, "keeper": True}), "safe", None, "none", 1),
    ("the cluster starts kube-proxy in iptables mode: safe after boot",
     image_facts(kernel="5.4.0-42-generic", kp="v1.21.14", configured="iptables"), "safe", None, "none", 0),
    ("RHEL 7 3.10 with kube-proxy 1.18: problem 1 with or without the backported sysctl",
     image_facts(kernel="3.10.0-1160.el7.x86_64", kp="v1.18.20"), "problem1", "after_reboot", "os_upgrade", 0),
]


@pytest.mark.parametrize("facts,verdict,starts,mitigation,boot_crm", [row[1:] for row in ENGINE_TABLE],
                         ids=[row[0] for row in ENGINE_TABLE])
def test_image_is_classified_by_its_after_boot_state(facts, verdict, starts, mitigation, boot_crm):
    result = classify(facts)
    assert (result["verdict"], result["starts"], result["mitigation"]) == (verdict, starts, mitigation), \
        result["reasons"]
    assert list(result["states"]) == ["after_reboot"], "an image has no live state"
    assert result["states"]["after_reboot"]["conn_reuse_mode"] == boot_crm
    at = rules(result).index("offline_image")
    assert rules(result)[at + 1] == "image_kernel"
    assert "after_boot_state" in rules(result) and "live_state" not in rules(result)
    for reason in result["reasons"]:
        assert reason["text"] and reason["source"] and reason["confidence"] in (
            "measured", "verified", "inferred", "user", "observed", "assumed"), reason


def test_boot_values_name_their_file_or_the_kernel_default():
    result = classify(image_facts(upstream="5.10.70", persisted={"conn_reuse_mode": "0"}))
    boot = dict((reason["text"].split("net.ipv4.vs.", 1)[1].split("=", 1)[0], reason)
                for reason in result["reasons"] if reason["rule"] == "boot_value")
    assert sorted(boot) == ["conn_reuse_mode", "conntrack", "expire_nodest_conn"]
    assert boot["conn_reuse_mode"]["source"] == "/etc/sysctl.d/60-ipvs.conf"
    assert boot["conn_reuse_mode"]["confidence"] == "observed"
    assert boot["conntrack"]["source"] == K.KERNEL_DEFAULTS_SOURCE and boot["conntrack"]["confidence"] == "verified"
    assert "conntrack=0" in boot["conntrack"]["text"] and "expire_nodest_conn=0" in boot["expire_nodest_conn"]["text"]


def test_kube_proxy_reason_carries_the_release_lines_confidence():
    result = classify(image_facts(kernel="5.4.0-150-generic", kp="v1.21.14"))
    writes = [reason for reason in result["reasons"] if reason["rule"] == "kube_proxy_writes"]
    assert len(writes) == 1 and writes[0]["confidence"] == "inferred"  # v1.21.9+ rests on a strong inference
    assert "first start" not in writes[0]["text"]  # it writes at every start
    unknown = classify(image_facts(kp=None))
    assert [reason["text"] for reason in unknown["reasons"] if reason["rule"] == "kube_proxy_unknown"] == \
        ["kube-proxy version not found: what it writes at its first start is unknown"]


# (id, facts, rule): missing or malformed facts that matter stay unknown, never not_applicable
UNKNOWN_TABLE = [
    ("no kernel in /boot or /lib/modules", image_facts(kernel=None), "kernel_unknown"),
    ("kube-proxy version unknown", image_facts(kp=None), "after_boot_state"),
    ("kube-proxy mode unknown", image_facts(mode=None), "mode_unknown"),
    ("kernel built without IPVS", image_facts(built="not built"), "image_no_ip_vs"),
    ("a sysctl file sets a word", image_facts(persisted={"conn_reuse_mode": "zero"}), "boot_values_malformed"),
    ("a sysctl file sets a value out of range", image_facts(persisted={"expire_nodest_conn": "-1"}),
     "boot_values_out_of_range"),
    ("kernel < 4.1 where the backport decides the problem (kube-proxy 1.10 leaves 1 on RHEL 7)",
     image_facts(kernel="3.10.0-1160.el7.x86_64", kp="v1.10.13"), "image_old_kernel"),
]


@pytest.mark.parametrize("facts,rule", [row[1:] for row in UNKNOWN_TABLE], ids=[row[0] for row in UNKNOWN_TABLE])
def test_missing_image_facts_stay_unknown(facts, rule):
    result = classify(facts)
    assert (result["verdict"], result["mitigation"]) == ("unknown", "none"), result["reasons"]
    assert rule in rules(result)


def test_missing_kernel_says_it_is_an_image():
    reason = classify(image_facts(kernel=None))["reasons"][-1]
    assert reason["rule"] == "kernel_unknown" and reason["text"].startswith("offline image: no kernel in /boot")
    assert reason["source"] == "/boot, /lib/modules"


def test_live_false_only_changes_the_path_for_images():
    """The same values with live true (or absent, as older facts) go through the live path: three states."""
    facts = image_facts(kernel="6.1.0-18-amd64")
    facts.update(live=True, ipvs={"sysctl_dir": True},
                 sysctl={"conn_reuse_mode": 1, "conntrack": 1, "expire_nodest_conn": 1})
    assert sorted(classify(facts)["states"]) == ["after_kube_proxy_restart", "after_reboot", "live"]
    del facts["live"]
    assert sorted(classify(facts)["states"]) == ["after_kube_proxy_restart", "after_reboot", "live"]


# -- the gatherer over real-layout image trees, then the engine ------------------------------------------------

def _write(tmp_path, spec, proc=True):
    root = str(tmp_path / "image")
    fleetgen.write_node(root, spec)
    if proc:
        os.makedirs(os.path.join(root, "proc"))  # a mounted image's empty /proc
    return root


def _no_link(spec):
    spec["links"].pop("boot/vmlinuz")
    spec["links"].pop("boot/vmlinuz.old", None)
    return spec


# (id, image spec, kube-proxy version, assessed release, selection words, upstream, verdict)
IMAGE_TABLE = [
    ("one kernel", fleetgen.ubuntu_focal_image(FOCAL_150, "5.4.0-150-generic", files=KP_UNIT), "v1.21.14",
     "5.4.0-150-generic", "the kernel the /boot/vmlinuz link names", "5.4.231", "safe"),
    ("one kernel, no link", _no_link(fleetgen.ubuntu_focal_image(FOCAL_150, "5.4.0-150-generic", files=KP_UNIT)),
     "v1.21.14", "5.4.0-150-generic", "the only kernel installed", "5.4.231", "safe"),
    ("two kernels: the /boot/vmlinuz link names the older one",
     fleetgen.ubuntu_focal_image(FOCAL_TWO, "5.4.0-100-generic", files=KP_UNIT), "v1.21.14",
     "5.4.0-100-generic", "the kernel the /boot/vmlinuz link names (vmlinuz-5.4.0-100-generic)", "5.4.166", "safe"),
    ("two kernels without a link: the newest by version (150 > 100, not by text)",
     _no_link(fleetgen.ubuntu_focal_image(FOCAL_TWO, "5.4.0-150-generic", files=KP_UNIT)), "v1.21.14",
     "5.4.0-150-generic", "the newest of 2 installed kernels", "5.4.231", "safe"),
    ("two kernels, the booted one unfixed (focal ABI 42)",
     fleetgen.ubuntu_focal_image({"5.4.0-42-generic": ("5.4.0-42.46", "5.4.44"), **FOCAL_150}, "5.4.0-42-generic",
                                 files=KP_UNIT), "v1.21.14",
     "5.4.0-42-generic", "the kernel the /boot/vmlinuz link names", "5.4.44", "problem1"),
    ("sysctl file pins 0 on a focal cloud flavour (ABI rule does not cover it; the signature's 5.4.231 does)",
     fleetgen.ubuntu_focal_image({"5.4.0-1103-aws": ("5.4.0-1103.111", "5.4.231")}, "5.4.0-1103-aws",
                                 sysctl_d={"60-ipvs.conf": "net.ipv4.vs.conn_reuse_mode = 0\n"}, files=KP_UNIT),
     "v1.28.4", "5.4.0-1103-aws", "the kernel the /boot/vmlinuz link names", "5.4.231", "safe"),
    ("no sysctl file on the same cloud flavour, kube-proxy 1.10 leaves the default 1 (syn_drop_fix: safe)",
     fleetgen.ubuntu_focal_image({"5.4.0-1103-aws": ("5.4.0-1103.111", "5.4.231")}, "5.4.0-1103-aws",
                                 files=KP_UNIT),
     "v1.10.13", "5.4.0-1103-aws", "the kernel the /boot/vmlinuz link names", "5.4.231", "safe"),
]


@pytest.mark.parametrize("spec,kp,release,selection,upstream,verdict", [row[1:] for row in IMAGE_TABLE],
                         ids=[row[0] for row in IMAGE_TABLE])
def test_real_layout_image(tmp_path, spec, kp, release, selection, upstream, verdict):
    facts = gather(_write(tmp_path, spec), kube_proxy_version=kp)
    kernel = facts["kernel"]
    assert facts["live"] is False
    assert (kernel["release"], kernel["upstream_version"]) == (release, upstream)
    assert kernel["selection"].startswith(selection), kernel["selection"]
    assert kernel["installed"] == [name[len("boot/vmlinuz-"):] for name in spec["files"]
                                   if name.startswith("boot/vmlinuz-")]  # oldest first, as the specs list them
    assert kernel["upstream_source"] == "/boot/config-%s (CONFIG_VERSION_SIGNATURE)" % release
    result = classify(facts)
    assert result["verdict"] == verdict, result["reasons"]
    assert "/boot/vmlinuz-" + release in [reason["source"] for reason in result["reasons"]
                                          if reason["rule"] == "image_kernel"]


def test_sysctl_file_pin_versus_no_pin(tmp_path):
    """The boot-time value is the image's file where one sets it (last in systemd-sysctl order), else 1."""
    # focal's HWE 5.13 (>= 5.9: kube-proxy 1.28 leaves the value; 5.13.y got no stable drained_backend_fix backport)
    base = dict(releases={"5.13.0-52-generic": ("5.13.0-52.59~20.04.1", "5.13.19")}, booted="5.13.0-52-generic",
                files=KP_UNIT)
    pinned = fleetgen.ubuntu_focal_image(sysctl_d={"50-a.conf": "net.ipv4.vs.conn_reuse_mode = 1\n",
                                                   "60-b.conf": "net.ipv4.vs.conn_reuse_mode = 0\n"}, **base)
    facts = gather(_write(tmp_path / "pinned", pinned), kube_proxy_version="v1.28.4")
    assert facts["persisted"]["conn_reuse_mode"] == {"value": "0", "file": "/etc/sysctl.d/60-b.conf"}
    result = classify(facts)
    assert (result["verdict"], result["starts"], result["pin_value"]) == ("problem1", "after_reboot", 1)
    facts = gather(_write(tmp_path / "default", fleetgen.ubuntu_focal_image(**base)), kube_proxy_version="v1.28.4")
    assert "conn_reuse_mode" not in facts["persisted"]
    result = classify(facts)
    assert result["verdict"] == "safe" and result["states"]["after_reboot"]["conn_reuse_mode"] == 1


def test_missing_kernel_gives_unknown(tmp_path):
    spec = fleetgen.ubuntu_focal_image(FOCAL_150, "5.4.0-150-generic", files=KP_UNIT)
    spec["files"] = dict((path, content) for path, content in spec["files"].items()
                         if not path.startswith(("boot/", "usr/lib/modules/")))
    facts = gather(_write(tmp_path, spec), kube_proxy_version="v1.21.14")
    assert facts["live"] is False and facts["kernel"]["release"] is None
    assert any(item["item"] == "kernel release" for item in facts["missing"])
    result = classify(facts)
    assert (result["verdict"], rules(result)[-1]) == ("unknown", "kernel_unknown")


def test_boot_partition_not_mounted_takes_the_kernel_from_lib_modules(tmp_path):
    spec = fleetgen.ubuntu_focal_image(FOCAL_150, "5.4.0-150-generic", files=KP_UNIT)
    spec["links"].pop("boot/vmlinuz")
    spec["files"] = dict((path, content) for path, content in spec["files"].items() if not path.startswith("boot/"))
    kernel = gather(_write(tmp_path, spec))["kernel"]
    assert (kernel["release"], kernel["source"]) == ("5.4.0-150-generic", "/lib/modules/5.4.0-150-generic")
    assert kernel["upstream_version"] is None and kernel["config_ip_vs"] is None


# (id, /boot/config text or None, changelog (file name, first line) or None, upstream, upstream_source suffix)
UBUNTU_UPSTREAM_TABLE = [
    ("signature", 'CONFIG_VERSION_SIGNATURE="Ubuntu 5.4.0-1103.111-aws 5.4.231"\n', None, "5.4.231",
     "/boot/config-5.4.0-1103-aws (CONFIG_VERSION_SIGNATURE)"),
    ("header naming the release only is not an upstream version",
     "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 5.4.0-1103-aws Kernel Configuration\n#\n",
     None, None, None),
    ("Ubuntu's changelog names the package version 5.4.0-1103.111: nothing new",
     None, ("changelog.Debian.gz", "linux-signed-aws (5.4.0-1103.111) focal; urgency=medium"), None, None),
    ("a changelog that names an upstream version counts",
     None, ("changelog.Debian.gz", "linux-aws (5.4.231-1) focal; urgency=medium"), "5.4.231",
     "/usr/share/doc/linux-image-5.4.0-1103-aws/changelog.Debian.gz"),
]


@pytest.mark.parametrize("config,changelog,upstream,source", [row[1:] for row in UBUNTU_UPSTREAM_TABLE],
                         ids=[row[0] for row in UBUNTU_UPSTREAM_TABLE])
def test_upstream_version_of_an_ubuntu_image(tmp_path, config, changelog, upstream, source):
    release = "5.4.0-1103-aws"
    files = {"boot/vmlinuz-" + release: b""}
    if config is not None:
        files["boot/config-" + release] = config
    if changelog is not None:
        files["usr/share/doc/linux-image-%s/%s" % (release, changelog[0])] = gzip.compress(
            changelog[1].encode() + b"\n\n  * Master version\n")
    kernel = gather(_write(tmp_path, {"files": files}))["kernel"]
    assert (kernel["release"], kernel["upstream_version"], kernel["upstream_source"]) == (release, upstream, source)


def test_ip_vs_unknown_when_a_long_config_is_cut_before_the_option(tmp_path):
    release = "6.8.0-45-generic"
    long_config = "# Linux/x86 %s Kernel Configuration\n" % release + "CONFIG_X=y\n" * (MAX_READ // 10)
    kernel = gather(_write(tmp_path / "long", {"files": {"boot/vmlinuz-" + release: b"",
                                                         "boot/config-" + release: long_config}}))["kernel"]
    assert kernel["config_ip_vs"] is None
    short = gather(_write(tmp_path / "short", {"files": {"boot/vmlinuz-" + release: b"",
                                                         "boot/config-" + release: "# CONFIG_IP_VS is not set\n"}}))
    assert short["kernel"]["config_ip_vs"] == "n" and short["ipvs"]["built"] == "not built"
    assert classify(dict(short, kube_proxy={"mode": "ipvs", "version": "v1.28.4"}))["verdict"] == "unknown"


def _guest_images():
    import glob
    found = []
    for suite in ("bullseye", "bookworm"):  # Debian's stock kernels, as tests/guests/build-image.sh installs them
        found += glob.glob(os.path.expanduser("~/.cache/kubenode-ipvs-reuse/images/%s-*/disk.raw" % suite))
    return sorted(found)


@pytest.mark.skipif(not _guest_images() or not (os.path.exists("/usr/sbin/debugfs") or os.path.exists("/sbin/debugfs")),
                    reason="no debootstrap guest image (tests/guests/build-image.sh) or no debugfs")
@pytest.mark.parametrize("image", _guest_images() or [None])
def test_real_debootstrap_image_gets_a_verdict_from_its_after_boot_state(tmp_path, image):
    """A real Debian image the project builds for its guests: its files copied out read-only with debugfs."""
    import subprocess
    root = tmp_path / "image"

    def debugfs(request):
        return subprocess.run(["debugfs", "-R", request, image], check=True, capture_output=True, text=True).stdout

    def link(path):
        return debugfs("stat /" + path).split('Fast link dest: "', 1)[1].split('"', 1)[0]

    release = open(os.path.join(os.path.dirname(image), "release")).read().strip()
    for directory in ("boot", "proc", "etc/sysctl.d", "usr/lib/sysctl.d", "usr/lib/modules/" + release,
                      "usr/share/doc/linux-image-" + release):
        (root / directory).mkdir(parents=True, exist_ok=True)
    for relative in ("boot/config-" + release, "usr/lib/os-release", "etc/sysctl.conf"):
        debugfs("dump /%s %s" % (relative, root / relative))
    for name in debugfs("ls /usr/lib/sysctl.d").split():
        if name.endswith(".conf"):
            debugfs("dump /usr/lib/sysctl.d/%s %s" % (name, root / "usr/lib/sysctl.d" / name))
    (root / ("boot/vmlinuz-" + release)).write_bytes(b"")  # the kernel itself is never read
    for path in ("vmlinuz", "lib", "etc/os-release"):
        os.symlink(link(path), str(root / path))
    facts = gather(str(root), proxy_mode="ipvs", kube_proxy_version="v1.28.4")
    assert facts["live"] is False and facts["kernel"]["release"] == release
    assert facts["kernel"]["upstream_source"] == "/boot/config-" + release  # Debian's header names it
    result = classify(facts)
    # Debian 11/12 kernels are >= 5.10.83 upstream: both fixes; kube-proxy 1.28 leaves the default 1 (row 5)
    assert (result["verdict"], list(result["states"])) == ("safe", ["after_reboot"]), result["reasons"]
    assert result["states"]["after_reboot"]["conn_reuse_mode"] == 1
