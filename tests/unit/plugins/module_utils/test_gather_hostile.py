"""Hostile node trees (issue 14): reads stay inside the root, nothing blocks, every parse is linear,
malformed values never become facts, and nothing turns a node into not_applicable by mistake."""
import gzip
import os
import socket
import time

import pytest

from support import fleetgen
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import gather as G
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import classify
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.gather import gather

BASE = {"kernel": "5.10.0-28-amd64", "os": {"ID": "debian", "VERSION_ID": "11"}, "vs": fleetgen.KUBEPROXY_VS}
SECRET = "s3cr3t-outside-the-root"


@pytest.fixture
def world(tmp_path):
    """A node root plus a directory beside it that holds a secret the gatherer must never read."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text(SECRET + "\nmode: iptables\n")
    (outside / "kernel").mkdir()
    (outside / "kernel" / "osrelease").write_text(SECRET + "\n")
    root = fleetgen.write_node(str(tmp_path / "node"), dict(BASE))
    return root, str(outside)


def replace_with_link(root, relative, target):
    path = os.path.join(root, relative)
    fleetgen.remove_entry(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(target, path)


def outside_reported(facts, path):
    return any(item["path"] == path and "outside the root" in item["reason"] for item in facts["missing"])


def test_relative_symlink_out_of_the_root_is_not_read(world):
    root, _outside = world
    replace_with_link(root, "proc/sys/kernel/osrelease", "../../../../../../../../../" + _outside.lstrip("/")
                      + "/secret")
    replace_with_link(root, "etc/os-release", "../../outside/secret")
    facts = gather(root)
    assert SECRET not in repr(facts)
    assert outside_reported(facts, "/proc/sys/kernel/osrelease") and outside_reported(facts, "/etc/os-release")
    assert classify(facts, {})["verdict"] == "unknown"


def test_directory_symlink_anywhere_on_the_path_is_confined(world):
    root, outside = world
    replace_with_link(root, "proc/sys/kernel", outside + "/kernel")  # absolute: resolved against the root
    facts = gather(root)
    assert SECRET not in repr(facts)
    assert facts["kernel"]["release"] is None
    replace_with_link(root, "proc/sys/kernel", "../../../outside/kernel")  # relative: leaves the root
    facts = gather(root)
    assert SECRET not in repr(facts) and outside_reported(facts, "/proc/sys/kernel/osrelease")


def test_absolute_symlinks_inside_an_image_resolve_against_the_root(world):
    root, _outside = world
    fleetgen.write_file(root, "usr/lib/os-release", 'ID=ubuntu\nVERSION_ID="22.04"\n')
    replace_with_link(root, "etc/os-release", "/usr/lib/os-release")
    replace_with_link(root, "etc/ospointer", "../usr/lib/os-release")
    assert gather(root)["os"]["id"] == "ubuntu"


def test_link_chains_longer_than_the_limit_are_refused(world):
    root, _outside = world
    replace_with_link(root, "proc/sys/kernel/osrelease", "/chain/0")
    for index in range(G.MAX_LINKS + 5):
        replace_with_link(root, "chain/%d" % index, "/chain/%d" % (index + 1))
    fleetgen.write_file(root, "chain/%d" % (G.MAX_LINKS + 5), "5.10.0-28-amd64\n")
    facts = gather(root)
    assert facts["kernel"]["release"] is None
    assert any("too many links" in item["reason"] for item in facts["missing"])


def test_self_loop_and_dotdot_above_the_root(world):
    root, _outside = world
    replace_with_link(root, "proc/sys/kernel/osrelease", "osrelease")
    replace_with_link(root, "etc/os-release", "../../..")
    facts = gather(root)
    assert facts["kernel"]["release"] is None and outside_reported(facts, "/etc/os-release")


def test_config_path_from_the_node_cannot_leave_the_root(world):
    root, _outside = world
    fleetgen.write_file(root, "etc/systemd/system/kube-proxy.service",
                        "[Service]\nExecStart=/usr/bin/kube-proxy --config=../../../../../outside/secret\n")
    facts = gather(root, kube_proxy_version="v1.28.4")
    assert SECRET not in repr(facts) and facts["kube_proxy"]["mode"] is None
    assert any("outside the root" in item["reason"] for item in facts["missing"])
    assert classify(facts, {})["verdict"] != "not_applicable"


def make_special(path, kind):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.remove(path)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        sock, here = socket.socket(socket.AF_UNIX), os.getcwd()
        try:
            os.chdir(os.path.dirname(path))  # AF_UNIX paths are short: bind by the bare name
            sock.bind(os.path.basename(path))
        finally:
            os.chdir(here)
            sock.close()
    elif kind == "directory":
        os.mkdir(path)
    elif kind == "device":
        os.symlink("/dev/zero", path)  # absolute: resolved against the root, so also check a real device below


SPECIAL_TARGETS = ["proc/sys/kernel/osrelease", "proc/sys/net/ipv4/vs/conn_reuse_mode", "etc/os-release",
                   "etc/sysctl.d/50-x.conf", "etc/systemd/system/kube-proxy.service",
                   "etc/kubernetes/manifests/kube-proxy.yaml", "proc/9/cmdline", "etc/rancher/k3s/config.yaml",
                   "var/log/pods/kube-system_kube-proxy-a_1/kube-proxy/0.log"]


@pytest.mark.parametrize("kind", ["fifo", "socket", "directory"])
def test_special_files_are_reported_never_waited_on(world, kind):
    root, _outside = world
    for relative in SPECIAL_TARGETS:
        make_special(os.path.join(root, relative), kind)
    started = time.monotonic()
    facts = gather(root, proxy_mode="ipvs", kube_proxy_version="v1.28.4")
    assert time.monotonic() - started < 10
    assert any(item["path"] == "/proc/sys/kernel/osrelease" for item in facts["missing"])
    assert classify(facts, {})["verdict"] == "unknown"


def test_a_character_device_is_not_read(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    node = G.NodeRoot("/")
    assert node.read("dev/zero", "device") is None
    assert "not a regular file (character device)" in node.missing[-1]["reason"]


def test_huge_files_are_read_only_up_to_the_cap(world):
    root, _outside = world
    fleetgen.write_file(root, "etc/os-release", "ID=debian\n" + "#" * (8 * G.MAX_READ))
    fleetgen.write_file(root, "proc/sys/kernel/osrelease", "5" * (4 * G.MAX_READ))
    facts = gather(root)
    assert facts["os"]["id"] == "debian" and facts["kernel"]["release"] is None


def test_dangling_and_looping_newest_pod_log_does_not_crash(world):
    root, _outside = world
    logs = "var/log/pods/kube-system_kube-proxy-a_1/kube-proxy/"
    fleetgen.write_file(root, logs + "0.log", "I1 x] Version: v1.28.4\n")
    replace_with_link(root, logs + "1.log", "missing.log")
    replace_with_link(root, logs + "2.log", "2.log")
    facts = gather(root)
    assert facts["kube_proxy"]["version"] == "v1.28.4"


@pytest.mark.parametrize("relative,content", [
    ("proc/sys/kernel/osrelease", b"5.10.0\x00-28-amd64\n"),
    ("proc/sys/kernel/osrelease", b"5.10.0-28\x1b[31m\n"),
    ("etc/os-release", b"ID=deb\x00ian\nVERSION_ID=11\n"),
])
def test_nul_and_control_characters_are_malformed_never_facts(world, relative, content):
    root, _outside = world
    fleetgen.write_file(root, relative, content)
    facts = gather(root)
    assert "\x00" not in repr(facts) and "\\x00" not in repr(facts) and "\\x1b" not in repr(facts)
    assert any(item["path"] == "/" + relative and "malformed" in item["reason"] for item in facts["missing"])


def test_negative_sysctl_is_malformed(world):
    root, _outside = world
    fleetgen.write_file(root, "proc/sys/net/ipv4/vs/conn_reuse_mode", "-5\n")
    facts = gather(root, proxy_mode="ipvs", kube_proxy_version="v1.28.4")
    assert facts["sysctl"]["conn_reuse_mode"] is None
    assert "malformed" in facts["sysctl_errors"]["conn_reuse_mode"]
    assert classify(facts, {})["verdict"] == "unknown"


@pytest.mark.parametrize("files,raw", [
    ({"proc/5/cmdline": "kube-proxy\0--proxy-mode=bogus\0"}, "bogus"),
    ({"etc/systemd/system/kube-proxy.service": "[Service]\nExecStart=/bin/kube-proxy --config=/etc/kp.yaml\n",
      "etc/kp.yaml": "mode: x\n"}, "x"),
    ({"etc/systemd/system/kube-proxy.service": "[Service]\nExecStart=/bin/kube-proxy --config=/etc/kp.yaml\n",
      "etc/kp.yaml": "mode: 'ipvs '\n"}, "ipvs"),
])
def test_unparseable_modes_are_passed_on_raw(world, files, raw):
    root, _outside = world
    for relative, content in files.items():
        fleetgen.write_file(root, relative, content)
    assert gather(root)["kube_proxy"]["mode"] == raw


@pytest.mark.parametrize("files,mode", [
    ({"etc/rancher/k3s/config.yaml": "# kube-proxy-arg:\n#   - proxy-mode=ipvs\nnode-name: a\n"}, None),
    ({"etc/rancher/k3s/config.yaml": "kube-proxy-arg:\n  # - proxy-mode=ipvs\n  - proxy-mode=iptables\n"},
     "iptables"),
    ({"etc/systemd/system/kube-proxy.service":
      "[Service]\n#ExecStart=/bin/kube-proxy --proxy-mode=ipvs\nExecStart=/bin/kube-proxy --proxy-mode=iptables\n"},
     "iptables"),
    ({"etc/systemd/system/kube-proxy.service": "[Service]\nExecStart=/bin/kube-proxy --proxy-mode=ipvs\n",
      "etc/systemd/system/kube-proxy.service.d/10-override.conf":
      "[Service]\nExecStart=\nExecStart=/bin/kube-proxy \\\n  --proxy-mode=iptables\n"}, "iptables"),
    ({"etc/systemd/system/kube-proxy.service": "[Service]\nExecStart=/bin/kube-proxy --config=/etc/kp.yaml\n",
      "etc/kp.yaml": "# mode: ipvs\nkind: KubeProxyConfiguration\n"}, None),
    ({"etc/default/kube-proxy": '# KUBE_PROXY_ARGS="--proxy-mode=ipvs"\nKUBE_PROXY_ARGS="--proxy-mode=iptables"\n'},
     "iptables"),
    ({"etc/kubernetes/manifests/kube-proxy.yaml":
      "spec:\n  containers:\n  - command:\n    # - --proxy-mode=ipvs\n    - kube-proxy\n"}, None),
])
def test_commented_configs_do_not_count(world, files, mode):
    root, _outside = world
    for relative, content in files.items():
        fleetgen.write_file(root, relative, content)
    assert gather(root)["kube_proxy"]["mode"] == mode


def test_running_kube_proxy_config_is_read_through_its_root(world):
    root, _outside = world
    fleetgen.write_file(root, "proc/4242/cmdline", "/usr/local/bin/kube-proxy\0--config=/var/lib/kp/config.conf\0")
    fleetgen.write_file(root, "proc/4242/root/var/lib/kp/config.conf", "mode: ipvs\n")
    fleetgen.write_file(root, "var/lib/kp/config.conf", "mode: iptables\n")  # the host's file is not the process's
    facts = gather(root)
    assert facts["kube_proxy"]["mode"] == "ipvs"
    assert "/proc/4242/root/var/lib/kp/config.conf" in facts["kube_proxy"]["mode_source"]


def test_process_root_cannot_be_escaped(world):
    root, _outside = world
    fleetgen.write_file(root, "proc/4242/cmdline", "kube-proxy\0--config=../../../../../outside/secret\0")
    os.makedirs(os.path.join(root, "proc/4242/root"))
    facts = gather(root)
    assert SECRET not in repr(facts) and facts["kube_proxy"]["mode"] is None


def test_deadline_makes_the_gather_an_error(world):
    root, _outside = world
    facts = gather(root, proxy_mode="ipvs", kube_proxy_version="v1.28.4", deadline=1e-9)
    assert facts["gather_error"] == "gathering took longer than 1e-09 s"
    assert classify(facts, {})["verdict"] == "unknown"


# The worst inputs found for each parser (main took tens of seconds to minutes on some; see the changelog).
WORST_INPUTS = {
    "manifest image": ("etc/kubernetes/manifests/kube-proxy.yaml", "image:" * 40000),
    "manifest image spaced": ("etc/kubernetes/manifests/kube-proxy.yaml", "image: " * 35000),
    "config mode": ("etc/kp.yaml", "mode:" + " " * 100000 + "x!"),
    "os-release": ("etc/os-release", "ID=" + " " * 250000 + "x"),
    "persisted sysctl": ("etc/sysctl.d/50-x.conf", " " * 200000 + "-" + " " * 50000 + "net.ipv4.vs.x"),
    "pin file": ("etc/sysctl.d/90-kubenode-ipvs-reuse.conf", "net.ipv4.vs.conn_reuse_mode" + " " * 250000),
    "kernel build": ("proc/sys/kernel/version", "Ubuntu" * 600),
    "pod log": ("var/log/pods/kube-system_kube-proxy-a_1/kube-proxy/0.log", "Version: " * 28000),
    "k3s config": ("etc/rancher/k3s/config.yaml", "proxy-mode=" * 23000),
    "unit file": ("etc/systemd/system/kube-proxy.service", "ExecStart=" + "--proxy-mode " * 19000),
    "process": ("proc/3/cmdline", "kube-proxy\0" + "--config\0" * 25000),
}


@pytest.mark.parametrize("name", sorted(WORST_INPUTS))
def test_worst_inputs_stay_linear(world, name):
    root, _outside = world
    relative, content = WORST_INPUTS[name]
    fleetgen.write_file(root, "etc/systemd/system/kube-proxy.service",
                        "[Service]\nExecStart=/bin/kube-proxy --config=/etc/kp.yaml\n")
    fleetgen.write_file(root, relative, content)
    started = time.monotonic()
    facts = gather(root, deadline=None)
    assert time.monotonic() - started < 3.0, name  # linear parsers take well under 0.5 s here
    assert "gather_error" not in facts


def test_offline_image_with_two_kernels_uses_the_vmlinuz_link(tmp_path):
    root = str(tmp_path / "image")
    for release in ("6.1.0-18-amd64", "6.1.0-50-cloud-amd64"):
        fleetgen.write_file(root, "boot/vmlinuz-" + release, b"")
        fleetgen.write_file(root, "usr/lib/modules/%s/modules.order" % release, "")
    fleetgen.write_file(root, "boot/config-6.1.0-18-amd64",
                        "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 6.1.76 Kernel Configuration\n"
                        "#\nCONFIG_IP_VS=m\n")
    os.symlink("usr/lib", os.path.join(root, "lib"))
    os.symlink("boot/vmlinuz-6.1.0-18-amd64", os.path.join(root, "vmlinuz"))
    os.makedirs(os.path.join(root, "proc"))
    facts = gather(root)
    kernel = facts["kernel"]
    assert facts["live"] is False
    assert kernel["installed"] == ["6.1.0-18-amd64", "6.1.0-50-cloud-amd64"]
    assert kernel["release"] == "6.1.0-18-amd64" and "/vmlinuz link" in kernel["selection"]
    assert (kernel["upstream_version"], kernel["upstream_source"]) == ("6.1.76", "/boot/config-6.1.0-18-amd64")
    assert facts["ipvs"]["built"] == "module"
    os.remove(os.path.join(root, "vmlinuz"))
    kernel = gather(root)["kernel"]
    assert kernel["release"] == "6.1.0-50-cloud-amd64" and "newest of 2" in kernel["selection"]


def test_offline_image_upstream_from_the_changelog_with_bounded_gunzip(tmp_path):
    root = str(tmp_path / "image")
    release = "6.1.0-50-cloud-amd64"
    fleetgen.write_file(root, "boot/vmlinuz-" + release, b"")
    fleetgen.write_file(root, "usr/share/doc/linux-image-%s/changelog.gz" % release, gzip.compress(
        b"linux-signed-amd64 (6.1.176+1) bookworm-security; urgency=high\n" + b"\n" * (50 * 1024 * 1024)))
    facts = gather(root)
    assert facts["kernel"]["upstream_version"] == "6.1.176"
    assert facts["kernel"]["upstream_source"] == "/usr/share/doc/linux-image-%s/changelog.gz" % release


def _guest_image():
    import glob
    images = sorted(glob.glob(os.path.expanduser("~/.cache/kubenode-ipvs-reuse/images/bookworm-*/disk.raw")))
    return images[-1] if images else None


@pytest.mark.skipif(_guest_image() is None or not os.path.exists("/usr/sbin/debugfs") and
                    not os.path.exists("/sbin/debugfs"), reason="no debootstrap guest image or no debugfs")
def test_real_debootstrap_image_is_assessed_by_what_it_boots(tmp_path):
    """The project's own Debian 12 guest image (tests/guests/build-image.sh), files copied out with debugfs."""
    import subprocess
    image, root = _guest_image(), tmp_path / "image"
    root.mkdir()

    def debugfs(request):
        return subprocess.run(["debugfs", "-R", request, image], check=True, capture_output=True,
                              text=True).stdout

    release = open(os.path.join(os.path.dirname(image), "release")).read().strip()
    for directory in ("boot", "etc/sysctl.d", "usr/lib/sysctl.d", "usr/lib/modules/" + release, "proc",
                      "usr/share/doc/linux-image-" + release):
        (root / directory).mkdir(parents=True, exist_ok=True)
    for relative in ("boot/config-" + release, "usr/lib/os-release",
                     "usr/share/doc/linux-image-%s/changelog.gz" % release):
        debugfs("dump /%s %s" % (relative, root / relative))
    (root / ("boot/vmlinuz-" + release)).write_bytes(b"")  # the 14 MB kernel itself is not read
    for link in ("vmlinuz", "lib", "etc/os-release"):
        target = debugfs("stat /" + link).split('Fast link dest: "', 1)[1].split('"', 1)[0]
        os.symlink(target, str(root / link))
    facts = gather(str(root))
    kernel = facts["kernel"]
    assert facts["live"] is False and kernel["release"] == release and kernel["installed"] == [release]
    assert "/vmlinuz link" in kernel["selection"]
    assert kernel["upstream_version"].count(".") == 2 and kernel["upstream_source"] == "/boot/config-" + release
    assert facts["os"]["id"] == "debian" and facts["ipvs"]["built"] in ("module", "built in")
    assert SECRET not in repr(facts)
