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
"""

import os


def write_file(root, relative, content):
    path = os.path.join(root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = "wb" if isinstance(content, bytes) else "w"
    with open(path, mode) as handle:
        handle.write(content)


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
    if spec.get("kube_ipvs0"):
        os.makedirs(os.path.join(root, "sys/class/net/kube-ipvs0"), exist_ok=True)
    if spec.get("ip_vs_table"):
        write_file(root, "proc/net/ip_vs", spec["ip_vs_table"])
    return root


KUBEPROXY_VS = {"conn_reuse_mode": 0, "conntrack": 1, "expire_nodest_conn": 1, "expire_quiescent_template": 1}
IP_VS_TABLE = (
    "IP Virtual Server version 1.2.1 (size=4096)\n"
    "Prot LocalAddress:Port Scheduler Flags\n"
    "  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n"
    "TCP  0A600001:01BB rr\n"
    "  -> 0AF40102:192B      Masq    1      0          0\n"
)
