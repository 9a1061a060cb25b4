#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ipvs_kernel_probe
short_description: Measure whether the node's kernel carries the IPVS reuse fixes, in throwaway network namespaces
version_added: 1.1.0
description:
  - Measures, on the node's own kernel, the two fixes every verdict rests on. C(syn_drop_fix) (f0a5e4d7a594, called
    FIX2 before) means connects from a reused client port are not delayed by about 1 s with C(conn_reuse_mode=1)
    and conntrack active (IPVS no longer drops their first SYN). C(drained_backend_fix) (c95c07836fa4, called FIX1
    before) means that with C(conn_reuse_mode=0) and C(expire_nodest_conn=1), a backend drained to weight 0 gets
    none of the new connections from a reused port.
  - "Step by step: it removes what an interrupted earlier probe left (network namespaces named
    C(kubenode-ipvsprobe-*), and the processes inside them); creates four network namespaces C(kubenode-ipvsprobe-<8 hex
    digits>-client), C(-director), C(-be1), C(-be2); joins the client and both backends to the director with veth
    pairs created inside those namespaces (no interface appears in the host's namespace); in the director's namespace
    only, sets C(net.ipv4.ip_forward=1), C(net.ipv4.vs.conntrack=1), C(conn_reuse_mode) and C(expire_nodest_conn),
    adds an IPVS NAT virtual service 198.18.0.10:80 with the two backends, and a nat-table MASQUERADE rule for a
    source that never occurs (so conntrack is active, as kube-proxy's rules make it on a node); runs a small HTTP
    responder in each backend namespace; makes 1 + O(connections) connections from one client port with
    C(conn_reuse_mode=1), then 1 + O(connections) from another port with C(conn_reuse_mode=0) after draining the
    backend that served the first of them to weight 0; then stops its processes and deletes the four namespaces."
  - Never changes the host's namespace, its IPVS table, sysctls or firewall, and never loads a kernel module. It runs
    only where C(ip_vs) is already loaded, and only where the modules it uses (C(veth), an IPVS scheduler, the nat
    table and MASQUERADE of C(iptables-legacy), C(iptables-nft) or C(nft)) are already loaded or built in, as they
    are on a node where kube-proxy runs in IPVS mode. Otherwise it says which module it would need and returns null
    results. The kernel modules loaded before and after are compared and any difference is reported.
  - Needs root, C(ip) (iproute2) and C(ipvsadm). Without them it says so and returns null results.
  - Runs in check mode too, since it changes nothing outside its own namespaces; set O(run_in_check_mode=false) to
    skip it there.
  - "Cost: 4 namespaces, 4 forked Python processes (no new interpreter), C(ip) five times, C(ipvsadm) twice, one
    firewall restore, 2 + 2 x O(connections) local connections; a few seconds on real hardware where C(syn_drop_fix) is present,
    about O(connections) seconds more where it is missing (each such connect waits for the SYN retransmission)."
author:
  - kubenode.ipvs_reuse contributors (@kubenode)
options:
  timeout:
    description:
      - Hard limit in seconds for the whole probe. Past it the probe stops, cleans up and returns null results.
    type: float
    default: 30
  connections:
    description: Connections per measurement, after one seed connection (3 to 20).
    type: int
    default: 5
  run_in_check_mode:
    description: Whether to probe when the play runs in check mode. The probe changes nothing outside its namespaces.
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - kubenode.ipvs_reuse.node_module
attributes:
  check_mode:
    support: full
    details: The probe runs in check mode (see O(run_in_check_mode)); it never reports a change.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: linux
notes:
  - Namespaces are entered with C(setns(2)) by forked processes, so no new Python interpreter is started.
  - Two probes never run at once on a node; the second waits for the first (a lock on C(/run/netns)).
  - The P(kubenode.ipvs_reuse.assess#role) role runs it when C(assess_kernel_probe) is true, on one node per kernel
    release and build, and classifies with the measurement.
seealso:
  - module: kubenode.ipvs_reuse.ipvs_facts
"""

EXAMPLES = r"""
- name: Measure the kernel's reuse fixes on one canary node first
  kubenode.ipvs_reuse.ipvs_kernel_probe:
  register: probe
  when: inventory_hostname == groups['k8s_nodes'][0]

- name: Show what was measured
  ansible.builtin.debug:
    msg: >-
      syn_drop_fix {{ probe.syn_drop_fix }}, drained_backend_fix {{ probe.drained_backend_fix }}:
      {{ probe.probe.syn_drop_fix_reason | default(probe.probe.reason) }}
"""

RETURN = r"""
syn_drop_fix:
  description:
    - Whether the kernel carries f0a5e4d7a594 (no first-SYN drop on a reused client port with conntrack active), as
      measured; null when not measured.
  returned: always
  type: bool
drained_backend_fix:
  description:
    - Whether the kernel carries c95c07836fa4 (with C(conn_reuse_mode=0) and C(expire_nodest_conn=1), a backend
      drained to weight 0 gets no new connection from a reused client port), as measured; null when not measured.
  returned: always
  type: bool
fix2:
  description:
    - Deprecated alias of RV(syn_drop_fix), the same value; it will be removed in release 2.0.0.
  returned: always
  type: bool
fix1:
  description:
    - Deprecated alias of RV(drained_backend_fix), the same value; it will be removed in release 2.0.0.
  returned: always
  type: bool
probe:
  description:
    - The evidence.
  returned: always
  type: dict
  contains:
    probed:
      description: Whether the measurements ran.
      returned: always
      type: bool
    syn_drop_fix:
      description: The same as RV(syn_drop_fix).
      returned: always
      type: bool
    drained_backend_fix:
      description: The same as RV(drained_backend_fix).
      returned: always
      type: bool
    fix2: {description: "Deprecated alias of RV(probe.syn_drop_fix), removed in release 2.0.0.",
           returned: always, type: bool}
    fix1: {description: "Deprecated alias of RV(probe.drained_backend_fix), removed in release 2.0.0.",
           returned: always, type: bool}
    reason:
      description:
        - Why nothing was measured (no root, ip_vs not loaded, ipvsadm missing, a module it would load, ...);
          V(null) when the measurements ran.
      returned: always
      type: str
    syn_drop_fix_reason:
      description: What the C(syn_drop_fix) measurement showed, with its figures.
      returned: when the measurements ran
      type: str
    drained_backend_fix_reason:
      description: What the C(drained_backend_fix) measurement showed, with its figures.
      returned: when the measurements ran
      type: str
    fix2_reason: {description: "Deprecated alias of RV(probe.syn_drop_fix_reason), removed in release 2.0.0.",
                  returned: when the measurements ran, type: str}
    fix1_reason: {description: "Deprecated alias of RV(probe.drained_backend_fix_reason), removed in release 2.0.0.",
                  returned: when the measurements ran, type: str}
    kernel:
      description: The kernel measured.
      returned: always
      type: dict
      contains:
        release:
          description: C(/proc/sys/kernel/osrelease).
          returned: always
          type: str
        build:
          description: C(/proc/sys/kernel/version).
          returned: always
          type: str
    node:
      description: The node's host name.
      returned: always
      type: str
    measured_at:
      description: When (UTC, ISO 8601).
      returned: always
      type: str
    duration_s:
      description: Wall time of the probe.
      returned: always
      type: float
    timings_ms:
      description:
        - Wall time per step, keyed by the step's name (preconditions, cleanup_leftovers, namespaces_and_links, agents,
          director, syn_drop_fix, drained_backend_fix, teardown), for the steps that ran.
      returned: always
      type: dict
    connections:
      description: Connections per measurement, after the seed one (O(connections)).
      returned: when the measurements ran
      type: int
    slow_ms:
      description: From how many milliseconds a connect counts as slow (a dropped first SYN).
      returned: when the measurements ran
      type: float
    reuse:
      description: The C(syn_drop_fix) series, made with C(conn_reuse_mode=1) and conntrack active.
      returned: when the measurements ran
      type: dict
      contains: &series
        seed:
          description: The first connection from the client port the series then reuses.
          returned: always
          type: dict
          contains: &connect
            connect_ms:
              description: How long the connect took.
              returned: always
              type: float
            backend:
              description: The backend that answered, V(be1) or V(be2); V(null) when none did.
              returned: always
              type: str
            error:
              description: Why the connection failed.
              returned: when it failed
              type: str
        connections:
          description: The connections from the reused port.
          returned: always
          type: list
          elements: dict
          contains: *connect
        median_ms:
          description: The median connect time of the connections without error; V(null) without any.
          returned: always
          type: float
        max_ms:
          description: The longest connect time of the connections without error; V(null) without any.
          returned: always
          type: float
        slow:
          description: How many connects took RV(probe.slow_ms) or longer.
          returned: always
          type: int
        errors:
          description: How many connections failed.
          returned: always
          type: int
    drain:
      description:
        - The C(drained_backend_fix) series, made with C(conn_reuse_mode=0) and C(expire_nodest_conn=1) after the backend that served
          its seed was drained to weight 0. The same keys as RV(probe.reuse), with C(drained_backend) and
          C(hits_on_drained).
      returned: when the measurements ran
      type: dict
      contains:
        <<: *series
        drained_backend:
          description: The backend drained to weight 0 (the one that served the seed); V(null) when the seed failed.
          returned: always
          type: str
        hits_on_drained:
          description: How many of the connections still reached the drained backend.
          returned: always
          type: int
    conntrack_entries:
      description: Connections conntrack tracked in the director's namespace (0 would mean C(syn_drop_fix) could not be measured).
      returned: when the measurements ran
      type: int
    scheduler:
      description: The IPVS scheduler of the probe's virtual service.
      returned: when the probe got past its preconditions
      type: str
    firewall:
      description: The firewall tool used for the MASQUERADE rule, for example V(iptables-legacy), V(iptables-nft) or V(nft).
      returned: when the probe got past its preconditions
      type: str
    leftovers_removed:
      description: Namespaces of an earlier, interrupted probe that this run removed.
      returned: when the probe got past its preconditions
      type: list
      elements: str
    cleanup_error:
      description: Why the probe's own namespaces could not all be removed.
      returned: when the teardown failed
      type: str
    modules_loaded_during_probe:
      description: Kernel modules loaded while the probe ran (expected empty).
      returned: when the probe got past its preconditions
      type: list
      elements: str
    warning:
      description: Says which kernel modules appeared while the probe ran.
      returned: when kernel modules appeared while the probe ran
      type: str
  sample:
    probed: true
    syn_drop_fix: false
    drained_backend_fix: true
    syn_drop_fix_reason: "5 of 5 connects from a reused client port took >= 500 ms (median 1031.2 ms, max 1040.3 ms): ..."
    kernel: {release: 6.1.192-ipvs-prefix-lab, build: "#1 SMP PREEMPT_DYNAMIC ..."}
    duration_s: 8.4
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.kernel_probe import (
    null_result, run_probe, with_deprecated_names)


def module_result(probe):
    """The module's result for a result of run_probe (documented in RETURN), with the deprecated names fix2/fix1."""
    probe = with_deprecated_names(probe)
    fixes = dict((name, probe.get(name)) for name in ("syn_drop_fix", "drained_backend_fix", "fix2", "fix1"))
    return dict(changed=False, probe=probe, **fixes)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            timeout=dict(type="float", default=30.0),
            connections=dict(type="int", default=5),
            run_in_check_mode=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    if not 3 <= module.params["connections"] <= 20:
        module.fail_json(msg="connections must be between 3 and 20, got %d" % module.params["connections"])
    if not 1 <= module.params["timeout"] <= 600:
        module.fail_json(msg="timeout must be between 1 and 600 seconds, got %s" % module.params["timeout"])
    if module.check_mode and not module.params["run_in_check_mode"]:
        result = null_result("not probed: check mode, and run_in_check_mode is false")
    else:
        result = run_probe(timeout=module.params["timeout"], connections=module.params["connections"])
    module.exit_json(**module_result(result))


if __name__ == "__main__":
    main()
