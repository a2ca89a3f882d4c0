"""Exact verdicts under missing data (oncologic.reason.exact) against the brute-force
completion oracle (tests/completion.py): for generated patients with one to three missing
attributes, every concept, rule and regimen is certain, false or possible exactly as the
completions say."""
import os

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from completion import CompletionOracle, exact_node
from oncologic.reason.exact import Completion
from oracle import Oracle
from support import shipped_kb
from test_properties import value_strategy

KB = shipped_kb()
COMPILED = KB.compiled
ATTRS = COMPILED.checked.attributes
COMPLETION = Completion(COMPILED)
CONCLUSIONS = [node for node in COMPILED.nodes if node.kind in ("concept", "rule", "regimen")]
CONCRETE = sorted(i for i in COMPILED.checked.items if COMPILED.checked.members(i) == {i})
OPTIONAL = sorted(a for a, spec in ATTRS.items() if not spec.required and spec.type.kind != "date")
ENTANGLED = sorted({a for node in CONCLUSIONS for a in COMPLETION.variables(node.canonical)[2]} & set(OPTIONAL))


@st.composite
def incomplete(draw):
    record = {"id": "gen", "cancer": draw(st.sampled_from(["lung", "hcc"]))}
    for name in OPTIONAL:  # durations are given directly; no dates, which would derive them
        if ATTRS[name].type.kind == "item_set":  # drugs, not classes (a class is partial knowledge)
            record[name] = draw(st.lists(st.sampled_from(CONCRETE), max_size=4, unique=True))
        else:
            record[name] = draw(value_strategy(ATTRS[name].type))
    # mostly attributes that some conclusion reads more than once, where Kleene's logic falls short
    pool = draw(st.sampled_from([ENTANGLED, ENTANGLED, OPTIONAL]))
    missing = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
    for name in missing:
        record.pop(name, None)
    return record, missing


class _Values:
    def __init__(self, values):
        self.values = values


def completed(case):
    """A generated (record, missing attributes): the validated patient and every conclusion's
    verdict over all completions of the missing data (cases beyond 3000 completions skipped)."""
    record, missing = case
    patient = KB.patient(record)
    brute = CompletionOracle(COMPILED, dict(patient.values), missing)
    assume(brute.size() <= 3000)
    return patient, brute.verdicts(CONCLUSIONS)


@settings(max_examples=int(os.environ.get("ONCOLOGIC_PROPERTY_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(incomplete())
def test_exact_verdicts_equal_the_completions(case):
    record, missing = case
    patient, want = completed(case)
    kleene = Oracle(COMPILED, patient)
    wrong = []
    for node in CONCLUSIONS:
        got, exact = COMPLETION.verdict(patient.values, node.id, exact_node(kleene, node))
        if exact and got != want[node.id] or not exact and got is not None:
            wrong.append((node.kind, node.name or node.rule, got, want[node.id]))
    assert wrong == [], (missing, record)


def test_a_constant_beyond_the_declared_range_leaves_a_representative_value(tmp_path):
    """``pd_l1_tps >= 150%`` with ``0%..100%``: the whole range is one region below the
    constant, and the case analysis of an absent pd_l1_tps still has a value to try (it had
    none, and crashed)."""
    import oncologic
    from minikb import write_kb
    kb = oncologic.load(write_kb(tmp_path, """
        recommendation r
          recommend topotecan
          if (pd_l1_tps >= 150% or histology = sclc) and (pd_l1_tps < 150% or histology = squamous)
          source doc "s"
        """))
    result = kb.evaluate({"id": "p", "cancer": "lung"})  # within the range: r is `histology = sclc`
    assert [p.id for p in result.possible] == ["topotecan"] and result.recommendations == []
    assert kb.evaluate({"id": "p", "cancer": "lung", "histology": "sclc"}).recommendations[0].id == "topotecan"
