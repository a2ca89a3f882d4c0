"""The backend registry and protocol: names, errors, and a second backend plugged in from
outside the package, through which every command works without a change in reason/."""
import pytest

import oncologic
from oncologic import backends
from oncologic.backends.base import Backend
from oncologic.compile.facts import EDB, patient_facts
from support import EXAMPLES, lung, shipped_kb


class Recording:
    """A backend defined outside the package: it answers through the pyDatalog backend and
    records each protocol call, and has nothing else (any other attribute a caller reached
    for would raise AttributeError)."""

    name = "recording"

    def __init__(self, program):
        self.program = program
        self._inner = backends.create("pydatalog", program)
        self.calls: list[str] = []

    def ask(self, facts, view, then=None):
        self.calls.append("ask")
        return self._inner.ask(facts, view, then)

    def answer(self, batch):
        self.calls.append("answer")
        return self._inner.answer(batch)

    def holds(self, facts, node):
        self.calls.append("holds")
        return self._inner.holds(facts, node)


@pytest.fixture
def recording():
    backends.register("recording", Recording)
    try:
        yield
    finally:
        del backends._FACTORIES["recording"]


def test_the_registry_lists_the_backends_and_defaults_to_pydatalog():
    assert "pydatalog" in backends.available()
    assert backends.DEFAULT == "pydatalog"
    kb = oncologic.load()
    assert kb.backend.name == "pydatalog" and isinstance(kb.backend, Backend)


def test_an_unknown_backend_is_a_clean_error_naming_the_available_ones():
    with pytest.raises(oncologic.OncologicError, match=r"unknown backend 'souffle'; available: .*pydatalog"):
        oncologic.load(backend="souffle")
    with pytest.raises(oncologic.OncologicError, match="unknown backend"):
        oncologic.KnowledgeBase(shipped_kb().compiled, backend="")


def test_a_backend_registered_from_outside_serves_every_command(recording):
    assert "recording" in backends.available()
    kb = oncologic.load(backend="recording")
    reference = shipped_kb()
    record = EXAMPLES / "sclc_second_line.json"
    assert kb.evaluate(record).to_dict() == reference.evaluate(record).to_dict()
    assert kb.backend.calls == ["ask"]
    assert kb.explain(record, "anlotinib+irinotecan").to_dict() == reference.explain(record, "anlotinib+irinotecan").to_dict()
    why = kb.why_not(lung(id="w", histology="sclc", tfi="120d", line=2), "topotecan")
    assert why.to_dict() == reference.why_not(lung(id="w", histology="sclc", tfi="120d", line=2), "topotecan").to_dict()
    cohort = [lung(id=f"c{i}", histology="sclc", tfi=f"{40 + 20 * i}d", line=2) for i in range(5)]
    assert [r.to_dict() for r in kb.evaluate_many(cohort)] == [r.to_dict() for r in reference.evaluate_many(cohort)]
    assert set(kb.backend.calls) == {"ask", "answer", "holds"}  # what-if asked its one verdict too


def test_the_facts_of_a_record_have_no_patient_column():
    kb = shipped_kb()
    patient = kb.patient(lung(id="f", histology="sclc", tfi="45d", line=2, mutations=["egfr_19del"]))
    facts = patient_facts(patient.values, kb.compiled.checked)
    assert ("patient",) in facts and ("val", "tfi", 45) in facts and ("member", "mutations", "egfr_19del") in facts
    assert all(len(fact) == EDB[fact[0]] for fact in facts)  # a relation of arity k: name + k - 1 values
    assert kb.backend.holds(facts, kb.compiled.nodes[kb.compiled.concept_node["lung_cancer"]].canonical) is True
    assert kb.backend.holds(facts, kb.compiled.nodes[kb.compiled.concept_node["hcc"]].canonical) is False


def test_the_rows_of_one_patient_are_the_rows_of_a_batch():
    kb = shipped_kb()
    patients = [kb.patient(lung(id=f"b{i}", histology=h, tfi="45d", line=2)) for i, h in enumerate(["sclc", "squamous", "sclc"])]
    facts = [patient_facts(p.values, kb.compiled.checked) for p in patients]
    batch = kb.backend.answer(facts)
    assert [sorted(rows, key=repr) for rows in batch] == [sorted(kb.backend.answer([f])[0], key=repr) for f in facts]
    assert batch[0] != batch[1] and sorted(batch[0], key=repr) == sorted(batch[2], key=repr)
    view = ("answer", kb.compiled.program.views["answer"])
    rows, more = kb.backend.ask(facts[1], view, then=lambda first: None)
    assert more == [] and sorted(rows, key=repr) == sorted(batch[1], key=repr)
