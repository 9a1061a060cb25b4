"""One home per constant: verdicts, mitigations, the pin's paths and units, and the sysctls a pin may set are defined
in plugins/module_utils/knowledge.py. The role vars and argument specs that must name them too are checked against it
here, so that they cannot drift apart silently."""
import glob
import os

import pytest
import yaml

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import kernel_probe
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge as K
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import metrics
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import plan
from ansible_collections.kubenode.ipvs_reuse.plugins.modules import conn_reuse_mode

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(relative):
    with open(os.path.join(REPO, relative)) as handle:
        return yaml.safe_load(handle)


def test_the_pin_role_manages_the_paths_and_units_knowledge_names():
    role_vars = load("roles/pin_sysctl/vars/main.yml")
    assert dict((key, role_vars["__pin_sysctl_" + key]) for key in K.PIN_PATHS) == K.PIN_PATHS
    # the two the facts module reads back
    assert K.PIN_PATHS["file"] == K.PIN_SYSCTL_FILE and K.PIN_PATHS["keeper_service"] == K.PIN_KEEPER_UNIT
    assert K.PIN_PATHS["keeper_service"] == "/etc/systemd/system/%s.service" % K.PIN_PATHS["keeper_name"]
    assert K.PIN_PATHS["keeper_timer"] == "/etc/systemd/system/%s.timer" % K.PIN_PATHS["keeper_name"]


def test_the_sysctls_a_pin_may_set_are_the_same_everywhere():
    assert load("roles/pin_sysctl/vars/main.yml")["__pin_sysctl_pinnable"] == list(K.PINNABLE_SYSCTLS)
    documented = yaml.safe_load(conn_reuse_mode.DOCUMENTATION)["options"]["name"]["choices"]
    assert documented == list(K.PINNABLE_SYSCTLS)
    switches = [entry["switch"] for entry in K.KNOWN_KERNELS if entry.get("switch")]
    assert switches and set(switches) <= set(K.PINNABLE_SYSCTLS)


def test_the_verdict_choices_of_the_assess_role_are_the_engine_s():
    spec = load("roles/assess/meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert spec["assess_fail_on_verdicts"]["choices"] == list(K.VERDICTS)


def test_every_mitigation_has_its_role_and_its_plan_entry():
    assert set(K.MITIGATION_ROLES) == set(K.MITIGATIONS) - {"none"}
    assert set(K.MITIGATION_ROLES.values()) == set(plan.ROLES)
    for role in K.MITIGATION_ROLES.values():
        assert os.path.isdir(os.path.join(REPO, "roles", role)), role
    assert set(K.MITIGATION_TEXT) == set(K.MITIGATIONS) and set(K.VERDICT_TEXT) == set(K.VERDICTS)
    assert set(K.FALLBACK_MITIGATIONS) <= set(K.MITIGATION_ROLES)


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO, "roles", "*", "vars", "main.yml"))
                                        + glob.glob(os.path.join(REPO, "roles", "*", "defaults", "main.yml"))),
                         ids=lambda path: os.path.relpath(path, REPO))
def test_no_role_keeps_its_own_copy_of_the_verdicts_or_mitigations(path):
    values = [value for value in (load(os.path.relpath(path, REPO)) or {}).values() if isinstance(value, list)]
    for value in values:
        assert sorted(map(str, value)) not in (sorted(K.VERDICTS), sorted(K.MITIGATIONS)), path


def test_the_fixes_have_one_name_everywhere():
    """The kernel probe keeps its own copy of the names (it also runs alone, copied to a node): the same as knowledge's."""
    assert (kernel_probe.SYN_DROP_FIX, kernel_probe.DRAINED_BACKEND_FIX) == K.FIXES
    assert kernel_probe.DEPRECATED_FIX_NAMES == K.DEPRECATED_FIX_NAMES
    assert [name for name, _commit in metrics.FIXES] == list(K.FIXES)
    assert set(K.DEPRECATED_RESULT_NAMES.values()) == set(K.DEPRECATED_FIX_NAMES.values()) == set(K.FIXES)
