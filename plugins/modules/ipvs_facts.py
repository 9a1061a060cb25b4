#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ipvs_facts
short_description: Gather and classify the IPVS connection-reuse state of a Kubernetes node
version_added: 1.0.0
description:
  - Reads, in one call, everything needed to tell whether a node suffers from the IPVS connection-reuse
    bug. That is the kernel release and build, OS release, whether C(ip_vs) is loaded, the C(net.ipv4.vs.*) values
    that matter (and vendor fix markers such as C(conn_reuse_old_conntrack)), the values persisted in
    C(/etc/sysctl.conf) and C(sysctl.d), a pin installed by the P(kubenode.ipvs_reuse.pin_sysctl#role) role,
    and the kube-proxy mode and version from every signal available on the node, each with its source.
  - Classifies the node with the same engine as the P(kubenode.ipvs_reuse.classify#filter) filter and returns
    the result under C(ansible_facts.ipvs_reuse.classification). The node runs only the gatherer; the module's
    action plugin classifies on the controller, so the code sent to each node stays small.
  - Never changes anything on the node. A missing or unreadable input is listed in C(missing) with the
    reason; it never causes a failure.
author:
  - kubenode.ipvs_reuse contributors (@kubenode)
options:
  root:
    description:
      - Read the node below this directory instead of C(/), for example a mounted golden image, a chroot or
        a fixture tree (C(ROOT/proc/sys/kernel/osrelease), C(ROOT/proc/sys/net/ipv4/vs/*), C(ROOT/etc/os-release), ...).
      - When it is not C(/), no live endpoint is queried.
      - Every path, including paths taken from the node's own files (C(--config), unit files, manifests, pod logs),
        stays inside O(root). Paths are opened one component at a time relative to the directory already opened,
        with C(O_NOFOLLOW), and symlinks are resolved by the module itself; an absolute link target is resolved
        against O(root) (a mounted image's C(/etc/os-release -> /usr/lib/os-release)), and a path that climbs
        above O(root) is listed in C(missing) as "outside the root" and never read. This is race-free, unlike
        a C(realpath) and prefix check. At most 40 links are followed per path.
      - Only regular files are read (opened non-blocking, at most 256 KiB each); FIFOs, sockets, devices and
        directories are listed in C(missing).
      - An image without a live C(/proc) (C(live=false)) is assessed by what it boots, see RV(ansible_facts.ipvs_reuse).
    type: path
    default: /
  proxy_mode:
    description:
      - The kube-proxy mode known from outside the node (for example read once from the cluster's ConfigMap).
        It takes precedence over what the node shows.
    type: str
  kube_proxy_version:
    description:
      - The kube-proxy version known from outside the node, as Kubernetes prints it
        (V(v1.28.4), V(1.21.14), V(v1.27.3-eks-a5565ad), V(v1.25.9+k3s1)). It takes precedence over what the node shows.
    type: str
  metrics_url:
    description:
      - Base URL of kube-proxy's metrics endpoint on the node (C(/proxyMode) and C(/metrics) are read from it).
      - Only used when O(root) is C(/). Set to an empty string to skip the live query.
    type: str
    default: http://127.0.0.1:10249
  gather_timeout:
    description:
      - Seconds the whole gathering may take. Past it the facts carry C(gather_error) ("gathering took longer
        than N s") and the node is classified V(unknown).
    type: float
    default: 15
  cluster:
    description:
      - kube-proxy facts read once per run from the cluster, as returned by the
        P(kubenode.ipvs_reuse.kube_proxy_cluster_facts#filter) filter (the P(kubenode.ipvs_reuse.assess#role) role
        sets it when given a kubeconfig).
      - Merged on the controller, never sent to the node. Precedence for the mode and the version is
        O(proxy_mode)/O(kube_proxy_version), then the live C(/proxyMode) endpoint, then the cluster, then the
        node's files. The ConfigMap's mode becomes C(kube_proxy.configured_mode), the mode at kube-proxy's next start.
    type: dict
  cluster_node_name:
    description: The Kubernetes Node name of this host, for the kernel cross-check against the Node's C(nodeInfo).
    type: str
  transport:
    description:
      - How the gatherer reaches the node. Both ways give the same facts and the same result.
      - V(auto) sends only the gatherer's standard-library code (no AnsiballZ wrapper, no temporary files) and runs
        it with the node's Python (C(ansible_python_interpreter) or the discovered one) in one command, as any
        command of the connection, with C(become) if set. Where that cannot work (a connection without a POSIX
        shell, such as Windows or network devices, or a Python older than 3.8 on the node) it runs the module
        instead, with a one-line warning.
      - V(module) always runs this module the usual way.
      - Applied on the controller by the module's action plugin; it is not sent to the node.
    type: str
    choices: [auto, module]
    default: auto
  kernel_probe:
    description:
      - What M(kubenode.ipvs_reuse.ipvs_kernel_probe) measured on this node's kernel release and build (its C(probe)
        result, possibly from another node with the same build). Merged on the controller as C(kernel_probe); the
        measured fixes outrank shipped and site knowledge, with a warning where they disagree. A measurement of
        another release or build string is not applied (a warning says so).
    type: dict
  facts:
    description:
      - Facts gathered earlier (C(ansible_facts.ipvs_reuse)) to classify again on the controller, for example with
        O(kernel_probe). When given, the node is not contacted.
    type: dict
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
  - kubenode.ipvs_reuse.policy
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
notes:
  - Gathers on the node with the Python standard library only (Python 3.8 or later), and classifies on the
    controller.
  - The P(kubenode.ipvs_reuse.assess#role) role runs this module once per node and writes the fleet report.
seealso:
  - plugin: kubenode.ipvs_reuse.classify
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Gather and classify the node
  kubenode.ipvs_reuse.ipvs_facts:

# A golden image, assessed before it is rolled out. Mount it read-only first, on the machine that runs the task:
#   guestmount -a golden.qcow2 -i --ro /mnt/image                      (libguestfs, qcow2 or raw)
#   or: modprobe nbd && qemu-nbd --read-only -c /dev/nbd0 golden.qcow2 && mount -o ro /dev/nbd0p1 /mnt/image
#   or: dev=$(losetup -r -f -P --show golden.raw) && mount -o ro "${dev}p1" /mnt/image
# The mounted image has an empty /proc (live=false). It is assessed by what it boots: the kernel
# /boot/vmlinuz-<release> with /lib/modules/<release> (the one /vmlinuz or /boot/vmlinuz names, else the newest),
# the upstream version from /boot/config-<release> (Ubuntu's CONFIG_VERSION_SIGNATURE, or the Kconfig header) or
# the linux-image changelog, the boot-time values from its sysctl files (else the kernel defaults), then what
# kube-proxy writes at its first start. An image rarely says which kube-proxy will run on it: pass the mode and
# version the cluster uses.
- name: Assess the golden image mounted read-only at /mnt/image
  kubenode.ipvs_reuse.ipvs_facts:
    root: /mnt/image
    proxy_mode: ipvs
    kube_proxy_version: v1.28.4

- name: Stop the image pipeline when the image would boot into a problem
  ansible.builtin.assert:
    that: ansible_facts.ipvs_reuse.classification.verdict in ['safe', 'not_applicable']
    fail_msg: >-
      the image boots kernel {{ ansible_facts.ipvs_reuse.kernel.release }}
      ({{ ansible_facts.ipvs_reuse.kernel.selection }}) into
      {{ ansible_facts.ipvs_reuse.classification.verdict }}:
      {{ ansible_facts.ipvs_reuse.classification.reasons | map(attribute='text') | join('; ') }}

- name: Declare a site kernel build unfixed, and prefer iptables where pinning cannot help
  kubenode.ipvs_reuse.ipvs_facts:
    policy:
      fallback_mitigation: switch_iptables
      known_kernels:
        - name: our 5.4 build without the backport
          release_regex: '^5\.4\.0-1\d+-acme'
          fix2: false
          source: acme kernel team, ticket 1234

- name: Show the verdict
  ansible.builtin.debug:
    msg: "{{ ansible_facts.ipvs_reuse.classification.verdict }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts about the node's IPVS connection-reuse state.
  returned: always
  type: dict
  contains:
    ipvs_reuse:
      description:
        - Everything gathered (C(live), C(kernel), C(os), C(ipvs), C(sysctl), C(sysctl_errors), C(persisted),
          C(pin), C(kube_proxy) with its C(signals), C(missing), and C(gather_error) when gathering did not
          finish) and the C(classification).
        - C(live) is V(false) for an image without a live C(/proc). Its kernel is then the one the image boots
          (C(/boot/vmlinuz-<release>) and C(/lib/modules/<release>)). With several, it is the one the C(/vmlinuz)
          link names, else the newest. C(kernel.installed) lists them and C(kernel.selection) says which was
          chosen and why. Where the release hides the upstream version, C(kernel.upstream_version) comes from
          C(/boot/config-<release>) (Ubuntu's C(CONFIG_VERSION_SIGNATURE), else a Kconfig header that names a plain
          version, as Debian's does) or the C(linux-image) changelog (C(changelog.gz), C(changelog.Debian.gz)), and
          C(kernel.upstream_source) names the file. A version equal to the release's own numbers (Ubuntu's header
          and package version name C(5.4.0)) is not taken. C(ipvs.built) says whether C(CONFIG_IP_VS) is built.
          The C(net.ipv4.vs.*) values are the boot-time ones in C(persisted).
        - For such an image the C(classification) has one state, C(states.after_reboot), the state the image boots
          into (its sysctl files, else the kernel defaults C(conn_reuse_mode=1), C(conntrack=0),
          C(expire_nodest_conn=0), then kube-proxy's first start). The verdict is that state's, and C(starts) is
          V(after_reboot) (from the first boot) where it has a problem. The reasons say that the node is an offline
          image, which kernel it boots and why, and which file or default each boot-time value comes from.
        - Modes are passed on as written (trimmed); the engine accepts only known modes. Commented lines do not
          count, and for C(kube-proxy.service) the last effective C(ExecStart) wins (an empty one resets).
          A running kube-proxy's C(--config) is read through C(/proc/<pid>/root).
        - Values with NUL or control characters, and negative sysctl values, are listed in C(missing) as
          malformed and never used.
        - C(classification.plan) says what each mitigation role must do on the node, each entry with its C(action)
          and C(reason) - C(pin_sysctl) V(apply), V(keep), V(refuse) or V(none) (with C(value), C(sysctls) and
          C(keeper)), C(kube_proxy_mode) V(switch) or V(none) (with C(target)), C(os_upgrade_flag) V(flag),
          V(unflag), V(leave) or V(none) - and C(plan.run) lists the roles C(playbooks/mitigate.yml) runs on it.
          The roles read their entry with the filter C(kubenode.ipvs_reuse.plan_for).
      returned: always
      type: dict
      sample:
        live: true
        kernel: {release: 5.4.0-150-generic, version: [5, 4, 0], build: null, upstream_version: null,
                 upstream_source: null, source: /proc/sys/kernel/osrelease, installed: null,
                 selection: the running kernel}
        os: {id: ubuntu, version_id: "20.04", pretty_name: Ubuntu 20.04.6 LTS, source: /etc/os-release}
        ipvs: {loaded: true, sysctl_dir: true, virtual_services: 12, kube_ipvs0: true}
        sysctl: {conn_reuse_mode: 0, conntrack: 1, expire_nodest_conn: 1, expire_quiescent_template: 1,
                 conn_reuse_old_conntrack: null}
        kube_proxy: {mode: ipvs, version: v1.21.14, mode_source: "kube-proxy /proxyMode endpoint (...)"}
        classification:
          verdict: problem1
          mitigation: os_upgrade
          kernel_fix: null
          reasons:
            - {rule: mode_ipvs, text: kube-proxy runs in IPVS mode, source: "..."}
          plan:
            pin_sysctl: {action: none, value: null, keeper: null, sysctls: {}, reason: "mitigation os_upgrade: no pin"}
            kube_proxy_mode: {action: none, target: null, reason: "mitigation os_upgrade, not switch_iptables: ..."}
            os_upgrade_flag: {action: flag, reason: "upgrade the OS/kernel to one with the fix, ..."}
            run: [os_upgrade_flag]
"""

from ansible.module_utils.basic import AnsibleModule

# the same endpoint reader as the lean transport: no proxies, no redirects (module_utils/node_gather.py)
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.node_gather import gather_result, urllib_get as http_get

# Also checked on the controller by the action plugin before the node is contacted (plugins/action/ipvs_facts.py).
ARGUMENT_SPEC = dict(
    root=dict(type="path", default="/"),
    proxy_mode=dict(type="str"),
    kube_proxy_version=dict(type="str"),
    metrics_url=dict(type="str", default="http://127.0.0.1:10249"),
    gather_timeout=dict(type="float", default=15.0),
    policy=dict(type="dict", default={}),  # consumed by the action plugin
    cluster=dict(type="dict"),  # consumed by the action plugin
    cluster_node_name=dict(type="str"),  # consumed by the action plugin
    transport=dict(type="str", default="auto", choices=["auto", "module"]),  # consumed by the action plugin
    kernel_probe=dict(type="dict"),  # consumed by the action plugin
    facts=dict(type="dict"),  # consumed by the action plugin
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = gather_result(module.params, http_get)
    if result.get("failed"):
        module.fail_json(msg=result["msg"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
