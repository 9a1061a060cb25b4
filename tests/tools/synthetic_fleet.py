"""A large synthetic fleet report for the HTML report's browser test and benchmark.

Each node starts from one demo node of tests/support/fleetgen.py (gathered from a real fixture tree once),
gets a varied kernel build and kube-proxy patch version, and is classified by the real engine, so the
report has the shape and the mix of verdicts the assess role produces.
"""
import os
import random
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
for path in (os.path.join(REPO, ".cache", "collections"), os.path.join(REPO, "tests")):
    if path not in sys.path:
        sys.path.insert(0, path)

from support import fleetgen  # noqa: E402
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import classify  # noqa: E402
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.gather import gather  # noqa: E402
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.report import fleet_report  # noqa: E402

# Kernel builds per demo node that keep the node in the same family (same series and vendor suffix).
KERNEL_VARIANTS = {
    "ubuntu2004-kp121": ["5.4.0-%d-generic" % build for build in (150, 165, 172, 186)],
    "ubuntu2204-kp128": ["5.15.0-%d-generic" % build for build in (91, 101, 113, 122)],
    "debian11-persisted0": ["5.10.0-%d-amd64" % build for build in (26, 28, 30)],
    "debian12-k3s": ["6.1.0-%d-amd64" % build for build in (18, 21, 25)],
    "rhel8-crm1": ["4.18.0-%s.el8_8.x86_64" % build for build in ("477.27.1", "477.43.1")],
}


def demo_facts():
    """{demo node name: gathered facts} (without classification)."""
    found = {}
    with tempfile.TemporaryDirectory() as directory:
        for name, spec in sorted(fleetgen.DEMO_FLEET.items()):
            root = fleetgen.write_node(os.path.join(directory, name), spec)
            options = spec.get("inventory", {})
            found[name] = gather(root=root, proxy_mode=options.get("assess_proxy_mode"),
                                 kube_proxy_version=options.get("assess_kube_proxy_version"), metrics_url="",
                                 http_get=lambda url: None)
    return found


def synthetic_report(count, seed=4, base=None):
    rng = random.Random(seed)
    base = base or demo_facts()
    names = sorted(base)
    nodes = {}
    for index in range(count):
        template = names[rng.randrange(len(names))]
        facts = dict(base[template])
        variants = KERNEL_VARIANTS.get(template)
        if variants:
            facts["kernel"] = dict(facts["kernel"], release=rng.choice(variants))
        facts["classification"] = classify(facts)
        nodes["node-%05d-%s" % (index, template)] = facts
    return fleet_report(nodes)


if __name__ == "__main__":
    import json
    print(json.dumps(synthetic_report(int(sys.argv[1]) if len(sys.argv) > 1 else 100)))
