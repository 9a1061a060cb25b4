"""kubenode.ipvs_reuse.survey_value: values as an AWX survey (strings) or the inventory gives them."""
import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.kubenode.ipvs_reuse.plugins.filter.survey_value import survey_input_errors, survey_value

READ = [
    ({"allow_pin": False}, "dict", {"allow_pin": False}),
    ('{"allow_pin": false}', "dict", {"allow_pin": False}),
    ("allow_pin: false\nfallback_mitigation: switch_iptables", "dict",
     {"allow_pin": False, "fallback_mitigation": "switch_iptables"}),
    ("  ", "dict", {}),
    (None, "dict", {}),
    (["problem1"], "list", ["problem1"]),
    ('["problem1", "unknown"]', "list", ["problem1", "unknown"]),
    ("- problem1\n- problem2", "list", ["problem1", "problem2"]),
    ("", "list", []),
    ("ipvs ", "str", "ipvs"),
    ("", "str", ""),
    (None, "str", ""),
]


@pytest.mark.parametrize("value,kind,expected", READ)
def test_reads_what_a_survey_or_inventory_gives(value, kind, expected):
    assert survey_value(value, "var", kind) == expected


REFUSED = [
    ("allow_pin=false", "dict", "var is key=value text ('allow_pin=false'), which is not accepted"),
    ("{allow_pin: false", "dict", "var is text that does not parse"),
    ('["a"]', "dict", "var must be a dict, got the list text"),
    (5, "dict", "var must be a dict, got a number (5)"),
    ("problem1", "list", "var must be a list, got the plain text 'problem1'"),
    ("problem1,problem2", "list", "var must be a list, got the plain text 'problem1,problem2'"),
    ('{"a": 1}', "list", "var must be a list, got the dict text"),
    ({"a": 1}, "list", "var must be a list, got a dict"),
    (123, "str", "var must be a string, got a number (123)"),
    (True, "str", "var must be a string, got a boolean (True)"),
    (["ipvs"], "str", "var must be a string, got a list (['ipvs'])"),
]


@pytest.mark.parametrize("value,kind,message", REFUSED)
def test_refuses_with_a_clear_message(value, kind, message):
    with pytest.raises(AnsibleFilterError) as caught:
        survey_value(value, "var", kind)
    assert message in str(caught.value)
    assert "p, r, o" not in str(caught.value)


def test_huge_text_is_quoted_only_in_part():
    with pytest.raises(AnsibleFilterError) as caught:
        survey_value("x=" + "y" * 100000, "var", "dict")
    assert len(str(caught.value)) < 500


def test_input_errors_name_the_nodes_and_group_them():
    hostvars = {"a": {"mode": 1}, "b": {}, "c": {"mode": 1}}
    assert survey_input_errors(["a", "b", "c"], hostvars, {"mode": ""}, {"mode": "str"}) == [
        "mode must be a string, got a number (1); quote it in the inventory, e.g. mode: \"ipvs\" (nodes: a, c)"]
    assert survey_input_errors(["b"], hostvars, {"mode": "ipvs"}, {"mode": "str"}) == []
    many = dict(("n%d" % index, {"mode": 1}) for index in range(8))
    assert survey_input_errors(sorted(many), many, {}, {"mode": "str"})[0].endswith("n4 and 3 more)")
