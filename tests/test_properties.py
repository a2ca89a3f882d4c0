"""Property-based tests over the whole shipped knowledge base: patients are generated from the
declared vocabulary (any subset of attributes, any valid values), and for each one

- every node's verdict agrees with the independent oracle (three-valued logic),
- every proof node and every why-not condition re-checks against the record,
- every missing attribute is really absent,
- applying the suggested changes of a why-not attempt makes that rule hold, and the goal what the
  attempt says it would be (holds; or still removed by the contraindications it names).

Each test runs on every registered backend (the ``backend_kb`` fixture); the generators read
the vocabulary, which does not depend on the backend. A backend that is not interactive
(DuckDB: a fixed cost per call) is tested in batches: ``test_a_batch_agrees_with_the_oracle_and_
the_reference`` draws lists of patients and evaluates each list in one call, comparing every
node's verdict with the oracle and every row with pyDatalog; the tests that ask per patient
skip it.
"""
import os

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncologic.reason import explain as ex
from oncologic.lang import units
from oncologic.reason.conclude import conclusions
from oncologic.reason.evaluate import evaluate_all
from oncologic.report.words import fill_text
from oracle import Oracle, check_attempt, check_proof, check_suggestions
from oracle import apply_changes as _apply_changes
from support import interactive, shipped_kb

KB = shipped_kb()  # the vocabulary only; the tests evaluate on backend_kb
ATTRS = KB.compiled.checked.attributes
ITEMS = sorted(KB.compiled.checked.items)
GOALS = sorted(set(KB.compiled.concept_node) | {KB.compiled.nodes[k].name for k in KB.compiled.regimens})


def _bounds(spec, default_low, default_high):
    low = spec.low.value if spec.low is not None else default_low
    high = spec.high.value if spec.high is not None else default_high
    return int(low), int(high)


def value_strategy(spec):
    kind = spec.kind
    if kind == "enum":
        return st.sampled_from(spec.values)
    if kind == "bool":
        return st.booleans()
    if kind == "int":
        return st.integers(*_bounds(spec, 0, 12))
    if kind == "number":
        return st.integers(*_bounds(spec, 0, 100))
    if kind in units.UNITS:
        low, high = _bounds(spec, 0, {"duration": 400, "percent": 100, "length": 120}[kind])
        unit = units.canonical_unit(kind)
        return st.integers(low, high).map(lambda v: f"{v}{unit}")
    if kind == "date":
        return st.dates(dt.date(2025, 1, 1), dt.date(2026, 12, 31)).map(dt.date.isoformat)
    if kind == "string":
        return st.text(min_size=1, max_size=8)
    if kind == "set":
        return st.lists(st.sampled_from(spec.values), max_size=3, unique=True)
    if kind == "item_set":
        return st.lists(st.sampled_from(ITEMS), max_size=4, unique=True)
    if kind == "record_list":
        record = st.fixed_dictionaries({f.name: value_strategy(f.type) for f in spec.fields})
        return st.lists(record, max_size=2)
    raise AssertionError(kind)


@st.composite
def patients(draw):
    record = {"id": "gen", "cancer": draw(st.sampled_from(["lung", "hcc"]))}
    for name, attr in ATTRS.items():
        if name in record or attr.required:
            continue
        if draw(st.integers(0, 9)) < 6:
            record[name] = draw(value_strategy(attr.type))
    for later, earlier in [a.derive for a in ATTRS.values() if a.derive]:
        if later in record and earlier in record and record[later] < record[earlier]:
            record[later], record[earlier] = record[earlier], record[later]
    for attr in ATTRS.values():  # a duration given beside its two dates must agree with them (issue 12)
        if attr.derive and attr.name in record and all(d in record for d in attr.derive):
            later, earlier = attr.derive
            record[attr.name] = f"{(dt.date.fromisoformat(record[later]) - dt.date.fromisoformat(record[earlier])).days}d"
    return record


EXAMPLES = int(os.environ.get("ONCOLOGIC_PROPERTY_EXAMPLES", "60"))
COMMON = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# lists of up to 30 patients, one call each: about as many patients as COMMON's examples, twice
BATCHES = settings(max_examples=max(2, EXAMPLES // 6), deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def per_patient(kb) -> None:
    if not interactive(kb):
        import pytest
        pytest.skip(f"{kb.backend.name} is tested in batches (test_a_batch_agrees_with_the_oracle_and_the_reference)")


@BATCHES
@given(st.lists(patients(), min_size=1, max_size=30))
def test_a_batch_agrees_with_the_oracle_and_the_reference(backend_kb, records):
    """One evaluation of a whole batch: every node's verdict as the oracle's, and the rows
    (verdicts, removals, matches) and conclusions as pyDatalog's for the patient alone."""
    kb, reference = backend_kb, shipped_kb("pydatalog")
    batch = [kb.patient(dict(record, id=f"gen-{i}")) for i, record in enumerate(records)]
    for patient, ev in zip(batch, evaluate_all(kb.compiled, kb.backend, batch)):
        oracle = Oracle(kb.compiled, patient)
        for node in kb.compiled.nodes:
            if node.kind != "field":
                assert ev.value(node.id) == oracle.node(node), (node.kind, node.rule or node.name, patient.values)
        ref = reference.run(patient)
        assert (ev.truth, ev.removed, ev.matches) == (ref.truth, ref.removed, ref.matches), patient.values
        assert conclusions(ev).to_dict() == conclusions(ref).to_dict()


@COMMON
@given(patients())
def test_every_node_agrees_with_the_oracle(backend_kb, record):
    kb = backend_kb
    per_patient(kb)
    patient = kb.patient(record)
    ev = kb.run(patient)
    oracle = Oracle(kb.compiled, patient)
    for node in kb.compiled.nodes:
        if node.kind == "field":
            continue
        assert ev.value(node.id) == oracle.node(node), (node.kind, node.rule or node.name, record)


@COMMON
@given(patients(), st.lists(st.sampled_from(GOALS), min_size=1, max_size=4, unique=True))
def test_explanations_recheck_and_missing_is_absent(backend_kb, record, goals):
    kb = backend_kb
    per_patient(kb)
    patient = kb.patient(record)
    ev = kb.run(patient)
    oracle = Oracle(kb.compiled, patient)
    result = kb.evaluate(patient)
    assert result.to_dict() == conclusions(ev).to_dict()  # the plan's focused queries lose nothing
    for m in result.missing:
        assert m.attribute not in patient.values or names_a_class(kb, patient, m.attribute)
    for p in result.possible:
        assert all(a not in patient.values or names_a_class(kb, patient, a) for a in p.missing)
    for goal in goals:
        explanation = fill_text(ex.explain(ev, goal))  # the API writes the sentences too
        if explanation.proof:
            check_proof(oracle, explanation.proof, kb.compiled)
        wn = fill_text(ex.why_not(ev, goal))
        for attempt in wn.attempts:
            check_attempt(oracle, attempt, kb.compiled)
        assert kb.explain(patient, goal).to_dict() == explanation.to_dict()
        assert kb.why_not(patient, goal).to_dict() == wn.to_dict()


def names_a_class(kb, patient, attribute) -> bool:
    """A set of items that names a class in place of its members is as good as missing for a
    test of a member: it may be reported as missing data."""
    checked = kb.compiled.checked
    return checked.attributes[attribute].type.kind == "item_set" and any(
        any(x in checked.ancestors(i) for i in checked.items) for x in patient.values[attribute])


def apply_changes(record: dict, changes) -> dict:
    return _apply_changes(record, changes, KB.compiled.checked)


@COMMON
@given(patients(), st.lists(st.sampled_from(GOALS), min_size=1, max_size=3, unique=True))
def test_suggested_changes_make_the_rule_hold(backend_kb, record, goals):
    kb = backend_kb
    per_patient(kb)
    patient = kb.patient(record)
    ev = kb.run(patient)
    for goal in goals:
        for attempt in ex.why_not(ev, goal).attempts:
            if attempt.to_hold is None or attempt.removed_by:
                continue
            changed = kb.patient(apply_changes(record, attempt.to_hold))
            assert Oracle(kb.compiled, changed).rule(attempt.rule.id) is True, (attempt.rule.id, attempt.to_hold, record)
            after = kb.run(changed)
            assert after.value(kb.compiled.rule_node[attempt.rule.id]) is True


@COMMON
@given(patients(), st.lists(st.sampled_from(GOALS), min_size=1, max_size=3, unique=True))
def test_suggested_changes_keep_their_promise_for_the_goal(backend_kb, record, goals):
    """A change said to make the goal hold makes the GOAL hold (a regimen: after its
    contraindications and the statements against it); one said to leave the regimen removed or
    contested leaves it so, by exactly the rules it names (oracle.check_suggestions)."""
    kb = backend_kb
    per_patient(kb)
    ev = kb.run(kb.patient(record))
    for goal in goals:
        check_suggestions(kb, record, goal, fill_text(ex.why_not(ev, goal)))
