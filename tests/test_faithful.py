"""Faithfulness: the engine's verdict on every node, and every condition an explanation shows,
agree with the independent oracle — for every bundled patient and every goal."""
import pytest

from oracle import Oracle, check_attempt, check_proof
from support import example_files, shipped_kb



def _patients():
    kb = shipped_kb()
    return [p for path in example_files() for p in kb.patients(path)]


@pytest.mark.parametrize("patient", _patients(), ids=lambda p: p.id)
def test_every_node_agrees_with_the_oracle(patient):
    kb = shipped_kb()
    ev = kb.run(patient)
    oracle = Oracle(kb.compiled, patient)
    wrong = []
    for node in kb.compiled.nodes:
        if node.kind == "field":
            continue
        if node.kind == "regimen" and ev.removed.get(node.id):
            assert oracle.node(node) is None
            continue
        if ev.value(node.id) != oracle.node(node):
            wrong.append((node.id, node.kind, node.rule or node.name, ev.value(node.id), oracle.node(node)))
    assert wrong == []


@pytest.mark.parametrize("patient", _patients(), ids=lambda p: p.id)
def test_every_explanation_rechecks_against_the_record(patient):
    kb = shipped_kb()
    ev = kb.run(patient)
    oracle = Oracle(kb.compiled, patient)
    from oncologic import explain as ex
    goals = list(kb.compiled.concept_node) + sorted({kb.compiled.nodes[k].name for k in kb.compiled.regimens})
    for goal in goals:
        explanation = ex.explain(ev, goal)
        if explanation.proof:
            check_proof(oracle, explanation.proof, kb.compiled)
            for alt in explanation.alternatives:
                check_proof(oracle, alt, kb.compiled)
        wn = ex.why_not(ev, goal)
        assert wn.holds == explanation.holds
        for attempt in wn.attempts:
            check_attempt(oracle, attempt, kb.compiled)
