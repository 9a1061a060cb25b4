"""Every internal variable of a role carries the role's prefix (`__<role>_...`).

Variable precedence is why: a caller's registered variable or fact outranks a role's task `vars:`.
os_upgrade_flag once used a task variable `__fact`; a play that had registered its own `__fact` made
the role write the caller's variable into /etc/ansible/facts.d/ipvs_reuse.fact. A prefixed name
cannot collide with anything outside the role.
"""
import glob
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = sorted(os.path.basename(path) for path in glob.glob(os.path.join(REPO, "roles", "*"))
               if os.path.isdir(path))
INTERNAL_NAME = re.compile(r"(?<![\w.])__[a-z][a-z0-9_]*")


def unprefixed_names(role, repo=REPO):
    found = set()
    for path in glob.glob(os.path.join(repo, "roles", role, "**", "*.yml"), recursive=True):
        with open(path) as handle:
            for name in INTERNAL_NAME.findall(handle.read()):
                if not name.startswith("__%s_" % role):
                    found.add("%s: %s" % (os.path.relpath(path, repo), name))
    return sorted(found)


def test_there_are_roles():
    assert {"assess", "pin_sysctl", "kube_proxy_mode", "os_upgrade_flag"} <= set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_internal_names_carry_the_role_prefix(role):
    assert unprefixed_names(role) == []


def test_the_check_finds_an_unprefixed_name(tmp_path):
    tasks = tmp_path / "roles" / "demo" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text("- set_fact:\n    __demo_ok: 1\n    x: '{{ __fact }}'\n")
    assert unprefixed_names("demo", repo=str(tmp_path)) == ["roles/demo/tasks/main.yml: __fact"]
