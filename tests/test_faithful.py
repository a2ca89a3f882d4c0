"""Faithfulness: the engine's verdict on every node, and every condition an explanation shows,
agree with the independent oracle — for every bundled patient and every goal."""
import pytest

from oracle import Oracle
from support import example_files, shipped_kb

import oncologic.results as r


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


def _check_condition(oracle, cond: r.Condition, negated_ok=True):
    """A shown condition re-checked on the record: its attribute's actual value is the record's."""
    if cond.attribute is not None and cond.op in ("is known", "is unknown"):
        assert cond.holds == ((cond.attribute in oracle.values) == (cond.op == "is known")), cond.text
    elif cond.attribute is not None:
        values = oracle.values
        if cond.holds is None:
            assert cond.attribute not in values, cond.text
            assert cond.actual is None
        else:
            assert cond.attribute in values, cond.text
    if cond.concept is not None and cond.holds is not None:
        value = oracle.concept(cond.concept)
        assert value == (not cond.holds if cond.op == "not" else cond.holds), cond.text


def _check_proof(oracle, node: r.ProofNode, compiled):
    rule = compiled.rule(node.rule.id)
    assert oracle.rule(rule.id) is True, f"proof uses rule {rule.id}, which does not hold"
    for cond in node.conditions:
        assert cond.holds is True, cond.text
        _check_condition(oracle, cond)
    for child in node.children:
        assert oracle.concept(child.conclusion) is True
        _check_proof(oracle, child, compiled)


def _check_attempt(oracle, attempt: r.Attempt, compiled):
    value = oracle.rule(attempt.rule.id)
    if attempt.removed_by:
        assert value is True
    else:
        assert value is not True, f"why-not lists rule {attempt.rule.id} as failing, but it holds"
    for cond in attempt.failed:
        assert cond.holds is not True, cond.text
        _check_condition(oracle, cond)
    for attr in attempt.missing:
        assert attr not in oracle.values, f"{attr} reported missing but present"
    for child in attempt.children:
        if isinstance(child, r.Attempt):
            _check_attempt(oracle, child, compiled)
        else:
            _check_proof(oracle, child, compiled)


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
            _check_proof(oracle, explanation.proof, kb.compiled)
            for alt in explanation.alternatives:
                _check_proof(oracle, alt, kb.compiled)
        wn = ex.why_not(ev, goal)
        assert wn.holds == explanation.holds
        for attempt in wn.attempts:
            _check_attempt(oracle, attempt, kb.compiled)
