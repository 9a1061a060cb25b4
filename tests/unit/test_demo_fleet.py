"""The demo fleet shipped in demo/ is what tests/support/fleetgen.py says, and classifies as each node expects."""
import filecmp
import os

import pytest

from support import fleetgen
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import classify
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.gather import gather

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(REPO, "demo")


def test_committed_demo_matches_its_generator(tmp_path):
    fleetgen.write_demo_fleet(str(tmp_path))
    comparison = filecmp.dircmp(str(tmp_path), DEMO)

    def differences(cmp):
        found = cmp.left_only + cmp.right_only + cmp.diff_files
        for sub in cmp.subdirs.values():
            found += differences(sub)
        return found
    assert differences(comparison) == [], "run python3 scripts/make_demo_fleet.py"


@pytest.mark.parametrize("name", sorted(fleetgen.DEMO_FLEET))
def test_demo_node_verdicts(name):
    spec = fleetgen.DEMO_FLEET[name]
    options = spec.get("inventory", {})
    facts = gather(os.path.join(DEMO, "nodes", name), proxy_mode=options.get("assess_proxy_mode"),
                   kube_proxy_version=options.get("assess_kube_proxy_version"))
    result = classify(facts)
    got = dict((key, result[key]) for key in spec["expect"])
    assert got == spec["expect"], result["reasons"]
