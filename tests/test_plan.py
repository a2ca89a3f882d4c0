"""The query plan of `recommend` (oncologic.compile.plan): a false gate settles its whole group, so the
engine is not asked about conclusions that cannot apply. That the answers are right is tested
against the complete evaluation in test_faithful.py; here, that the plan saves the work."""
from oncologic.compile.facts import patient_facts
from oncologic.reason.evaluate import evaluate
from support import example_files, hcc, lung, shipped_kb


def _top_rows(kb, record):
    """The engine's answer to the plan's first query (a record or a validated patient)."""
    patient = kb.patient(record)
    rows, _ = kb.backend.ask(patient_facts(patient.values, kb.compiled.checked), ("top", kb.compiled.program.views["top"]))
    return rows


def _group(kb, concept):
    gate = kb.compiled.nodes[kb.compiled.concept_node[concept]].canonical
    return next(g for g in kb.compiled.plan.groups.values() if g.gate == gate and g.parent is None)


def test_an_hcc_patient_is_not_asked_about_lung_conclusions():
    kb = shipped_kb()
    lung_group = _group(kb, "lung_cancer")
    rows = _top_rows(kb, hcc(id="h"))
    assert ("closed", lung_group.id, lung_group.gate) in rows
    asked = {a for kind, a, _ in rows if kind == "truth"}
    assert not asked & lung_group.members
    assert len(lung_group.members) > 40


def test_a_lung_patient_is_not_asked_about_hcc_conclusions():
    kb = shipped_kb()
    hcc_group = _group(kb, "hcc")
    rows = _top_rows(kb, lung(id="l", histology="sclc", tfi="45d", line=2))
    assert ("closed", hcc_group.id, hcc_group.gate) in rows
    assert not {a for kind, a, _ in rows if kind == "truth"} & hcc_group.members
    ev = evaluate(kb.compiled, kb.backend, kb.patient(lung(id="l", histology="sclc", tfi="45d", line=2)))
    assert all(ev.value(m) is False for m in hcc_group.members)


def test_every_gate_can_close_its_group():
    """No gate is an `and` of gates already checked above it: it could never be false there."""
    kb = shipped_kb()
    nodes, groups = kb.compiled.nodes, kb.compiled.plan.groups

    def above(group):
        while group.parent is not None:
            group = groups[group.parent]
            yield group.gate

    for group in groups.values():
        gate = nodes[group.gate]
        if gate.kind == "and":
            assert not {nodes[c].canonical for c in gate.children} <= set(above(group)), group


def test_every_bundled_patient_has_some_group_closed():
    kb = shipped_kb()
    for path in example_files():
        for patient in kb.patients(path):
            assert any(kind == "closed" for kind, _, _ in _top_rows(kb, patient)), patient.id
