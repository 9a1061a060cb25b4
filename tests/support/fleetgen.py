"""Write offline node roots (the file layout ipvs_facts reads) from small node specs.

Used by the demo fleet, the unit tests and the benchmark. A spec is a dict:
  kernel: "5.4.0-150-generic"          -> proc/sys/kernel/osrelease
  kernel_build: "#1 SMP Debian ..."    -> proc/sys/kernel/version (optional)
  os: {ID: ubuntu, VERSION_ID: "20.04", PRETTY_NAME: ...} -> etc/os-release
  vs: {conn_reuse_mode: 0, conntrack: 1, ...} or None (no ip_vs) -> proc/sys/net/ipv4/vs/*
  modules: ["ip_vs", ...]               -> proc/modules (optional)
  sysctl_d: {"50-k8s.conf": "net.ipv4.vs.conn_reuse_mode = 1\n"} -> etc/sysctl.d/*
  files: {"relative/path": "content"}  -> anything else (kube-proxy config, logs, k3s config, ...)
  kube_ipvs0: true                      -> sys/class/net/kube-ipvs0/
  ip_vs_table: "..."                    -> proc/net/ip_vs
  links: {"relative/path": "target"}   -> symbolic links (an image's /lib -> usr/lib, /boot/vmlinuz -> ...)
An offline image has no "kernel" (no proc/ at all: git keeps no empty directory, and the gatherer reads a
missing /proc as it reads an image's empty one); its kernels are files, see ubuntu_focal_image().
"""

import os


def write_file(root, relative, content):
    path = os.path.join(root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = "wb" if isinstance(content, bytes) else "w"
    with open(path, mode) as handle:
        handle.write(content)


def remove_entry(path):
    """Remove whatever is at path (file, link, or a real directory with its contents), so something else can go there."""
    import shutil

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def write_node(root, spec):
    os.makedirs(root, exist_ok=True)
    if spec.get("kernel") is not None:
        write_file(root, "proc/sys/kernel/osrelease", spec["kernel"] + "\n")
    if spec.get("kernel_build"):
        write_file(root, "proc/sys/kernel/version", spec["kernel_build"] + "\n")
    if spec.get("os"):
        write_file(root, "etc/os-release", "".join('%s="%s"\n' % item for item in spec["os"].items()))
    if spec.get("vs") is not None:
        os.makedirs(os.path.join(root, "proc/sys/net/ipv4/vs"), exist_ok=True)
        for name, value in spec["vs"].items():
            write_file(root, "proc/sys/net/ipv4/vs/" + name, "%s\n" % value if not isinstance(value, bytes) else value)
    if spec.get("modules") is not None:
        write_file(root, "proc/modules", "".join("%s 200704 0 - Live 0x0\n" % name for name in spec["modules"]))
    for name, content in (spec.get("sysctl_d") or {}).items():
        write_file(root, "etc/sysctl.d/" + name, content)
    for relative, content in (spec.get("files") or {}).items():
        write_file(root, relative, content)
    if spec.get("kube_ipvs0"):  # a file inside, as in sysfs, so that git keeps the directory
        write_file(root, "sys/class/net/kube-ipvs0/operstate", "unknown\n")
    if spec.get("ip_vs_table"):
        write_file(root, "proc/net/ip_vs", spec["ip_vs_table"])
    for relative, target in sorted((spec.get("links") or {}).items()):
        path = os.path.join(root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.islink(path):  # writing the fleet again over itself
            os.remove(path)
        os.symlink(target, path)
    return root


def ubuntu_focal_image(releases, booted, sysctl_d=None, files=None, merged_usr=True):
    """releases: {release: (package version, upstream version)}, as /proc/version_signature would name them.

    The files of an Ubuntu 20.04 image (merged /usr) as a mounted image shows them: no live /proc, each kernel
    as /boot/vmlinuz-<release> (empty here: the gatherer never reads it), /boot/config-<release> with Ubuntu's
    CONFIG_VERSION_SIGNATURE and its Kconfig header naming the release, /lib/modules/<release>/, and the
    /boot/vmlinuz link to the kernel the image boots (/boot/vmlinuz.old to the one before).
    merged_usr: /lib is a link to usr/lib (new installs); False keeps a real /lib (a system upgraded from 18.04),
    as the committed demo must: a link to a directory fails ansible-test's symlinks sanity test."""
    lib = "usr/lib" if merged_usr else "lib"
    image = {"boots": booted,  # for the tests; not a file
             "links": {"etc/os-release": "../usr/lib/os-release", "boot/vmlinuz": "vmlinuz-" + booted},
             "sysctl_d": dict(sysctl_d or {}), "files": {
                 "usr/lib/os-release": 'NAME="Ubuntu"\nVERSION="20.04.6 LTS (Focal Fossa)"\nID=ubuntu\n'
                                       'VERSION_ID="20.04"\nPRETTY_NAME="Ubuntu 20.04.6 LTS"\n',
                 "etc/sysctl.d/10-network-security.conf": "# Turn on Source Address Verification in all interfaces "
                                                          "to\n# prevent some spoofing attacks.\n"
                                                          "net.ipv4.conf.default.rp_filter=2\n"
                                                          "net.ipv4.conf.all.rp_filter=2\n"}}
    if merged_usr:
        image["links"]["lib"] = "usr/lib"
    older = [release for release in releases if release != booted]
    if older:
        image["links"]["boot/vmlinuz.old"] = "vmlinuz-" + older[-1]
    for release, (package, upstream) in releases.items():
        flavour = release.rpartition("-")[2]
        image["files"]["boot/vmlinuz-" + release] = b""
        image["files"]["boot/config-" + release] = (
            "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 %s Kernel Configuration\n#\n"
            "CONFIG_LOCALVERSION=\"\"\n# CONFIG_LOCALVERSION_AUTO is not set\n"
            "CONFIG_VERSION_SIGNATURE=\"Ubuntu %s-%s %s\"\nCONFIG_NETFILTER=y\nCONFIG_IP_VS=m\n"
            % (release, package, flavour, upstream))
        image["files"]["%s/modules/%s/modules.order" % (lib, release)] = "kernel/net/netfilter/ipvs/ip_vs.ko\n"
    image["files"].update(files or {})
    return image


KUBEPROXY_VS = {"conn_reuse_mode": 0, "conntrack": 1, "expire_nodest_conn": 1, "expire_quiescent_template": 1}
IP_VS_TABLE = (
    "IP Virtual Server version 1.2.1 (size=4096)\n"
    "Prot LocalAddress:Port Scheduler Flags\n"
    "  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n"
    "TCP  0A600001:01BB rr\n"
    "  -> 0AF40102:192B      Masq    1      0          0\n"
)


def _pod_log(version, mode="ipvs"):
    return {"var/log/pods/kube-system_kube-proxy-abcde_0123/kube-proxy/0.log":
            '2026-11-20T08:00:00.000000000Z stderr F I1120 08:00:00.000001 1 server.go:495] "Version info" '
            'version="%s"\n2026-11-20T08:00:00.100000000Z stderr F I1120 08:00:00.100001 1 server_others.go:218] '
            '"Using %s Proxier"\n' % (version, mode)}


def _os(os_id, version_id, pretty):
    return {"ID": os_id, "VERSION_ID": version_id, "PRETTY_NAME": pretty}


# The demo fleet: one node per situation the assessment must tell apart. "expect" is what the
# classification must say (checked by tests/unit/test_demo_fleet.py); "inventory" adds host vars.
DEMO_FLEET = {
    # up to date: focal's ABI 150 carries both fixes (upstream 5.4.231), so kube-proxy's own 0 with
    # expire_nodest_conn=1 is safe (row 6)
    "ubuntu2004-kp121": {
        "kernel": "5.4.0-150-generic", "os": _os("ubuntu", "20.04", "Ubuntu 20.04.6 LTS"),
        "vs": KUBEPROXY_VS, "modules": ["ip_vs", "nf_conntrack"], "kube_ipvs0": True, "ip_vs_table": IP_VS_TABLE,
        "files": dict(_pod_log("v1.21.14"), **{"proc/version_signature": "Ubuntu 5.4.0-150.167-generic 5.4.231\n"}),
        "expect": {"verdict": "safe", "mitigation": "none", "syn_drop_fix": True},
    },
    # an old focal kernel (ABI 42, before 5.4.0-48): neither fix, nothing to pin
    "ubuntu2004-old-kernel": {
        "kernel": "5.4.0-42-generic", "os": _os("ubuntu", "20.04", "Ubuntu 20.04.1 LTS"),
        "vs": KUBEPROXY_VS, "files": _pod_log("v1.21.14"),
        "expect": {"verdict": "problem1", "mitigation": "os_upgrade", "syn_drop_fix": False},
    },
    # Debian 10 prints 4.19.0-25; its build string names upstream 4.19.289, which carries both fixes
    "debian10-kp118": {
        "kernel": "4.19.0-25-amd64", "kernel_build": "#1 SMP Debian 4.19.289-2 (2023-08-08)",
        "os": _os("debian", "10", "Debian GNU/Linux 10 (buster)"), "vs": KUBEPROXY_VS,
        "files": _pod_log("v1.18.20"),
        "expect": {"verdict": "safe", "mitigation": "none", "syn_drop_fix": True},
    },
    # ELRepo prints the upstream numbers: 5.4.266 carries both fixes
    "elrepo-5.4": {
        "kernel": "5.4.266-1.el7.elrepo.x86_64", "os": _os("centos", "7", "CentOS Linux 7 (Core)"),
        "vs": KUBEPROXY_VS, "files": _pod_log("v1.23.17"),
        "expect": {"verdict": "safe", "mitigation": "none", "syn_drop_fix": True},
    },
    # the vendor switch turned off: the first SYN is dropped again; the pin must turn the switch back on
    "tencentos-switch-off": {
        "kernel": "4.14.105-1-tlinux3-0013", "os": _os("tencentos", "3.1", "TencentOS Server 3.1"),
        "vs": dict(KUBEPROXY_VS, conn_reuse_mode=1, conn_reuse_old_conntrack=0), "files": _pod_log("v1.20.15"),
        "expect": {"verdict": "problem2", "mitigation": "pin_sysctl", "syn_drop_fix": True, "pin_value": 1,
                   "pin_sysctls": {"conn_reuse_mode": 1, "conn_reuse_old_conntrack": 1}},
    },
    "ubuntu2204-kp128": {
        "kernel": "5.15.0-91-generic", "os": _os("ubuntu", "22.04", "Ubuntu 22.04.3 LTS"),
        "vs": dict(KUBEPROXY_VS, conn_reuse_mode=1), "modules": ["ip_vs"], "kube_ipvs0": True,
        "files": _pod_log("v1.28.4"),
        "expect": {"verdict": "safe", "mitigation": "none", "syn_drop_fix": True},
    },
    "debian11-persisted0": {
        "kernel": "5.10.0-9-amd64", "kernel_build": "#1 SMP Debian 5.10.70-1 (2021-09-30)",
        "os": _os("debian", "11", "Debian GNU/Linux 11 (bullseye)"),
        "vs": KUBEPROXY_VS, "sysctl_d": {"60-ipvs.conf": "net.ipv4.vs.conn_reuse_mode = 0\n"},
        "files": _pod_log("v1.27.3-eks-a5565ad"),
        "expect": {"verdict": "problem1", "mitigation": "pin_sysctl", "syn_drop_fix": True, "pin_value": 1,
                   "pin_needs_keeper": False},
    },
    "debian12-k3s": {
        "kernel": "6.1.0-18-amd64", "os": _os("debian", "12", "Debian GNU/Linux 12 (bookworm)"),
        "vs": KUBEPROXY_VS,
        "files": {"etc/rancher/k3s/config.yaml": "write-kubeconfig-mode: \"0644\"\nkube-proxy-arg:\n"
                                                 "  - proxy-mode=ipvs\n  - ipvs-scheduler=rr\n"},
        "inventory": {"assess_kube_proxy_version": "v1.28.5+k3s1"},
        "expect": {"verdict": "safe", "mitigation": "none", "syn_drop_fix": True},
    },
    "centos7-kp118": {
        "kernel": "3.10.0-1160.el7.x86_64", "os": _os("centos", "7", "CentOS Linux 7 (Core)"),
        "vs": KUBEPROXY_VS,
        "files": {"etc/systemd/system/kube-proxy.service":
                  "[Service]\nExecStart=/usr/local/bin/kube-proxy --proxy-mode=ipvs "
                  "--kubeconfig=/etc/kubernetes/kube-proxy.kubeconfig\nRestart=always\n"},
        "inventory": {"assess_kube_proxy_version": "v1.18.20"},
        "expect": {"verdict": "problem1", "mitigation": "os_upgrade", "syn_drop_fix": False},
    },
    "euleros-h686": {
        "kernel": "4.18.0-147.5.1.6.h686.eulerosv2r9.x86_64", "os": _os("euleros", "2.0", "EulerOS 2.0 (SP9x86_64)"),
        "vs": KUBEPROXY_VS, "files": _pod_log("v1.23.17"),
        "expect": {"verdict": "problem1", "mitigation": "pin_sysctl", "syn_drop_fix": True, "pin_value": 1,
                   "pin_needs_keeper": True},
    },
    "tencentos-marker": {
        "kernel": "4.14.105-1-tlinux3-0013", "os": _os("tencentos", "3.1", "TencentOS Server 3.1"),
        "vs": dict(KUBEPROXY_VS, conn_reuse_mode=1, conn_reuse_old_conntrack=1), "files": _pod_log("v1.20.15"),
        "expect": {"verdict": "problem1", "mitigation": "pin_sysctl", "syn_drop_fix": True, "pin_value": 1,
                   "pin_needs_keeper": True},
    },
    "rhel8-crm1": {
        "kernel": "4.18.0-477.27.1.el8_8.x86_64", "os": _os("rhel", "8.8", "Red Hat Enterprise Linux 8.8 (Ootpa)"),
        "vs": dict(KUBEPROXY_VS, conn_reuse_mode=1), "sysctl_d": {"99-k8s.conf": "net.ipv4.vs.conn_reuse_mode=1\n"},
        "files": _pod_log("v1.26.11"),
        "expect": {"verdict": "problem2", "mitigation": "os_upgrade", "syn_drop_fix": None},
    },
    "amzn2-static-pod": {
        "kernel": "4.14.336-257.562.amzn2.x86_64", "os": _os("amzn", "2", "Amazon Linux 2"),
        "vs": KUBEPROXY_VS,
        "files": {"etc/kubernetes/manifests/kube-proxy.yaml":
                  "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-proxy\n  namespace: kube-system\nspec:\n"
                  "  containers:\n    - name: kube-proxy\n      image: registry.k8s.io/kube-proxy:v1.24.17\n"
                  "      command: [kube-proxy, --proxy-mode=ipvs, --v=2]\n"},
        "expect": {"verdict": "safe", "mitigation": "none", "syn_drop_fix": True},
    },
    "debian12-iptables-leftovers": {
        "kernel": "6.1.0-18-amd64", "os": _os("debian", "12", "Debian GNU/Linux 12 (bookworm)"),
        "vs": dict(KUBEPROXY_VS, conn_reuse_mode=1), "kube_ipvs0": True, "ip_vs_table": IP_VS_TABLE,
        "files": dict(_pod_log("v1.29.2", mode="iptables")),
        "expect": {"verdict": "not_applicable", "mitigation": "none"},
    },
    "no-ip-vs-loaded": {
        "kernel": "5.15.0-91-generic", "os": _os("ubuntu", "22.04", "Ubuntu 22.04.3 LTS"),
        "vs": None, "modules": ["overlay", "br_netfilter"],
        "inventory": {"assess_proxy_mode": "ipvs", "assess_kube_proxy_version": "v1.28.4"},
        "expect": {"verdict": "unknown", "mitigation": "none"},
    },
    # a golden image as mounted read-only (Ubuntu 20.04): no live /proc, two kernels, /boot/vmlinuz
    # names the one it boots. Assessed by its after-boot state: no sysctl file sets conn_reuse_mode (kernel default
    # 1), kube-proxy 1.21 writes 0 and expire_nodest_conn=1 at its first start, and focal's ABI 150 carries both
    # fixes (row 6). The version comes from the cluster (inventory here), the mode from the image's unit.
    "ubuntu2004-image": dict(ubuntu_focal_image(
        {"5.4.0-100-generic": ("5.4.0-100.113", "5.4.166"), "5.4.0-150-generic": ("5.4.0-150.167", "5.4.231")},
        booted="5.4.0-150-generic", merged_usr=False,
        sysctl_d={"99-kubernetes.conf": "net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\n"},
        files={"etc/systemd/system/kube-proxy.service":
               "[Unit]\nDescription=Kubernetes Kube Proxy\n[Service]\nExecStart=/usr/local/bin/kube-proxy \\\n"
               "  --config=/var/lib/kube-proxy/kube-proxy-config.yaml\nRestart=on-failure\n",
               "var/lib/kube-proxy/kube-proxy-config.yaml":
               "kind: KubeProxyConfiguration\napiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
               "clientConnection:\n  kubeconfig: /var/lib/kube-proxy/kubeconfig\nmode: \"ipvs\"\n"}),
        inventory={"assess_kube_proxy_version": "v1.21.14"},
        expect={"verdict": "safe", "mitigation": "none", "syn_drop_fix": True}),
    "garbled-sysctl": {
        "kernel": "5.4.0-150-generic", "os": _os("ubuntu", "20.04", "Ubuntu 20.04.6 LTS"),
        "vs": dict(KUBEPROXY_VS, conn_reuse_mode="zero?"), "files": _pod_log("v1.22.17"),
        "expect": {"verdict": "unknown", "mitigation": "none"},
    },
}


def write_demo_fleet(directory):
    """Write the demo fleet's node roots and its inventory below directory."""
    import json

    hosts = {}
    for name, spec in sorted(DEMO_FLEET.items()):
        write_node(os.path.join(directory, "nodes", name), spec)
        hosts[name] = dict({"assess_node_root": "{{ inventory_dir }}/nodes/%s" % name}, **spec.get("inventory", {}))
    inventory = {"all": {"vars": {"ansible_connection": "local",
                                  "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                                  "assess_metrics_url": ""},
                         "hosts": hosts}}
    with open(os.path.join(directory, "inventory.yml"), "w") as handle:
        handle.write("---\n# Generated by python3 scripts/make_demo_fleet.py from tests/support/fleetgen.py (DEMO_FLEET).\n")
        handle.write("# Offline node roots: each host is read from nodes/<name>/ instead of a live node.\n")
        json.dump(inventory, handle, indent=2, sort_keys=True)
        handle.write("\n")
