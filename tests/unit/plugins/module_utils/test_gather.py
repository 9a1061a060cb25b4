"""The facts gatherer over fixture trees (offline node roots written by tests/support/fleetgen.py)."""
import os

import pytest

from support import fleetgen
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge as K
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import classify
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.gather import gather

BASE = {"kernel": "5.10.0-28-amd64", "os": {"ID": "debian", "VERSION_ID": "11"}, "vs": fleetgen.KUBEPROXY_VS}


def tree(tmp_path, **spec):
    return fleetgen.write_node(str(tmp_path / "node"), dict(BASE, **spec))


def test_reads_kernel_os_and_sysctls(tmp_path):
    facts = gather(tree(tmp_path, kernel_build="#1 SMP Debian 5.10.209-2 (2024-01-31)"))
    assert facts["kernel"]["release"] == "5.10.0-28-amd64"
    assert facts["kernel"]["version"] == [5, 10, 0]
    assert facts["kernel"]["upstream_version"] == "5.10.209"
    assert (facts["os"]["id"], facts["os"]["version_id"]) == ("debian", "11")
    assert facts["sysctl"] == {"conn_reuse_mode": 0, "conntrack": 1, "expire_nodest_conn": 1,
                               "expire_quiescent_template": 1, "conn_reuse_old_conntrack": None}
    assert facts["missing"] == []


def test_persisted_values_follow_systemd_sysctl_order(tmp_path):
    root = tree(tmp_path, sysctl_d={"10-a.conf": "net.ipv4.vs.conn_reuse_mode = 0\n",
                                    "50-b.conf": "# comment\nnet/ipv4/vs/conn_reuse_mode=1\n"},
                files={"etc/sysctl.conf": "net.ipv4.vs.conntrack = 1\n",
                       "usr/lib/sysctl.d/50-b.conf": "net.ipv4.vs.conn_reuse_mode = 7\n",
                       "usr/lib/sysctl.d/90-c.conf": "net.ipv4.vs.expire_nodest_conn = 1\n"})
    persisted = gather(root)["persisted"]
    # /etc/sysctl.d/50-b.conf shadows /usr/lib/sysctl.d/50-b.conf; the last assignment wins
    assert persisted["conn_reuse_mode"] == {"value": "1", "file": "/etc/sysctl.d/50-b.conf"}
    assert persisted["expire_nodest_conn"]["file"] == "/usr/lib/sysctl.d/90-c.conf"
    assert persisted["conntrack"]["file"] == "/etc/sysctl.conf"


def test_absolute_symlinks_resolve_inside_the_root(tmp_path):
    root = tree(tmp_path, os=None, files={"usr/lib/os-release": 'ID=ubuntu\nVERSION_ID="22.04"\n'})
    os.symlink("/usr/lib/os-release", os.path.join(root, "etc", "os-release")) if os.path.isdir(
        os.path.join(root, "etc")) else None
    facts = gather(root)
    assert facts["os"]["id"] == "ubuntu"


@pytest.mark.parametrize("spec,mode,version,source_word", [
    ({"files": {"var/log/pods/kube-system_kube-proxy-x_1/kube-proxy/0.log":
                'I1 server.go] "Version info" version="v1.28.4"\nI1 x] "Using ipvs Proxier"\n'}},
     "ipvs", "v1.28.4", "pod log"),
    ({"files": {"var/log/pods/kube-system_kube-proxy-x_1/kube-proxy/0.log":
                "I0101 server.go:548] Version: v1.18.3\nI0101 server_others.go:259] Using iptables Proxier.\n"}},
     "iptables", "v1.18.3", "pod log"),
    ({"files": {"etc/systemd/system/kube-proxy.service":
                "[Service]\nExecStart=/usr/bin/kube-proxy --config=/etc/kubernetes/kp.yaml\n",
                "etc/kubernetes/kp.yaml": "kind: KubeProxyConfiguration\nmode: \"ipvs\"\n"}},
     "ipvs", None, "config file"),
    ({"files": {"etc/systemd/system/kube-proxy.service":
                "[Service]\nExecStart=/usr/bin/kube-proxy --config /etc/kubernetes/kp.yaml\n",
                "etc/kubernetes/kp.yaml": "kind: KubeProxyConfiguration\nmode: \"\"\n"}},
     "iptables", None, "config file"),
    ({"files": {"etc/rancher/rke2/config.yaml": 'kube-proxy-arg: ["proxy-mode=ipvs"]\n'}},
     "ipvs", None, "k3s/RKE2"),
    ({"files": {"var/lib/rancher/rke2/agent/pod-manifests/kube-proxy.yaml":
                "spec:\n  containers:\n  - image: index.docker.io/rancher/hardened-kubernetes:v1.28.4-rke2r1\n"
                "    args: [--proxy-mode=ipvs]\n"}},
     "ipvs", "v1.28.4-rke2r1", "static pod"),
    ({"files": {"proc/4242/cmdline": "/usr/local/bin/kube-proxy\0--proxy-mode=ipvs\0--v=2\0"}},
     "ipvs", None, "process"),
])
def test_kube_proxy_signals(tmp_path, spec, mode, version, source_word):
    facts = gather(tree(tmp_path, **spec))
    assert facts["kube_proxy"]["mode"] == mode
    assert facts["kube_proxy"]["version"] == version
    assert source_word in facts["kube_proxy"]["mode_source"]


def test_options_take_precedence_over_the_node(tmp_path):
    root = tree(tmp_path, files={"etc/rancher/k3s/config.yaml": "kube-proxy-arg:\n  - proxy-mode=iptables\n"})
    facts = gather(root, proxy_mode="ipvs", kube_proxy_version="v1.25.9+k3s1")
    assert (facts["kube_proxy"]["mode"], facts["kube_proxy"]["version"]) == ("ipvs", "v1.25.9+k3s1")
    assert [signal["mode"] for signal in facts["kube_proxy"]["signals"]] == ["ipvs", "iptables"]


def test_leftovers_are_reported_but_do_not_prove_the_mode(tmp_path):
    facts = gather(tree(tmp_path, kube_ipvs0=True, ip_vs_table=fleetgen.IP_VS_TABLE))
    assert facts["ipvs"]["kube_ipvs0"] is True and facts["ipvs"]["virtual_services"] == 1
    assert facts["kube_proxy"]["mode"] is None
    assert "leftovers do not prove" in classify(facts)["reasons"][-1]["text"]


def test_live_endpoint_only_on_the_live_root(tmp_path):
    calls = []

    def fake_get(url):  # stands in for kube-proxy's metrics endpoint
        calls.append(url)
        return {"http://kp/proxyMode": "ipvs",
                "http://kp/metrics": 'kubernetes_build_info{git_version="v1.29.1",major="1"} 1\n'}.get(url)

    assert gather(tree(tmp_path), metrics_url="http://kp", http_get=fake_get)["kube_proxy"]["mode"] is None
    assert calls == []


def test_pin_installed_by_the_role_is_seen(tmp_path):
    root = tree(tmp_path, files={K.PIN_SYSCTL_FILE.lstrip("/"): "net.ipv4.vs.conn_reuse_mode = 1\n",
                                 K.PIN_KEEPER_UNIT.lstrip("/"): "[Service]\n"})
    assert gather(root)["pin"] == {"file": K.PIN_SYSCTL_FILE, "value": 1, "keeper": True}


def test_tencent_marker_sysctl(tmp_path):
    facts = gather(tree(tmp_path, vs=dict(fleetgen.KUBEPROXY_VS, conn_reuse_old_conntrack=1)))
    assert facts["sysctl"]["conn_reuse_old_conntrack"] == 1


JUNK = [
    ("binary junk", b"\xff\xfe\x00\x81junk"),
    ("empty", ""),
    ("text", "zero\n"),
    ("huge number", "99999999999999\n"),
    ("two values", "1 2\n"),
]


@pytest.mark.parametrize("content", [row[1] for row in JUNK], ids=[row[0] for row in JUNK])
@pytest.mark.parametrize("target", ["proc/sys/net/ipv4/vs/conn_reuse_mode", "proc/sys/net/ipv4/vs/conntrack",
                                    "proc/sys/kernel/osrelease"])
def test_garbage_in_each_file_gives_unknown_with_the_reason(tmp_path, target, content):
    root = tree(tmp_path)
    fleetgen.write_file(root, target, content)
    facts = gather(root, proxy_mode="ipvs", kube_proxy_version="v1.28.4")
    result = classify(facts)
    assert (result["verdict"], result["mitigation"]) == ("unknown", "none")
    assert any(item["path"] == "/" + target for item in facts["missing"])


@pytest.mark.parametrize("target", ["proc/sys/net/ipv4/vs/conn_reuse_mode", "proc/sys/kernel/osrelease",
                                    "proc/sys/net/ipv4/vs"])
def test_missing_files_give_unknown_with_the_reason(tmp_path, target):
    import shutil
    root = tree(tmp_path)
    path = os.path.join(root, target)
    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    facts = gather(root, proxy_mode="ipvs", kube_proxy_version="v1.28.4")
    assert classify(facts)["verdict"] == "unknown"
    assert any("missing" in item["reason"] for item in facts["missing"])


def test_garbage_everywhere_else_never_raises(tmp_path):
    junk = b"\x00\xff\xfe garbage \x81\n" * 10
    root = tree(tmp_path, sysctl_d={"x.conf": junk}, files={
        "etc/os-release": junk, "proc/modules": junk, "proc/net/ip_vs": junk,
        "etc/rancher/k3s/config.yaml": junk, "etc/kubernetes/manifests/kube-proxy.yaml": junk,
        "etc/systemd/system/kube-proxy.service": junk, "proc/1/cmdline": junk,
        "var/log/pods/kube-system_kube-proxy-x_1/kube-proxy/0.log": junk})
    facts = gather(root)
    assert classify(facts)["verdict"] in K.VERDICTS
