"""Prometheus metrics for node_exporter's textfile collector: parsed back with prometheus_client's own
parser, over every node of the demo fleet (gathered and classified as the module does)."""
import math
import os

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support import fleetgen
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge as K
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.classify import classify
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.gather import gather
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.metrics import (
    TIMESTAMP_METRIC, render_metrics, without_timestamp)


def demo_facts(tmp_path, name):
    spec = fleetgen.DEMO_FLEET[name]
    root = fleetgen.write_node(os.path.join(str(tmp_path), name), spec)
    options = spec.get("inventory", {})
    facts = gather(root=root, proxy_mode=options.get("assess_proxy_mode"),
                   kube_proxy_version=options.get("assess_kube_proxy_version"), metrics_url="",
                   http_get=lambda url: None)
    facts["classification"] = classify(facts)
    return facts


def parse(text):
    """{metric name: [(labels, value)]} as a Prometheus server would read it."""
    samples = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        assert family.documentation, family.name
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def one(samples, name, **labels):
    found = [value for sample_labels, value in samples.get(name, [])
             if all(sample_labels.get(key) == wanted for key, wanted in labels.items())]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


@pytest.mark.parametrize("name", sorted(fleetgen.DEMO_FLEET))
def test_demo_node_metrics_parse_and_match_the_facts(tmp_path, name):
    facts = demo_facts(tmp_path, name)
    expect = fleetgen.DEMO_FLEET[name]["expect"]
    samples = parse(render_metrics(facts, timestamp=1764151200.5))

    verdicts = dict((labels["verdict"], value) for labels, value in samples["ipvs_reuse_verdict"])
    assert sorted(verdicts) == sorted(K.VERDICTS)
    assert [verdict for verdict, value in verdicts.items() if value == 1.0] == [expect["verdict"]]
    assert sum(verdicts.values()) == 1.0
    mitigations = dict((labels["mitigation"], value) for labels, value in samples["ipvs_reuse_mitigation"])
    assert [mitigation for mitigation, value in mitigations.items() if value == 1.0] == [expect["mitigation"]]

    if expect["verdict"] == "not_applicable":
        assert "ipvs_reuse_kernel_fix" not in samples
    else:
        fix = one(samples, "ipvs_reuse_kernel_fix", fix="syn_drop_fix", commit="f0a5e4d7a594")
        if "syn_drop_fix" in expect and expect["syn_drop_fix"] is None:
            assert math.isnan(fix)
        elif "syn_drop_fix" in expect:
            assert fix == (1.0 if expect["syn_drop_fix"] else 0.0)

    live = facts["sysctl"].get("conn_reuse_mode")
    if isinstance(live, int):
        assert one(samples, "ipvs_reuse_conn_reuse_mode") == float(live)
    else:  # not loaded, or garbled: the sample is absent rather than a made-up number
        assert "ipvs_reuse_conn_reuse_mode" not in samples
    persisted = ((facts.get("persisted") or {}).get("conn_reuse_mode") or {}).get("value")
    if persisted is None:
        assert "ipvs_reuse_persisted_conn_reuse_mode" not in samples
    else:
        assert one(samples, "ipvs_reuse_persisted_conn_reuse_mode") == float(persisted)
    if expect.get("pin_value") is not None:
        assert one(samples, "ipvs_reuse_recommended_conn_reuse_mode") == float(expect["pin_value"])
    else:
        assert "ipvs_reuse_recommended_conn_reuse_mode" not in samples
    spec = fleetgen.DEMO_FLEET[name]
    info = one(samples, "ipvs_reuse_node_info", kernel=spec.get("kernel") or spec["boots"])  # an image: what it boots
    assert info == 1.0
    assert one(samples, TIMESTAMP_METRIC) == 1764151200.5


def test_persisted_value_is_exported(tmp_path):
    facts = demo_facts(tmp_path, "debian11-persisted0")
    samples = parse(render_metrics(facts))
    assert one(samples, "ipvs_reuse_persisted_conn_reuse_mode") == 0.0
    assert one(samples, "ipvs_reuse_conn_reuse_mode") == 0.0
    assert one(samples, "ipvs_reuse_recommended_conn_reuse_mode") == 1.0
    assert TIMESTAMP_METRIC not in samples


def test_label_values_are_escaped():
    facts = {"kernel": {"release": 'odd"kernel\\build\nline'}, "os": {"id": "x"},
             "kube_proxy": {"mode": "ipvs", "version": "v1.28.4"},
             "classification": {"verdict": "safe", "mitigation": "none", "syn_drop_fix": True}}
    samples = parse(render_metrics(facts, labels={"cluster": 'pr"od'}))
    labels = samples["ipvs_reuse_node_info"][0][0]
    assert labels["kernel"] == 'odd"kernel\\build\nline'
    assert labels["cluster"] == 'pr"od'
    assert all(sample_labels["cluster"] == 'pr"od' for sample_labels, _value in samples["ipvs_reuse_verdict"])


@pytest.mark.parametrize("labels", [{"0bad": "x"}, {"__name__": "x"}, {"verdict": "x"}, {"a-b": "x"}, ["x"]])
def test_bad_labels_are_refused(labels):
    with pytest.raises(ValueError):
        render_metrics({}, labels=labels)


def test_missing_or_malformed_facts_give_unknown():
    for facts in (None, {}, {"classification": {"verdict": "bogus"}}, "text"):
        samples = parse(render_metrics(facts))
        assert one(samples, "ipvs_reuse_verdict", verdict="unknown") == 1.0
        assert one(samples, "ipvs_reuse_mitigation", mitigation="none") == 1.0


def test_output_is_deterministic_and_only_the_timestamp_differs(tmp_path):
    facts = demo_facts(tmp_path, "euleros-h686")
    first, second = render_metrics(facts, 1.0), render_metrics(facts, 2.0)
    assert first != second
    assert without_timestamp(first) == without_timestamp(second) == render_metrics(facts)
    changed = dict(facts, sysctl=dict(facts["sysctl"], conn_reuse_mode=1))
    assert without_timestamp(render_metrics(changed, 1.0)) != without_timestamp(first)
