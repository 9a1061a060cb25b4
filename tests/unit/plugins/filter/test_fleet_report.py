"""plugins/filter/fleet_report.py: the fleet_report, fleet_markdown, report_stats and merge_reports filters, and their
documentation in the .yml files of those names (each names a filter the plugin registers, with its options).

fleet_report reads hostvars as a play gives them: the demo fleet's facts, a host whose facts task failed (its
registered result says why), a host not in hostvars; the run, hosts and cluster are checked or normalised."""
import inspect
import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from support import demo
from ansible_collections.kubenode.ipvs_reuse.plugins.filter.fleet_report import FilterModule
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import report as R

FILTERS = FilterModule().filters()
FLEET_REPORT, MERGE_REPORTS = FILTERS["fleet_report"], FILTERS["merge_reports"]
FILTER_DIR = os.path.join(demo.REPO, "plugins", "filter")
NOW = "2026-12-01T10:00:00+00:00"


def hostvars():
    """hostvars of a play over the demo fleet, plus a host whose facts task failed and one that never ran."""
    found = dict((name, {"ansible_facts": {"ipvs_reuse": demo.node_facts(name)}, "facts_result": {"changed": False}})
                 for name in demo.NAMES)
    found["failed-node"] = {"ansible_facts": {}, "facts_result": {"failed": True, "msg": "root /x is not a directory"}}
    found["silent-node"] = {"facts_result": {"unreachable": True}}
    return found


def test_the_demo_fleet_report_has_a_record_per_host_with_its_verdict():
    hosts = list(reversed(demo.NAMES))  # the order of the play's hosts does not matter
    report = FLEET_REPORT(hostvars(), hosts, NOW, cluster="prod")
    assert report == R.fleet_report(dict((name, demo.node_facts(name)) for name in demo.NAMES), generated_at=NOW,
                                    cluster="prod")
    assert [record["node"] for record in report["nodes"]] == list(demo.NAMES)
    for record in report["nodes"]:
        assert dict((key, record[key]) for key in ("verdict", "mitigation")) == dict(
            (key, demo.expected(record["node"])[key]) for key in ("verdict", "mitigation")), record["node"]
    verdicts = [demo.expected(name)["verdict"] for name in demo.NAMES]
    assert report["summary"]["verdicts"] == dict((verdict, verdicts.count(verdict)) for verdict in R.knowledge.VERDICTS)
    assert report["summary"]["needing_action"] == len([v for v in verdicts if v in R.NEEDS_ACTION])
    assert (report["schema"], report["generated_at"], report["cluster"], report["run"]) == (1, NOW, "prod", None)


def test_hosts_without_facts_are_unknown_and_say_why():
    hosts = ["failed-node", "silent-node", "not-in-hostvars", "debian11-persisted0"]
    report = FLEET_REPORT(hostvars(), hosts, NOW, result_var="facts_result")
    reasons = dict((record["node"], record["reasons"]) for record in report["nodes"])
    assert reasons["failed-node"] == [{"rule": "no_facts", "source": "ansible run",
                                       "text": "the facts task failed: root /x is not a directory"}]
    no_facts = [{"rule": "no_facts", "source": "ansible run",
                 "text": "no facts were gathered (host unreachable or the task failed)"}]
    assert reasons["silent-node"] == reasons["not-in-hostvars"] == no_facts
    assert [record["verdict"] for record in report["nodes"]] == ["problem1", "unknown", "unknown", "unknown"]
    # without result_var the failed task's message is not looked for
    unnamed = FLEET_REPORT(hostvars(), ["failed-node"], NOW)
    assert unnamed["nodes"][0]["reasons"] == no_facts


def test_the_run_identity_and_cluster_are_normalised():
    report = FLEET_REPORT(hostvars(), ["elrepo-5.4"], NOW, cluster=7,
                          run={"id": "r1", "awx_job_id": 42, "awx_job_template_name": "", "awx_workflow_job_id": None})
    assert report["cluster"] == "7"
    assert report["run"] == {"id": "awx-job-42", "awx_job_id": 42}
    assert FLEET_REPORT(hostvars(), ["elrepo-5.4"], NOW, cluster="", run={})["cluster"] is None


@pytest.mark.parametrize("hosts, run, message", [
    ("elrepo-5.4", None, "kubenode.ipvs_reuse.fleet_report: hosts must be a list of inventory names"),
    (None, None, "kubenode.ipvs_reuse.fleet_report: hosts must be a list of inventory names"),
    (["elrepo-5.4"], "r1", "kubenode.ipvs_reuse.fleet_report: run must be a dict (id, awx_job_id, ...)"),
])
def test_wrong_hosts_or_run_are_filter_errors(hosts, run, message):
    with pytest.raises(AnsibleFilterError) as error:
        FLEET_REPORT(hostvars(), hosts, NOW, run=run)
    assert error.value.message == message


def test_merge_reports_gives_the_unsliced_report_and_wraps_its_refusals():
    whole = demo.report(cluster="prod")
    halves = [FLEET_REPORT(hostvars(), list(names), NOW, cluster="prod", run={"id": run})
              for names, run in ((demo.NAMES[::2], "slice-0"), (demo.NAMES[1::2], "slice-1"))]
    merged = MERGE_REPORTS(halves, {"id": "merge"})
    assert merged["nodes"] == whole["nodes"] and merged["summary"] == whole["summary"]
    assert merged["run"] == {"id": "merge", "partials": ["slice-0", "slice-1"]}
    with pytest.raises(AnsibleFilterError) as error:
        MERGE_REPORTS(halves, "merge")
    assert error.value.message == "kubenode.ipvs_reuse.merge_reports: run must be a dict (id, awx_job_id, ...)"
    with pytest.raises(AnsibleFilterError) as error:
        MERGE_REPORTS([])
    assert error.value.message == "kubenode.ipvs_reuse.merge_reports: merge needs a non-empty list of fleet reports"
    other = FLEET_REPORT(hostvars(), ["elrepo-5.4"], NOW, cluster="staging")
    with pytest.raises(AnsibleFilterError) as error:
        MERGE_REPORTS([halves[0], other])
    assert error.value.message == ("kubenode.ipvs_reuse.merge_reports: the partials are of different clusters (prod "
                                   "in partial 1 (run slice-0), staging in partial 2): merge the slices of one cluster")


def test_markdown_and_digest_filters_are_the_report_functions():
    report = demo.report()
    assert FILTERS["fleet_markdown"](report) == R.fleet_markdown(report)
    digest = FILTERS["report_stats"](report, 2)
    assert [entry["node"] for entry in digest["needing_action"]] == ["centos7-kp118", "debian11-persisted0"]
    assert digest["needing_action_cut"].startswith("2 of %d nodes needing action are listed"
                                                   % report["summary"]["needing_action"])


def yaml_docs():
    for entry in sorted(os.listdir(FILTER_DIR)):
        if entry.endswith(".yml"):
            with open(os.path.join(FILTER_DIR, entry)) as handle:
                yield entry, yaml.safe_load(handle)


def test_each_yaml_doc_documents_a_filter_of_this_plugin_with_its_parameters():
    documented = dict(yaml_docs())
    assert sorted(documented) == ["fleet_markdown.yml", "fleet_report.yml", "merge_reports.yml", "report_stats.yml"]
    assert sorted(name[:-4] for name in documented) == sorted(FILTERS)
    for entry, doc in documented.items():
        name = doc["DOCUMENTATION"]["name"]
        assert entry == name + ".yml"
        parameters = list(inspect.signature(FILTERS[name]).parameters)[1:]  # the first one is _input
        options = dict(doc["DOCUMENTATION"]["options"])
        assert options.pop("_input")["required"] is True, name
        assert sorted(options) == sorted(parameters), name
        positional = [word.strip() for word in doc["DOCUMENTATION"].get("positional", "").split(",") if word.strip()]
        assert positional == parameters[:len(positional)], name  # in the function's order
        assert "kubenode.ipvs_reuse.%s" % name in doc["EXAMPLES"], name
        assert doc["RETURN"]["_value"]["type"] in ("dict", "str"), name
