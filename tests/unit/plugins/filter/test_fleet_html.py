"""kubenode.ipvs_reuse.fleet_html: the demo fleet's report as one HTML page, titled as asked (with the cluster's
name), the same page for the same report; what is not a report is a filter error."""
import re

import pytest

from ansible.errors import AnsibleFilterError

from support import demo
from ansible_collections.kubenode.ipvs_reuse.plugins.filter.fleet_html import FilterModule

FLEET_HTML = FilterModule().filters()["fleet_html"]


def headings(page):
    return re.search(r"<title>(.*?)</title>", page).group(1), re.search(r"<h1>(.*?)</h1>", page).group(1)


def test_the_demo_fleet_page_has_every_node_and_the_default_title():
    report = demo.report()
    page = FLEET_HTML(report)
    assert page.startswith("<!DOCTYPE html>")
    assert headings(page) == ("IPVS connection-reuse assessment", "IPVS connection-reuse assessment")
    for name in demo.NAMES:
        assert ">%s<" % name in page, name
    assert FLEET_HTML(demo.report()) == page  # the output depends only on the report


def test_the_title_is_the_callers_with_the_cluster_and_escaped():
    page = FLEET_HTML(demo.report(cluster="prod-eu"), "Fleet <b>check</b> & more")
    assert headings(page) == ("Fleet &lt;b&gt;check&lt;/b&gt; &amp; more: prod-eu",) * 2


@pytest.mark.parametrize("report", [None, "fleet.json", {}, {"summary": {}}, {"summary": {}, "nodes": "n1"}])
def test_what_is_not_a_report_is_a_filter_error(report):
    with pytest.raises(AnsibleFilterError) as error:
        FLEET_HTML(report)
    assert error.value.message == ("kubenode.ipvs_reuse.fleet_html: the input must be a fleet report (a dict with "
                                   "'summary' and 'nodes')")
