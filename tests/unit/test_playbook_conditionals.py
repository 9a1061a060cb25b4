"""Every conditional in the collection's YAML is a string, as Ansible requires.

A list item such as `- x == 'mode: ipvs'` is a YAML mapping, not an expression: ansible-core 2.19
refuses it at run time ("Conditional expressions must be strings"), and only when that task runs,
which for molecule's verify playbooks means on a guest, tens of minutes into a test.
"""
import glob
import os

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONDITIONAL_KEYS = ("when", "failed_when", "changed_when", "until", "that")
FILES = sorted(path for pattern in ("roles/**/*.yml", "playbooks/**/*.yml", "molecule/**/*.yml", "tests/**/*.yml")
               for path in glob.glob(os.path.join(REPO, pattern), recursive=True)
               if "/.cache/" not in path)


def bad_conditionals(node, where=""):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in CONDITIONAL_KEYS:
                for item in value if isinstance(value, list) else [value]:
                    if not isinstance(item, (str, bool)):
                        yield "%s.%s: %r" % (where, key, item)
            yield from bad_conditionals(value, "%s.%s" % (where, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from bad_conditionals(value, "%s[%d]" % (where, index))


def test_there_are_files_to_check():
    assert len(FILES) > 20


@pytest.mark.parametrize("path", FILES, ids=lambda path: os.path.relpath(path, REPO))
def test_conditionals_are_strings(path):
    with open(path) as handle:
        documents = list(yaml.safe_load_all(handle))
    assert list(bad_conditionals(documents)) == []


def test_the_check_finds_a_mapping_in_that():
    task = yaml.safe_load("- assert:\n    that:\n      - x == 'mode: ipvs'\n")
    assert len(list(bad_conditionals(task))) == 1
