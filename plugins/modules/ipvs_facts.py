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
          syn_drop_fix: false
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
        - Everything gathered on the node, each value with the file or signal it comes from, what could not be read
          (C(missing)), and the C(classification) made on the controller.
        - C(live) is V(false) for an image without a live C(/proc). Its kernel is then the one the image boots,
          its C(net.ipv4.vs.*) values are the boot-time ones in C(persisted), and the C(classification) has one
          state, C(states.after_reboot), the state the image boots into (its sysctl files, else the kernel defaults
          C(conn_reuse_mode=1), C(conntrack=0), C(expire_nodest_conn=0), then kube-proxy's first start). The verdict
          is that state's, and C(starts) is V(after_reboot) where it has a problem. The reasons say that the node is
          an offline image, which kernel it boots and why, and which file or default each boot-time value comes from.
        - Values with NUL or control characters, and negative sysctl values, are listed in C(missing) as malformed
          and never used.
      returned: always
      type: dict
      contains:
        schema:
          description: Version of the layout of these facts (V(1)).
          returned: always
          type: int
          sample: 1
        root:
          description: The directory the node was read below (O(root)).
          returned: always
          type: str
          sample: /
        live:
          description:
            - Whether the root has a live C(/proc) (a running node, or a fixture's fake one); V(false) for an image.
            - V(null) when gathering did not finish (see RV(ansible_facts.ipvs_reuse.gather_error)).
          returned: always
          type: bool
          sample: true
        gather_error:
          description:
            - Why gathering stopped ("gathering took longer than N s", see O(gather_timeout)). The other sections
              are then empty and the node is classified V(unknown).
          returned: when gathering did not finish
          type: str
          sample: gathering took longer than 15 s
        kernel:
          description: The kernel the node runs, or for an image the kernel it boots. Empty when gathering did not finish.
          returned: always
          type: dict
          contains:
            release:
              description: The kernel release (C(uname -r)); V(null) when it cannot be read or is malformed.
              returned: when gathering finished
              type: str
              sample: 5.4.0-150-generic
            version:
              description: The release's version numbers; V(null) without a release.
              returned: when gathering finished
              type: list
              elements: int
              sample: [5, 4, 0]
            build:
              description: The build string (C(/proc/sys/kernel/version)); V(null) for an image or when it cannot be read.
              returned: when gathering finished
              type: str
              sample: "#167-Ubuntu SMP Wed Jun 7 10:43:58 UTC 2023"
            upstream_version:
              description:
                - The upstream version a distribution release hides, from C(/proc/version_signature), the build
                  string, C(/boot/config-<release>) (Ubuntu's C(CONFIG_VERSION_SIGNATURE), else a Kconfig header that
                  names a plain version, as Debian's does) or the C(linux-image) changelog (C(changelog.gz),
                  C(changelog.Debian.gz)). A version equal to the release's own numbers is not taken.
                - V(null) when none of them names one.
              returned: when gathering finished
              type: str
              sample: 5.4.231
            upstream_source:
              description: Where RV(ansible_facts.ipvs_reuse.kernel.upstream_version) comes from; V(null) without one.
              returned: when gathering finished
              type: str
              sample: /proc/version_signature
            source:
              description:
                - Where the release comes from, C(/proc/sys/kernel/osrelease) on a live node; for an image
                  C(/boot/vmlinuz-<release>), or C(/lib/modules/<release>) when C(/boot) holds no such kernel.
              returned: when gathering finished
              type: str
              sample: /proc/sys/kernel/osrelease
            installed:
              description: The kernels installed in an image, oldest first; V(null) on a live node.
              returned: when gathering finished
              type: list
              elements: str
              sample: [5.4.0-149-generic, 5.4.0-150-generic]
            selection:
              description:
                - Which kernel was chosen and why, V(the running kernel) on a live node. For an image with several
                  kernels it is the one the C(/vmlinuz) link names, else the newest.
              returned: when gathering finished
              type: str
              sample: the running kernel
            config_ip_vs:
              description:
                - The value of C(CONFIG_IP_VS) in C(/boot/config-<release>) (V(y), V(m) or V(n)); V(null) when the
                  file is missing or was not read to the option.
              returned: when gathering finished
              type: str
              sample: m
        os:
          description: The node's OS, from C(os-release). Empty when gathering did not finish.
          returned: always
          type: dict
          contains:
            id:
              description: C(ID) of C(os-release); V(null) when missing.
              returned: when gathering finished
              type: str
              sample: ubuntu
            version_id:
              description: C(VERSION_ID) of C(os-release); V(null) when missing.
              returned: when gathering finished
              type: str
              sample: "20.04"
            pretty_name:
              description: C(PRETTY_NAME) of C(os-release); V(null) when missing.
              returned: when gathering finished
              type: str
              sample: Ubuntu 20.04.6 LTS
            source:
              description: C(/etc/os-release), else C(/usr/lib/os-release); V(null) when neither can be read.
              returned: when gathering finished
              type: str
              sample: /etc/os-release
        ipvs:
          description: The state of IPVS on the node. Empty when gathering did not finish.
          returned: always
          type: dict
          contains:
            loaded:
              description: Whether the C(ip_vs) module is loaded (or built in); V(null) when it cannot be told.
              returned: when gathering finished
              type: bool
              sample: true
            sysctl_dir:
              description: Whether C(/proc/sys/net/ipv4/vs) exists.
              returned: when gathering finished
              type: bool
              sample: true
            virtual_services:
              description: How many IPVS virtual services C(/proc/net/ip_vs) lists; V(null) when it cannot be read.
              returned: when gathering finished
              type: int
              sample: 12
            kube_ipvs0:
              description: V(true) when kube-proxy's dummy interface C(kube-ipvs0) exists, else V(null).
              returned: when gathering finished
              type: bool
              sample: true
            built:
              description:
                - Whether the kernel's C(CONFIG_IP_VS) builds IPVS, V(built in), V(module) or V(not built); V(null)
                  when unknown.
              returned: when gathering finished
              type: str
              sample: module
        sysctl:
          description:
            - The live C(net.ipv4.vs.*) values that matter. Each is V(null) where it cannot be read, and all are
              V(null) when C(/proc/sys/net/ipv4/vs) is missing (C(ip_vs) not loaded, or an image). Empty when
              gathering did not finish.
          returned: always
          type: dict
          contains:
            conn_reuse_mode:
              description: C(net.ipv4.vs.conn_reuse_mode).
              returned: when gathering finished
              type: int
              sample: 0
            conntrack:
              description: C(net.ipv4.vs.conntrack).
              returned: when gathering finished
              type: int
              sample: 1
            expire_nodest_conn:
              description: C(net.ipv4.vs.expire_nodest_conn).
              returned: when gathering finished
              type: int
              sample: 1
            expire_quiescent_template:
              description: C(net.ipv4.vs.expire_quiescent_template).
              returned: when gathering finished
              type: int
              sample: 1
            conn_reuse_old_conntrack:
              description:
                - The vendor fix marker C(net.ipv4.vs.conn_reuse_old_conntrack) (TencentOS-style kernels); V(null)
                  where the kernel does not have it.
              returned: when gathering finished
              type: int
              sample: null
        sysctl_errors:
          description:
            - Why a live value in RV(ansible_facts.ipvs_reuse.sysctl) could not be used, keyed by the sysctl's name
              under C(net.ipv4.vs) (for example C(conn_reuse_mode)). Empty when every value was read.
          returned: always
          type: dict
          sample: {conn_reuse_mode: "malformed: not a number: 'x'"}
        persisted:
          description:
            - The C(net.ipv4.vs.*) values a reboot restores, as systemd-sysctl applies C(/etc/sysctl.d),
              C(/run/sysctl.d), C(/usr/local/lib/sysctl.d), C(/usr/lib/sysctl.d), C(/lib/sysctl.d) and
              C(/etc/sysctl.conf); the last assignment wins.
            - Keyed by the sysctl's name under C(net.ipv4.vs); each value is a dict with C(value) (the text as
              written) and C(file) (the file that sets it). Empty when none is persisted.
          returned: always
          type: dict
          sample: {conn_reuse_mode: {value: "1", file: /etc/sysctl.d/90-kubenode-ipvs-reuse.conf}}
        pin:
          description:
            - The pin the P(kubenode.ipvs_reuse.pin_sysctl#role) role installs, as found on the node. Empty when
              gathering did not finish.
          returned: always
          type: dict
          contains:
            file:
              description: The pin file, C(/etc/sysctl.d/90-kubenode-ipvs-reuse.conf), when it exists; else V(null).
              returned: when gathering finished
              type: str
              sample: /etc/sysctl.d/90-kubenode-ipvs-reuse.conf
            value:
              description: The C(conn_reuse_mode) value the pin file sets; V(null) without one.
              returned: when gathering finished
              type: int
              sample: 1
            keeper:
              description: Whether the pin keeper unit exists (it re-asserts the pin after each kube-proxy start).
              returned: when gathering finished
              type: bool
              sample: false
        kube_proxy:
          description:
            - kube-proxy's mode and version, each from the first signal that gives it. Precedence is O(proxy_mode)
              and O(kube_proxy_version), then the live C(/proxyMode) endpoint, then the cluster (O(cluster)), then
              the node's files.
            - Modes are passed on as written (trimmed); the engine accepts only known modes. Commented lines do not
              count, and for C(kube-proxy.service) the last effective C(ExecStart) wins (an empty one resets).
              A running kube-proxy's C(--config) is read through C(/proc/<pid>/root).
          returned: always
          type: dict
          contains:
            mode:
              description: The mode kube-proxy runs in; V(null) when no signal gives one.
              returned: when gathering finished
              type: str
              sample: ipvs
            mode_source:
              description: The signal and the source of RV(ansible_facts.ipvs_reuse.kube_proxy.mode).
              returned: when gathering finished
              type: str
              sample: kube-proxy /proxyMode endpoint (http://127.0.0.1:10249/proxyMode)
            version:
              description: kube-proxy's version as Kubernetes prints it; V(null) when no signal gives one.
              returned: when gathering finished
              type: str
              sample: v1.21.14
            version_source:
              description: The signal and the source of RV(ansible_facts.ipvs_reuse.kube_proxy.version).
              returned: when gathering finished
              type: str
              sample: kube-proxy static pod manifest (/etc/kubernetes/manifests/kube-proxy.yaml)
            configured_mode:
              description:
                - The mode kube-proxy takes at its next start, from O(proxy_mode), else the cluster's ConfigMap
                  (O(cluster)).
              returned: when O(proxy_mode) is given with O(cluster), or the cluster's ConfigMap gives a mode
              type: str
              sample: ipvs
            configured_mode_source:
              description: Where RV(ansible_facts.ipvs_reuse.kube_proxy.configured_mode) comes from.
              returned: with RV(ansible_facts.ipvs_reuse.kube_proxy.configured_mode)
              type: str
              sample: ConfigMap kube-system/kube-proxy config.conf
            signals:
              description: Every signal found, in precedence order.
              returned: always
              type: list
              elements: dict
              contains:
                signal:
                  description:
                    - What gave it, for example V(given by the caller), V(kube-proxy /proxyMode endpoint),
                      V(kube-proxy ConfigMap), V(kube-proxy process flags), V(kube-proxy service flags),
                      V(kube-proxy static pod manifest), V(k3s/RKE2 kube-proxy-arg) or V(kube-proxy pod log).
                  returned: always
                  type: str
                  sample: kube-proxy static pod manifest
                mode:
                  description: The mode this signal gives; V(null) when it gives none.
                  returned: always
                  type: str
                  sample: ipvs
                version:
                  description: The version this signal gives; V(null) when it gives none.
                  returned: always
                  type: str
                  sample: v1.21.14
                source:
                  description: The file, endpoint or object read.
                  returned: always
                  type: str
                  sample: /etc/kubernetes/manifests/kube-proxy.yaml
            mode_files:
              description:
                - The node's files that set kube-proxy's mode, in precedence order; empty when no file sets it
                  (kubeadm's ConfigMap, a running process only). The P(kubenode.ipvs_reuse.kube_proxy_mode#role) role
                  edits these files.
              returned: when gathering finished
              type: list
              elements: dict
              contains:
                path:
                  description: The file, as a path on the node.
                  returned: always
                  type: str
                  sample: /etc/rancher/k3s/config.yaml.d/50-proxy.yaml
                kind:
                  description:
                    - V(unit) the C(kube-proxy.service) unit or drop-in holding the effective C(ExecStart),
                      V(flags_file) a flags file (also one the unit names in C(EnvironmentFile=)), V(config_file) the
                      C(--config) file they name, V(k3s) or V(rke2) a C(config.yaml) or C(config.yaml.d) file,
                      V(static_pod) a kube-proxy static pod manifest.
                  returned: always
                  type: str
                  sample: k3s
                syntax:
                  description:
                    - How the file writes the mode, V(flag) (C(--proxy-mode=)), V(config) (C(mode:)) or V(rancher)
                      (C(proxy-mode=) in C(kube-proxy-arg)).
                  returned: always
                  type: str
                  sample: rancher
                mode:
                  description: The mode the file sets.
                  returned: always
                  type: str
                  sample: ipvs
        cluster:
          description: What the cluster said (O(cluster)), as merged into RV(ansible_facts.ipvs_reuse.kube_proxy).
          returned: when O(cluster) is given
          type: dict
          contains:
            configured_mode:
              description: The mode in the kube-proxy ConfigMap; V(null) without one.
              returned: always
              type: str
              sample: ipvs
            configured_mode_source:
              description: The ConfigMap and key read.
              returned: always
              type: str
              sample: ConfigMap kube-system/kube-proxy config.conf
            version:
              description: The version of the kube-proxy DaemonSet's image; V(null) without one.
              returned: always
              type: str
              sample: v1.28.4
            version_source:
              description: The DaemonSet and image read.
              returned: always
              type: str
              sample: DaemonSet kube-system/kube-proxy image registry.k8s.io/kube-proxy:v1.28.4
        kernel_probe:
          description:
            - The O(kernel_probe) option as given, the C(probe) result of M(kubenode.ipvs_reuse.ipvs_kernel_probe),
              which the classification takes into account.
          returned: when O(kernel_probe) is given
          type: dict
          sample: {probed: true, kernel: {release: 5.4.0-150-generic, build: "#167-Ubuntu SMP"}, syn_drop_fix: true, drained_backend_fix: null}
        missing:
          description: Every input that could not be read or used, with the reason. It never causes a failure.
          returned: always
          type: list
          elements: dict
          contains:
            item:
              description: What was looked for.
              returned: always
              type: str
              sample: kube-proxy /proxyMode
            path:
              description: The path (below O(root)) or URL read.
              returned: always
              type: str
              sample: http://127.0.0.1:10249/proxyMode
            reason:
              description: Why it could not be used (missing, unreadable, malformed, outside the root, ...).
              returned: always
              type: str
              sample: no answer (kube-proxy not running, or metrics bound elsewhere)
        classification:
          description:
            - The classification, made on the controller by the engine of the P(kubenode.ipvs_reuse.classify#filter)
              filter, with O(policy).
          returned: always
          type: dict
          contains:
            verdict:
              description: One of V(not_applicable), V(safe), V(problem1), V(problem2), V(unknown).
              returned: always
              type: str
              sample: problem1
            mitigation:
              description: One of V(none), V(pin_sysctl), V(switch_iptables), V(os_upgrade).
              returned: always
              type: str
              sample: os_upgrade
            syn_drop_fix:
              description:
                - Whether the kernel carries f0a5e4d7a594 (no first-SYN drop on a reused client port with conntrack
                  active); V(null) when it cannot be told.
              returned: always
              type: bool
              sample: null
            drained_backend_fix:
              description:
                - Whether the kernel carries c95c07836fa4 (with C(conn_reuse_mode=0) and C(expire_nodest_conn=1), a
                  new connection on a reused port that hits a backend drained to weight 0 is rescheduled); V(null)
                  when it cannot be told.
              returned: always
              type: bool
              sample: null
            kernel_fix:
              description: The same as RV(ansible_facts.ipvs_reuse.classification.syn_drop_fix), deprecated; removed in 2.0.0.
              returned: always
              type: bool
            weight0_fix:
              description: The same as RV(ansible_facts.ipvs_reuse.classification.drained_backend_fix), deprecated; removed in 2.0.0.
              returned: always
              type: bool
            pin_value:
              description: The C(conn_reuse_mode) value to pin when the mitigation is V(pin_sysctl); else V(null).
              returned: always
              type: int
              sample: 1
            pin_needs_keeper:
              description:
                - Whether kube-proxy rewrites the value at start, so the pin must be re-asserted after each start;
                  V(null) without a pin.
              returned: always
              type: bool
              sample: true
            pin_sysctls:
              description:
                - Every sysctl to pin, keyed by its name under C(net.ipv4.vs), with its value, C(conn_reuse_mode)
                  first; V(null) without a pin.
              returned: always
              type: dict
              sample: {conn_reuse_mode: 1}
            starts:
              description:
                - When the problem starts, V(now), V(after_kube_proxy_restart) or V(after_reboot); V(null) without
                  a problem.
              returned: always
              type: str
              sample: now
            settle:
              description: What would settle an assumption the verdict rests on; V(null) when none was made.
              returned: always
              type: str
              sample: pass kube_proxy_version with its patch number
            branches:
              description:
                - Where the kube-proxy version has no patch number (V(v1.21)) and its minor release behaves differently
                  from one patch range to the next, the node is classified once per range; one entry per range. The
                  verdict is known when all entries agree; otherwise the worse one is acted on and
                  RV(ansible_facts.ipvs_reuse.classification.settle) says what decides. Empty otherwise.
              returned: always
              type: list
              elements: dict
              sample: []
              contains:
                kube_proxy:
                  description: The patch range this branch assumes, for example V(v1.21.0-v1.21.8) or V(v1.21.9 and later).
                  returned: always
                  type: str
                verdict:
                  description: The verdict if kube-proxy is of this range.
                  returned: always
                  type: str
                mitigation:
                  description: The mitigation if kube-proxy is of this range.
                  returned: always
                  type: str
                starts:
                  description: When the problem starts if kube-proxy is of this range; V(null) when it has none.
                  returned: always
                  type: str
            states:
              description:
                - The sysctl values and the verdict of each state the node passes through, C(live) (now),
                  C(after_kube_proxy_restart) and C(after_reboot); for an offline image only C(after_reboot).
                  Empty when the verdict needs no states (V(unknown), V(not_applicable)).
              returned: always
              type: dict
              contains:
                live:
                  description: The state now.
                  returned: on a live node that was classified through its states
                  type: dict
                  contains: &state
                    conn_reuse_mode:
                      description: C(net.ipv4.vs.conn_reuse_mode) in this state; V(null) when unknown.
                      returned: always
                      type: int
                      sample: 0
                    conntrack:
                      description: C(net.ipv4.vs.conntrack) in this state.
                      returned: always
                      type: int
                      sample: 1
                    expire_nodest_conn:
                      description: C(net.ipv4.vs.expire_nodest_conn) in this state.
                      returned: always
                      type: int
                      sample: 1
                    verdict:
                      description: The verdict of this state.
                      returned: always
                      type: str
                      sample: safe
                after_kube_proxy_restart:
                  description: The state after kube-proxy's next start.
                  returned: on a live node that was classified through its states
                  type: dict
                  contains: *state
                after_reboot:
                  description: The state after a reboot (for an image, the state it boots into).
                  returned: when the node was classified through its states
                  type: dict
                  contains: *state
            plan:
              description:
                - What each mitigation role must do on the node. The roles read their entry with the filter
                  P(kubenode.ipvs_reuse.plan_for#filter).
              returned: always
              type: dict
              contains:
                pin_sysctl:
                  description: The entry of the P(kubenode.ipvs_reuse.pin_sysctl#role) role.
                  returned: always
                  type: dict
                  contains:
                    action:
                      description:
                        - V(apply) (pin what the classification chose), V(keep) (the node is safe with the pin
                          installed earlier), V(refuse) (a pin file exists but no value is safe) or V(none).
                      returned: always
                      type: str
                      sample: apply
                    value:
                      description: The C(conn_reuse_mode) value to pin or keep; V(null) otherwise.
                      returned: always
                      type: int
                      sample: 1
                    keeper:
                      description: Whether the pin needs the keeper unit; V(null) without a pin.
                      returned: always
                      type: bool
                      sample: true
                    sysctls:
                      description: Every sysctl to pin, keyed by its name under C(net.ipv4.vs); empty without a pin.
                      returned: always
                      type: dict
                      sample: {conn_reuse_mode: 1}
                    reason:
                      description: Why, in the operator's words.
                      returned: always
                      type: str
                      sample: "mitigation os_upgrade: no pin"
                kube_proxy_mode:
                  description: The entry of the P(kubenode.ipvs_reuse.kube_proxy_mode#role) role.
                  returned: always
                  type: dict
                  contains:
                    action:
                      description: V(switch) or V(none).
                      returned: always
                      type: str
                      sample: none
                    target:
                      description: The mode to switch to (V(iptables)); V(null) without a switch.
                      returned: always
                      type: str
                      sample: null
                    reason:
                      description: Why, in the operator's words.
                      returned: always
                      type: str
                      sample: "mitigation os_upgrade, not switch_iptables: kube-proxy left as it is"
                os_upgrade_flag:
                  description: The entry of the P(kubenode.ipvs_reuse.os_upgrade_flag#role) role.
                  returned: always
                  type: dict
                  contains:
                    action:
                      description:
                        - V(flag), V(unflag) (safe or not applicable now), V(leave) (another mitigation) or V(none)
                          (unknown verdict).
                      returned: always
                      type: str
                      sample: flag
                    reason:
                      description: Why, in the operator's words.
                      returned: always
                      type: str
                      sample: upgrade the OS/kernel to one with the fix
                run:
                  description: The roles C(playbooks/mitigate.yml) runs on the node.
                  returned: always
                  type: list
                  elements: str
                  sample: [os_upgrade_flag]
            reasons:
              description: The facts and rules that led to the verdict.
              returned: always
              type: list
              elements: dict
              contains:
                rule:
                  description: The rule's name.
                  returned: always
                  type: str
                  sample: mode_ipvs
                text:
                  description: What the rule found, in the operator's words.
                  returned: always
                  type: str
                  sample: kube-proxy runs in IPVS mode
                source:
                  description: The file, signal or reference the rule rests on.
                  returned: always
                  type: str
                  sample: kube-proxy /proxyMode endpoint (http://127.0.0.1:10249/proxyMode)
                confidence:
                  description:
                    - How sure the rule is, for example V(observed), V(measured), V(verified), V(inferred), V(assumed)
                      or V(user) (site knowledge from O(policy)).
                  returned: always
                  type: str
                  sample: observed
            warnings:
              description: Findings that do not change the verdict (overridden kube-proxy values, leftovers, the cluster).
              returned: always
              type: list
              elements: str
              sample: []
      sample:
        schema: 1
        root: /
        live: true
        kernel: {release: 5.4.0-150-generic, version: [5, 4, 0], build: null, upstream_version: null,
                 upstream_source: null, source: /proc/sys/kernel/osrelease, installed: null,
                 selection: the running kernel, config_ip_vs: null}
        os: {id: ubuntu, version_id: "20.04", pretty_name: Ubuntu 20.04.6 LTS, source: /etc/os-release}
        ipvs: {loaded: true, sysctl_dir: true, virtual_services: 12, kube_ipvs0: true, built: null}
        sysctl: {conn_reuse_mode: 0, conntrack: 1, expire_nodest_conn: 1, expire_quiescent_template: 1,
                 conn_reuse_old_conntrack: null}
        sysctl_errors: {}
        persisted: {}
        pin: {file: null, value: null, keeper: false}
        kube_proxy: {mode: ipvs, version: v1.21.14, mode_source: "kube-proxy /proxyMode endpoint (...)",
                     version_source: "kube-proxy /proxyMode endpoint (...)", signals: []}
        missing: []
        classification:
          verdict: problem1
          mitigation: os_upgrade
          syn_drop_fix: null
          drained_backend_fix: null
          reasons:
            - {rule: mode_ipvs, text: kube-proxy runs in IPVS mode, source: "...", confidence: observed}
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
