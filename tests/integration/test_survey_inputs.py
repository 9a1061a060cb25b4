"""playbooks/assess.yml with inputs as AWX passes them: survey answers are extra vars whose values are strings
(JSON/YAML text for a dict or a list), and inventory values of the wrong type. Demo fleet, connection local.

Good text is read as the dict or list it spells; bad input stops the play with a clear message before any node
is contacted (no report is written).
"""
import json

import pytest

from test_assess_playbook import expected_nodes, run_playbook


def report(tmp_path):
    with open(str(tmp_path / "report" / "fleet.json")) as handle:
        return {record["node"]: record for record in json.load(handle)["nodes"]}


def survey(**answers):
    """Extra vars as AWX writes them for survey answers: every value a string."""
    assert all(isinstance(value, str) for value in answers.values())
    return ["-e", json.dumps(answers)]


@pytest.mark.parametrize("policy_text", ['{"allow_pin": false}', "allow_pin: false"], ids=["json", "yaml"])
def test_policy_as_survey_text_is_applied(tmp_path, policy_text):
    run_playbook(tmp_path, *survey(assess_policy=policy_text))
    nodes = report(tmp_path)
    # debian11-persisted0 is pin_sysctl under the default policy; without pinning it falls back.
    assert nodes["debian11-persisted0"]["verdict"] == "problem1"
    assert not [name for name, record in nodes.items() if record["mitigation"] == "pin_sysctl"]


def test_verdict_list_as_survey_text_gates(tmp_path):
    result = run_playbook(tmp_path, *survey(assess_fail_on_verdicts='["problem2"]'), check=False)
    assert result.returncode != 0
    problem2 = expected_nodes("problem2")
    assert "%d node(s) have a verdict in problem2: " % len(problem2) in result.stdout
    assert all(name in result.stdout for name in problem2)
    assert (tmp_path / "report" / "fleet.json").exists()


def test_empty_survey_answers_mean_the_defaults(tmp_path):
    run_playbook(tmp_path, *survey(assess_policy="", assess_fail_on_verdicts="", assess_known_kernels=""))
    assert report(tmp_path)["debian11-persisted0"]["mitigation"] == "pin_sysctl"


REFUSED = [
    (survey(assess_policy="allow_pin=false"),
     "assess_policy is key=value text ('allow_pin=false'), which is not accepted; give it as JSON or YAML text "
     'of a dict, e.g. {"allow_pin": false}'),
    (survey(assess_policy="{allow_pin: false"), "assess_policy is text that does not parse"),
    (survey(assess_policy='["allow_pin"]'), "assess_policy must be a dict, got the list text"),
    (survey(assess_fail_on_verdicts="problem1"),
     "assess_fail_on_verdicts must be a list, got the plain text 'problem1'; give it as JSON or YAML text of a list"),
    (survey(assess_known_kernels='{"release": "5.4"}'), "assess_known_kernels must be a list, got the dict text"),
    (["-e", '{"assess_proxy_mode": 123}'],
     'assess_proxy_mode must be a string, got a number (123); quote it in the inventory, e.g. assess_proxy_mode: "ipvs"'),
    (["-e", '{"assess_proxy_mode": ["ipvs"]}'], "assess_proxy_mode must be a string, got a list (['ipvs'])"),
    (["-e", '{"assess_kube_proxy_version": 1.3}'], "assess_kube_proxy_version must be a string, got a number (1.3)"),
]


@pytest.mark.parametrize("extra,message", REFUSED, ids=["%s-%d" % (case[1].split(" ")[0], index)
                                                        for index, case in enumerate(REFUSED)])
def test_bad_input_is_refused_before_any_node_is_contacted(tmp_path, extra, message):
    result = run_playbook(tmp_path, *extra, check=False)
    assert result.returncode != 0
    assert "Nothing was assessed. " + message in result.stdout.replace("\\\"", '"'), result.stdout[-3000:]
    assert "p, r, o, b, l, e, m" not in result.stdout
    assert "Gather and classify the node" not in result.stdout  # the per-node task never started
    assert not (tmp_path / "report").exists()


def inventory_overlay(tmp_path, host, **hostvars):
    overlay = tmp_path / "overlay.yml"
    overlay.write_text(json.dumps({"all": {"hosts": {host: hostvars}}}))
    return ["-i", str(overlay)]


def test_a_wrong_type_on_one_node_stops_every_node(tmp_path):
    # Not the first node of the play: the check covers every node, not only the one that runs it.
    result = run_playbook(tmp_path, *inventory_overlay(tmp_path, "ubuntu2204-kp128", assess_proxy_mode=["ipvs"]),
                          check=False)
    assert result.returncode != 0
    assert "assess_proxy_mode must be a string, got a list (['ipvs'])" in result.stdout
    assert "(node: ubuntu2204-kp128)" in result.stdout
    assert not (tmp_path / "report").exists()


def test_mode_with_surrounding_space_is_trimmed(tmp_path):
    # The node's own configuration says iptables; the inventory's "ipvs " takes precedence once trimmed.
    run_playbook(tmp_path, *inventory_overlay(tmp_path, "debian12-iptables-leftovers", assess_proxy_mode="ipvs "))
    record = report(tmp_path)["debian12-iptables-leftovers"]
    assert record["facts"]["kube_proxy"]["mode"] == "ipvs"
    assert record["verdict"] != "not_applicable"
