"""The demo fleet shipped in demo/ (written by fleetgen, checked by tests/unit/test_demo_fleet.py), gathered from
its offline roots and classified as the assess role does, for tests that need real facts of real node layouts.
Needs this checkout importable as ansible_collections.kubenode.ipvs_reuse (tests/unit/conftest.py does it)."""
import copy
import os

from support import fleetgen

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODES = os.path.join(REPO, "demo", "nodes")
NAMES = tuple(sorted(fleetgen.DEMO_FLEET))
_CACHE = {}


def node_facts(name):
    """The ipvs_reuse facts of one demo node, with its classification; a fresh copy for each call."""
    if name not in _CACHE:
        from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import classify
        from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.gather import gather
        options = fleetgen.DEMO_FLEET[name].get("inventory", {})
        facts = gather(os.path.join(NODES, name), proxy_mode=options.get("assess_proxy_mode"),
                       kube_proxy_version=options.get("assess_kube_proxy_version"), metrics_url="")
        facts["classification"] = classify(facts)
        _CACHE[name] = facts
    return copy.deepcopy(_CACHE[name])


def expected(name):
    """What the demo fleet's generator says the node's classification is (verdict, mitigation, ...)."""
    return dict(fleetgen.DEMO_FLEET[name]["expect"])


def report(generated_at="2026-12-01T10:00:00+00:00", cluster=None, run=None):
    """The fleet report of the whole demo fleet, as the assess role builds it."""
    from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import fleet_report
    return fleet_report(dict((name, node_facts(name)) for name in NAMES), generated_at=generated_at, cluster=cluster,
                        run=run)
