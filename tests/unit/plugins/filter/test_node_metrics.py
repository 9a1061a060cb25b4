"""kubenode.ipvs_reuse.node_metrics: a node's facts as Prometheus text, with the assessment time when given and the
caller's labels on every sample; wrong input or labels are filter errors, not tracebacks."""
import pytest

from ansible.errors import AnsibleFilterError

from support import demo
from ansible_collections.kubenode.ipvs_reuse.plugins.filter.node_metrics import FilterModule

NODE_METRICS = FilterModule().filters()["node_metrics"]
TIMESTAMP = "ipvs_reuse_last_assessment_timestamp_seconds"


def samples(text):
    """{metric name with labels: value} of the text's samples."""
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))


@pytest.mark.parametrize("name", demo.NAMES)
def test_each_demo_node_exports_its_verdict_and_mitigation(name):
    expect = demo.expected(name)
    found = samples(NODE_METRICS(demo.node_facts(name)))
    verdicts = dict((key, value) for key, value in found.items() if key.startswith("ipvs_reuse_verdict{"))
    chosen = 'ipvs_reuse_verdict{verdict="%s"}' % expect["verdict"]
    assert [key for key, value in verdicts.items() if value == "1"] == [chosen]
    assert found['ipvs_reuse_mitigation{mitigation="%s"}' % expect["mitigation"]] == "1"
    assert sorted(verdicts.values()) == ["0", "0", "0", "0", "1"]
    assert not any(key.startswith(TIMESTAMP) for key in found)  # no time given, no time exported
    if expect["mitigation"] == "pin_sysctl":
        assert found["ipvs_reuse_recommended_conn_reuse_mode"] == str(expect["pin_value"])
    else:
        assert "ipvs_reuse_recommended_conn_reuse_mode" not in found


@pytest.mark.parametrize("timestamp", [1700000000, 1700000000.0, "1700000000"])
def test_the_timestamp_and_labels_reach_every_sample(timestamp):
    text = NODE_METRICS(demo.node_facts("debian11-persisted0"), timestamp, {"cluster": "prod"})
    found = samples(text)
    assert found['%s{cluster="prod"}' % TIMESTAMP] == "1700000000.0"
    assert all(key.startswith("ipvs_reuse_") and '{cluster="prod"' in key for key in found), found
    assert found['ipvs_reuse_verdict{cluster="prod",verdict="problem1"}'] == "1"
    assert found['ipvs_reuse_conn_reuse_mode{cluster="prod"}'] == "0"
    assert text.endswith("\n")


@pytest.mark.parametrize("facts, timestamp, labels, message", [
    ("not facts", None, None, "the input must be a node's ipvs_reuse facts (a dict)"),
    (None, None, None, "the input must be a node's ipvs_reuse facts (a dict)"),
    ({}, "soon", None, "could not convert string to float: 'soon'"),
    ({}, None, "cluster=prod", "labels must be a dict of label name to value"),
    ({}, None, {"__name__": "x"}, "invalid or reserved Prometheus label name '__name__': use [a-zA-Z_][a-zA-Z0-9_]*, "
                                  "not starting with __, and none of the labels this collection sets"),
    ({}, None, {"verdict": "x"}, "invalid or reserved Prometheus label name 'verdict': use [a-zA-Z_][a-zA-Z0-9_]*, "
                                 "not starting with __, and none of the labels this collection sets"),
])
def test_wrong_input_is_a_filter_error(facts, timestamp, labels, message):
    with pytest.raises(AnsibleFilterError) as error:
        NODE_METRICS(facts, timestamp, labels)
    assert error.value.message == "kubenode.ipvs_reuse.node_metrics: " + message
