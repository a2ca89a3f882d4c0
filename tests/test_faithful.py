"""Faithfulness: the engine's verdict on every node, and every condition an explanation shows,
agree with the independent oracle — for every bundled patient and every goal, and every change
a why-not proposes makes the goal what it says (oracle.check_suggestions); and the
focused queries `recommend`, `explain` and `why-not` make (oncologic.compile.plan) answer exactly what
a complete evaluation of the whole knowledge base answers. Every test runs on every
registered backend (the ``backend_kb`` fixture)."""
import pytest

from oncologic.reason.conclude import conclusions
from oncologic.report.words import fill_text
from oncologic.reason.evaluate import evaluate_goals, holds
from oracle import Oracle, check_attempt, check_proof, check_suggestions
from support import example_files, shipped_kb


def _patients():
    kb = shipped_kb()
    return [p for path in example_files() for p in kb.patients(path)]


@pytest.mark.parametrize("patient", _patients(), ids=lambda p: p.id)
def test_every_node_agrees_with_the_oracle(backend_kb, patient):
    kb = backend_kb
    ev = kb.run(patient)
    oracle = Oracle(kb.compiled, patient)
    wrong = []
    for node in kb.compiled.nodes:
        if node.kind == "field":
            continue
        if node.kind == "regimen" and ev.removed.get(node.id):
            assert oracle.node(node) is False  # removed: certainly not recommended
        if ev.value(node.id) != oracle.node(node):
            wrong.append((node.id, node.kind, node.rule or node.name, ev.value(node.id), oracle.node(node)))
    assert wrong == []


@pytest.mark.parametrize("patient", _patients(), ids=lambda p: p.id)
def test_every_explanation_rechecks_against_the_record(backend_kb, patient):
    kb = backend_kb
    ev = kb.run(patient)
    oracle = Oracle(kb.compiled, patient)
    from oncologic.reason import explain as ex
    goals = list(kb.compiled.concept_node) + sorted({kb.compiled.nodes[k].name for k in kb.compiled.regimens})
    for goal in goals:
        explanation = fill_text(ex.explain(ev, goal))  # with its sentences, which the checks print on a failure
        if explanation.proof:
            check_proof(oracle, explanation.proof, kb.compiled)
            for alt in explanation.alternatives:
                check_proof(oracle, alt, kb.compiled)
        wn = fill_text(ex.why_not(ev, goal))
        assert wn.holds == explanation.holds
        for attempt in wn.attempts:
            check_attempt(oracle, attempt, kb.compiled)
        check_suggestions(kb, dict(patient.given), goal, wn)  # each change keeps its promise for the GOAL
        # what the API answers from a query about this goal alone is the same
        assert kb.explain(patient, goal).to_dict() == explanation.to_dict(), goal
        assert kb.why_not(patient, goal).to_dict() == wn.to_dict(), goal


@pytest.mark.parametrize("patient", _patients(), ids=lambda p: p.id)
def test_recommend_through_the_plan_equals_the_complete_evaluation(backend_kb, patient):
    kb = backend_kb
    assert kb.evaluate(patient).to_dict() == conclusions(kb.run(patient)).to_dict()


@pytest.mark.parametrize("pid", ["pt-sclc-2l", "pt-hcc-iiia-pvtt", "pt-nsclc-t790m"])
def test_the_one_verdict_question_of_what_if_agrees_with_the_complete_evaluation(backend_kb, pid):
    kb = backend_kb
    patient = next(p for p in _patients() if p.id == pid)
    ev = kb.run(patient)
    nodes = [n.id for n in kb.compiled.nodes if n.kind in ("rule", "concept")]
    assert [holds(kb.compiled, kb.backend, patient, nid) for nid in nodes] == [ev.value(nid) is True for nid in nodes]
    assert any(ev.value(nid) is True for nid in nodes)


def test_a_focused_evaluation_refuses_nodes_it_was_not_asked_about(backend_kb):
    kb = backend_kb
    patient = _patients()[0]
    goal = kb.compiled.concept_node["refractory_sclc"]
    ev = evaluate_goals(kb.compiled, kb.backend, patient, [goal])
    assert ev.value(goal) is kb.run(patient).value(goal)
    outside = kb.compiled.concept_node["hcc"]
    with pytest.raises(LookupError, match="not evaluated"):
        ev.value(outside)
