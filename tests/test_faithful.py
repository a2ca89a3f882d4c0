"""Faithfulness: the engine's verdict on every node, and every condition an explanation shows,
agree with the independent oracle — for every bundled patient and every goal, and every change
a why-not proposes makes the goal what it says (oracle.check_suggestions); and the
focused queries `recommend`, `explain` and `why-not` make (oncologic.compile.plan) answer exactly what
a complete evaluation of the whole knowledge base answers. Every test runs on every
registered backend (the ``backend_kb`` fixture): each patient's complete evaluation from one
batch of all bundled patients (``batch_runs``) and, on an interactive backend (pyDatalog), from
the patient alone too; a backend that is not interactive (DuckDB: a fixed cost per call) is
asked per patient — ``run``, ``recommend``'s plan, explanations, what-if — for a few patients
(support.FEW), and its batch verdicts are compared with pyDatalog's for every patient."""
import pytest

from oncologic.reason.conclude import conclusions
from oncologic.report.words import fill_text
from oncologic.reason.evaluate import evaluate_goals, holds
from oracle import Oracle, check_attempt, check_proof, check_suggestions
from support import FEW, example_files, interactive, shipped_kb


def _patients():
    kb = shipped_kb()
    return [p for path in example_files() for p in kb.patients(path)]


@pytest.mark.parametrize("patient", _patients(), ids=lambda p: p.id)
def test_every_node_agrees_with_the_oracle(backend_kb, batch_runs, patient):
    kb = backend_kb
    oracle = Oracle(kb.compiled, patient)
    runs = {"batch": batch_runs[patient.id]}
    if interactive(kb) or patient.id in FEW:
        runs["alone"] = kb.run(patient)
    for how, ev in runs.items():
        wrong = []
        for node in kb.compiled.nodes:
            if node.kind == "field":
                continue
            if node.kind == "regimen" and ev.removed.get(node.id):
                assert oracle.node(node) is False  # removed: certainly not recommended
            if ev.value(node.id) != oracle.node(node):
                wrong.append((node.id, node.kind, node.rule or node.name, ev.value(node.id), oracle.node(node)))
        assert wrong == [], how


@pytest.mark.parametrize("patient", _patients(), ids=lambda p: p.id)
def test_every_verdict_removal_and_match_equals_the_reference_engine(backend_kb, batch_runs, patient):
    """pyDatalog (the reference) and this backend: the same rows for the patient, and the
    same conclusions, strengths and missing data drawn from them."""
    ev, ref = batch_runs[patient.id], shipped_kb("pydatalog").run(patient)
    assert (ev.truth, ev.removed, ev.matches) == (ref.truth, ref.removed, ref.matches)
    assert {type(v) for v in ev.truth.values()} <= {bool}
    assert conclusions(ev).to_dict() == conclusions(ref).to_dict()


@pytest.mark.parametrize("patient", _patients(), ids=lambda p: p.id)
def test_every_explanation_rechecks_against_the_record(backend_kb, batch_runs, patient):
    kb = backend_kb
    ev = kb.run(patient) if interactive(kb) else batch_runs[patient.id]
    oracle = Oracle(kb.compiled, patient)
    from oncologic.reason import explain as ex
    goals = list(kb.compiled.concept_node) + sorted({kb.compiled.nodes[k].name for k in kb.compiled.regimens})
    # why-not, its suggestions and the API's focused queries ask the engine per goal: on a
    # backend that is not interactive, for FEW patients and two goals each (one that holds)
    alone = goals if interactive(kb) else [] if patient.id not in FEW else [
        next(g for g in goals if ex.explain(ev, g).holds), next(g for g in goals if not ex.explain(ev, g).holds)]
    for goal in goals:
        explanation = fill_text(ex.explain(ev, goal))  # with its sentences, which the checks print on a failure
        if explanation.proof:
            check_proof(oracle, explanation.proof, kb.compiled)
            for alt in explanation.alternatives:
                check_proof(oracle, alt, kb.compiled)
        if goal not in alone:
            continue
        wn = fill_text(ex.why_not(ev, goal))
        assert wn.holds == explanation.holds
        for attempt in wn.attempts:
            check_attempt(oracle, attempt, kb.compiled)
        check_suggestions(kb, dict(patient.given), goal, wn)  # each change keeps its promise for the GOAL
        # what the API answers from a query about this goal alone is the same
        assert kb.explain(patient, goal).to_dict() == explanation.to_dict(), goal
        assert kb.why_not(patient, goal).to_dict() == wn.to_dict(), goal


@pytest.mark.parametrize("patient", _patients(), ids=lambda p: p.id)
def test_recommend_through_the_plan_equals_the_complete_evaluation(backend_kb, batch_runs, patient):
    kb = backend_kb
    if not interactive(kb) and patient.id not in FEW:
        pytest.skip("recommend's plan asks per patient: on this backend for support.FEW only")
    assert kb.evaluate(patient).to_dict() == conclusions(kb.run(patient)).to_dict()
    assert kb.evaluate(patient).to_dict() == conclusions(batch_runs[patient.id]).to_dict()


@pytest.mark.parametrize("pid", ["pt-sclc-2l", "pt-hcc-iiia-pvtt", "pt-nsclc-t790m"])
def test_the_one_verdict_question_of_what_if_agrees_with_the_complete_evaluation(backend_kb, pid):
    kb = backend_kb
    patient = next(p for p in _patients() if p.id == pid)
    ev = kb.run(patient)
    nodes = [n.id for n in kb.compiled.nodes if n.kind in ("rule", "concept")]
    if not interactive(kb):  # one question per node: a sample, the true ones among them
        nodes = [nid for nid in nodes if ev.value(nid) is True][:4] + nodes[::max(1, len(nodes) // 6)]
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
