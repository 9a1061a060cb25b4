"""kube_proxy.mode_files: the files that set kube-proxy's mode on a node, the kube_proxy_mode role's input, and
SIGNAL_SOURCES, the table that reads them (one row per source)."""
import pytest

from support import fleetgen
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import gather as G

BASE = {"kernel": "5.10.0-28-amd64", "os": {"ID": "debian", "VERSION_ID": "11"}, "vs": fleetgen.KUBEPROXY_VS}
UNIT = "etc/systemd/system/kube-proxy.service"


def mode_files(tmp_path, files):
    root = fleetgen.write_node(str(tmp_path / "node"), dict(BASE, files=files))
    return [(entry["path"], entry["kind"], entry["syntax"], entry["mode"])
            for entry in G.gather(root)["kube_proxy"]["mode_files"]]


@pytest.mark.parametrize("files,expected", [
    # k3s merges config.yaml.d after config.yaml: every file that sets proxy-mode is one to edit
    ({"etc/rancher/k3s/config.yaml": "kube-proxy-arg:\n  - proxy-mode=ipvs\n",
      "etc/rancher/k3s/config.yaml.d/50-proxy.yaml": 'kube-proxy-arg: ["proxy-mode=ipvs", "ipvs-scheduler=rr"]\n',
      "etc/rancher/k3s/config.yaml.d/60-other.yaml": "node-label: [a=b]\n"},
     [("/etc/rancher/k3s/config.yaml", "k3s", "rancher", "ipvs"),
      ("/etc/rancher/k3s/config.yaml.d/50-proxy.yaml", "k3s", "rancher", "ipvs")]),
    # RKE2 writes its static pod manifest from config.yaml: the manifest is a signal, not a file to edit
    ({"etc/rancher/rke2/config.yaml.d/10-proxy.yaml": "kube-proxy-arg: [proxy-mode=ipvs]\n",
      "var/lib/rancher/rke2/agent/pod-manifests/kube-proxy.yaml": "spec:\n  containers:\n  - args: [--proxy-mode=ipvs]\n"},
     [("/etc/rancher/rke2/config.yaml.d/10-proxy.yaml", "rke2", "rancher", "ipvs")]),
    # the drop-in that resets and sets ExecStart holds the effective flags, not the unit it overrides
    ({UNIT: "[Service]\nExecStart=/usr/bin/kube-proxy --proxy-mode=iptables\n",
      "etc/systemd/system/kube-proxy.service.d/10-mode.conf":
          "[Service]\nExecStart=\nExecStart=/usr/bin/kube-proxy \\\n  --proxy-mode=ipvs --config=/etc/kubernetes/kp.yaml\n",
      "etc/systemd/system/kube-proxy.service.d/20-env.conf": "[Service]\nEnvironment=A=b\n",
      "etc/kubernetes/kp.yaml": "kind: KubeProxyConfiguration\nmode: 'ipvs'\n"},
     [("/etc/systemd/system/kube-proxy.service.d/10-mode.conf", "unit", "flag", "ipvs"),
      ("/etc/kubernetes/kp.yaml", "config_file", "config", "ipvs")]),
    # an empty mode: line is kube-proxy's default, iptables; a config file named twice is listed once
    ({UNIT: "[Service]\nExecStart=/usr/bin/kube-proxy --config /etc/kubernetes/kp.yaml\n",
      "etc/default/kube-proxy": 'KUBE_PROXY_ARGS="--config=/etc/kubernetes/kp.yaml"\n',
      "etc/kubernetes/kp.yaml": "mode: \"\"\n"},
     [("/etc/kubernetes/kp.yaml", "config_file", "config", "iptables")]),
    ({"etc/sysconfig/kube-proxy": 'KUBE_PROXY_ARGS="--v=2 --proxy-mode=ipvs"\n'},
     [("/etc/sysconfig/kube-proxy", "flags_file", "flag", "ipvs")]),
    ({"etc/kubernetes/manifests/kube-proxy.yaml": "spec:\n  containers:\n  - command: [kube-proxy, --proxy-mode=ipvs]\n"},
     [("/etc/kubernetes/manifests/kube-proxy.yaml", "static_pod", "flag", "ipvs")]),
    # a running process (a kubeadm pod) and its mounted --config show the mode, no file on the node sets it
    ({"proc/4242/cmdline": "/usr/local/bin/kube-proxy\0--config=/var/lib/kube-proxy/config.conf\0",
      "proc/4242/root/var/lib/kube-proxy/config.conf": "mode: ipvs\n",
      "var/log/pods/kube-system_kube-proxy-x_1/kube-proxy/0.log": 'I1 x] "Using ipvs Proxier"\n'}, []),
    # a unit without --proxy-mode sets nothing; a commented flag does not count
    ({UNIT: "[Service]\n# ExecStart=/usr/bin/kube-proxy --proxy-mode=ipvs\nExecStart=/usr/bin/kube-proxy --v=2\n"}, []),
])
def test_mode_files(tmp_path, files, expected):
    assert mode_files(tmp_path, files) == expected


def test_mode_files_follow_the_signals(tmp_path):
    """Every file listed is the source of a signal that carries the same mode."""
    root = fleetgen.write_node(str(tmp_path / "node"), dict(BASE, files={
        UNIT: "[Service]\nExecStart=/usr/bin/kube-proxy --proxy-mode=ipvs --config=/etc/kubernetes/kp.yaml\n",
        "etc/kubernetes/kp.yaml": "mode: ipvs\n", "etc/rancher/k3s/config.yaml": "kube-proxy-arg: [proxy-mode=ipvs]\n"}))
    proxy = G.gather(root)["kube_proxy"]
    by_source = dict((signal["source"], signal["mode"]) for signal in proxy["signals"])
    for entry in proxy["mode_files"]:
        assert by_source[entry["path"]] == entry["mode"]
    assert [entry["kind"] for entry in proxy["mode_files"]] == ["unit", "config_file", "k3s"]


def test_a_new_source_is_one_row(tmp_path, monkeypatch):
    def read_snap(node):
        text = node.read("etc/snap/kube-proxy/args", "snap kube-proxy args", required=False)
        if text is not None:
            yield G._reading(G._flag_values(text.split(), "proxy-mode"), None, "/etc/snap/kube-proxy/args",
                             "/etc/snap/kube-proxy/args")

    row = G.SignalSource("snap", "snap kube-proxy args", read_snap, ("mode",), "snap_args", "flag")
    monkeypatch.setattr(G, "SIGNAL_SOURCES", G.SIGNAL_SOURCES + (row,))
    root = fleetgen.write_node(str(tmp_path / "node"), dict(BASE, files={
        "etc/snap/kube-proxy/args": "--proxy-mode=ipvs --v=2\n"}))
    proxy = G.gather(root)["kube_proxy"]
    assert (proxy["mode"], proxy["mode_source"]) == ("ipvs", "snap kube-proxy args (/etc/snap/kube-proxy/args)")
    assert proxy["mode_files"] == [{"path": "/etc/snap/kube-proxy/args", "kind": "snap_args", "syntax": "flag",
                                    "mode": "ipvs"}]


def test_a_row_carries_only_what_it_proves(tmp_path, monkeypatch):
    def read_guess(node):
        yield G._reading("ipvs", "v1.28.4", "/somewhere")

    row = G.SignalSource("guess", "a guess", read_guess, ("mode",))
    monkeypatch.setattr(G, "SIGNAL_SOURCES", (row,))
    proxy = G.gather(fleetgen.write_node(str(tmp_path / "node"), BASE))["kube_proxy"]
    assert proxy["signals"] == [{"signal": "a guess", "mode": "ipvs", "version": None, "source": "/somewhere"}]
    assert proxy["version"] is None and proxy["mode_files"] == []


def test_rows_are_named_once_and_say_what_they_read():
    names = [row.name for row in G.SIGNAL_SOURCES]
    assert len(names) == len(set(names))
    for row in G.SIGNAL_SOURCES:
        assert callable(row.read) and set(row.proves) <= {"mode", "version"} and row.proves
        assert (row.sets_mode_in is None) == (row.syntax is None)


def test_flags_files_the_unit_names(tmp_path):
    """The unit's EnvironmentFile= (here outside the usual places) is read as a flags file, once."""
    files = {UNIT: "[Service]\nEnvironmentFile=-/opt/kube/proxy.env\nEnvironmentFile=/etc/default/kube-proxy\n"
                   "ExecStart=/usr/bin/kube-proxy $KUBE_PROXY_ARGS\n",
             "opt/kube/proxy.env": 'KUBE_PROXY_ARGS="--proxy-mode=ipvs --v=2"\n',
             "etc/default/kube-proxy": "# nothing here\n"}
    root = fleetgen.write_node(str(tmp_path / "node"), dict(BASE, files=files))
    proxy = G.gather(root)["kube_proxy"]
    assert proxy["mode_files"] == [{"path": "/opt/kube/proxy.env", "kind": "flags_file", "syntax": "flag",
                                    "mode": "ipvs"}]
    assert [signal["source"] for signal in proxy["signals"]] == ["/opt/kube/proxy.env"]
    assert proxy["mode_source"] == "kube-proxy flags file (/opt/kube/proxy.env)"
