"""docs/classification.md carries decision tables generated from the engine: they must match the code."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import gen_decision_doc as gen  # noqa: E402
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import classify as C  # noqa: E402
from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils import knowledge as K  # noqa: E402


def test_committed_document_matches_the_code():
    with open(gen.DOC) as handle:
        committed = handle.read()
    assert gen.merge(committed, gen.render()) == committed, \
        "docs/classification.md is out of date: run python3 tests/tools/gen_decision_doc.py and commit it"


def test_a_change_in_the_knowledge_changes_the_document(monkeypatch):
    before = gen.render()
    lines = [dict(line) for line in K.KUBE_PROXY_LINES]
    lines[-1]["conn_reuse_mode"] = "zero"
    monkeypatch.setattr(K, "KUBE_PROXY_LINES", lines)
    assert gen.render() != before


def test_a_change_in_the_engine_changes_the_document(monkeypatch):
    before = gen.render()
    original = C.classify_state

    def lenient(crm, conntrack, expire_nodest, fixes):
        if crm == 0 and expire_nodest == 1:
            return "safe", "pretend (row 6)"
        return original(crm, conntrack, expire_nodest, fixes)
    monkeypatch.setattr(C, "classify_state", lenient)
    assert gen.render() != before


def test_state_table_agrees_with_the_engine_row_by_row():
    """Every generated state row, expanded back to its combinations, is what classify_state answers."""
    header, _rule, *rows = gen.state_table()
    words = {"yes": True, "no": False, "unknown": None}
    values = {"conn_reuse_mode": (0, 1), "conntrack": (0, 1), "expire_nodest_conn": (0, 1)}
    seen = set()
    for line in rows:
        cells = [cell.strip() for cell in line.strip("|").split("|")]

        def expand(cell, column=None):
            if cell == gen.ANY:
                return values[column] if column else (True, False, None)
            return tuple(int(part) if column else words[part] for part in cell.split(" or "))
        for crm in expand(cells[0], "conn_reuse_mode"):
            for ct in expand(cells[1], "conntrack"):
                for end in expand(cells[2], "expire_nodest_conn"):
                    for syn_drop_fix in expand(cells[3]):
                        for drained_backend_fix in expand(cells[4]):
                            fixes = {"syn_drop_fix": syn_drop_fix, "drained_backend_fix": drained_backend_fix}
                            verdict, _text = C.classify_state(crm, ct, end, fixes)
                            assert "**%s**" % verdict == cells[5], (line, crm, ct, end, syn_drop_fix, drained_backend_fix)
                            assert (crm, ct, end, syn_drop_fix, drained_backend_fix) not in seen
                            seen.add((crm, ct, end, syn_drop_fix, drained_backend_fix))
    assert len(seen) == 2 * 2 * 2 * 3 * 3, "the table covers every combination exactly once"


def test_check_mode_reports_a_stale_document(tmp_path, monkeypatch):
    stale = tmp_path / "classification.md"
    with open(gen.DOC) as handle:
        stale.write_text(handle.read().replace("| **safe** | row 5 |", "| **problem2** | row 5 |"))
    monkeypatch.setattr(gen, "DOC", str(stale))
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0


@pytest.mark.parametrize("verdict", K.VERDICTS)
def test_every_verdict_is_explained(verdict):
    with open(gen.DOC) as handle:
        assert "`%s`" % verdict in handle.read()
