"""Relevance (issue 11 item 3): `applies when` on rules and attributes.

A rule's gate is one more conjunct for verdicts (so the exact oracle's meaning is unchanged:
tests/test_exact.py and tests/test_verdicts.py run over the gated knowledge base); what it changes
is which questions an undecided rule raises (its gate's while the gate is undecided) and what
`explain`/`why-not` say when it fails (the rule does not apply). An attribute's gate makes an
absent attribute not applicable to the patients it excludes (every test of it fails).
Measured on the bundled examples: no duplicate ids, few possible entries per patient."""
import collections
import json
import os
import statistics

import pytest
from hypothesis import HealthCheck, given, settings

import oncologic
from minikb import VOCABULARY, write_kb
from oncologic.errors import RuleError
from oncologic.lang import nodes as n
from oracle import Oracle
from support import example_files, shipped_kb

GATED_VOCABULARY = VOCABULARY + """
attribute transformation: enum none, sclc
  applies when prior_therapies has anlotinib
"""

RULES = """
concept treated if not prior_therapies is empty
  source doc "§0"
recommendation r.ae
  recommend bronchoscopy
  applies when treated
  if any adverse_events where (grade >= 3)
  source doc "§1"
concept transformed if transformation = sclc
  source doc "§2"
concept not_transformed if not transformation = sclc
  source doc "§3"
recommendation r.transformed
  recommend topotecan
  for transformed
  source doc "§4"
"""


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return oncologic.load(write_kb(tmp_path_factory.mktemp("relevance"), RULES, GATED_VOCABULARY))


def _result(kb, **record):
    return kb.evaluate({"id": "t", "cancer": "lung", **record})


def _possible(result) -> dict[str, list[str]]:
    return {p.id: p.missing for p in result.possible}


# ---- a rule's gate: true, false, unknown -------------------------------------------------------

def test_gate_true_asks_the_body(mini):
    result = _result(mini, prior_therapies=["carboplatin"])
    assert _possible(result)["bronchoscopy"] == ["adverse_events"]


def test_gate_true_and_body_true_is_certain(mini):
    result = _result(mini, prior_therapies=["carboplatin"], adverse_events=[{"type": "hepatitis", "grade": 3, "cause": "immune"}])
    assert "bronchoscopy" in {r.id for r in result.recommendations}
    ex = mini.explain({"id": "t", "cancer": "lung", "prior_therapies": ["carboplatin"],
                       "adverse_events": [{"type": "hepatitis", "grade": 3, "cause": "immune"}]}, "bronchoscopy")
    assert ex.holds is True and ex.proof is not None


def test_gate_false_removes_the_rule_and_its_question(mini):
    record = {"id": "t", "cancer": "lung", "prior_therapies": []}
    result = mini.evaluate(record)
    assert "bronchoscopy" not in _possible(result)
    assert "bronchoscopy" not in {r.id for r in result.recommendations}
    assert "adverse_events" not in {m.attribute for m in result.missing}
    why = mini.why_not(record, "bronchoscopy")
    assert why.verdict == "fails"
    (attempt,) = why.attempts
    assert attempt.applies is False and attempt.applies_when == "treated"
    assert attempt.missing == [] and attempt.to_hold is None
    assert attempt.failed and all(c.holds is False for c in attempt.failed)  # the gate's failing condition
    data = json.loads(why.to_json())
    assert data["attempts"][0]["applies"] is False and data["attempts"][0]["applies_when"] == "treated"


def test_gate_unknown_asks_the_gate_first(mini):
    result = _result(mini)  # neither prior_therapies nor adverse_events recorded
    assert _possible(result)["bronchoscopy"] == ["prior_therapies"]
    missing = {m.attribute: m for m in result.missing}
    assert "adverse_events" not in missing and "bronchoscopy" in missing["prior_therapies"].recommendations
    why = mini.why_not({"id": "t", "cancer": "lung"}, "bronchoscopy")
    assert why.verdict == "undecided" and why.missing == ["prior_therapies"]
    assert why.attempts[0].applies is None


def test_gate_unknown_but_body_false_is_false(mini):
    result = _result(mini, adverse_events=[])
    assert "bronchoscopy" not in _possible(result)


def test_gate_is_a_conjunct_in_the_ast():
    kb = shipped_kb()
    rule = kb.compiled.rule("hcc.progression.after_response.local_therapy")
    assert n.gate_parts(rule.condition) is not None and n.to_source(rule.gate) == "hcc_progressed_on_targeted_immune"


# ---- an attribute's gate -----------------------------------------------------------------------

def test_attribute_inside_its_population_is_asked(mini):
    result = _result(mini, prior_therapies=["anlotinib"])
    assert _possible(result)["topotecan"] == ["transformation"]


def test_attribute_outside_its_population_is_not_applicable(mini):
    record = {"id": "t", "cancer": "lung", "prior_therapies": ["carboplatin"]}
    ev = mini.run(record)
    concepts = {k: ev.value(v) for k, v in mini.compiled.concept_node.items()}
    assert concepts["transformed"] is False and concepts["not_transformed"] is True
    assert "topotecan" not in _possible(mini.evaluate(record))
    ex = mini.explain(record, "not_transformed")
    (cond,) = ex.proof.conditions
    assert cond.attribute == "transformation" and cond.holds is True and cond.negated
    assert cond.does_not_apply == "prior_therapies has anlotinib"
    assert "does not apply" in cond.text
    why = mini.why_not(record, "transformed")
    (cond,) = why.attempts[0].failed
    assert cond.holds is False and cond.does_not_apply == "prior_therapies has anlotinib"
    assert why.attempts[0].missing == []


def test_attribute_population_unknown_asks_the_population(mini):
    result = _result(mini)
    assert _possible(result)["topotecan"] == ["prior_therapies"]
    why = mini.why_not({"id": "t", "cancer": "lung"}, "transformed")
    (cond,) = why.attempts[0].failed
    assert cond.holds is None and cond.needs == ["prior_therapies"]


def test_a_recorded_value_always_counts(mini):
    result = _result(mini, prior_therapies=[], transformation="sclc")
    assert "topotecan" in {r.id for r in result.recommendations}


def test_is_known_is_not_gated(mini):
    rule = mini.compiled.rule("transformed")
    gate, body = n.gate_parts(rule.condition)
    assert isinstance(gate, n.Or) and isinstance(gate.items[0], n.IsKnown)
    assert n.to_source(rule.condition) == "transformation = sclc"  # written as its author wrote it


# ---- mistakes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("rules, vocabulary, message", [
    ("recommendation r.x\n  recommend topotecan\n  applies when line >= 2\n  source doc \"§1\"\n", VOCABULARY,
     "still needs its condition"),
    ("recommendation r.x\n  recommend topotecan\n  applies when line >= 2\n  applies when ecog <= 1\n  if stenosis\n  source doc \"§1\"\n",
     VOCABULARY, "more than one 'applies when' clause"),
    ("recommendation r.x\n  recommend topotecan\n  applies when treatd\n  if stenosis\n  source doc \"§1\"\n"
     "concept treated if line >= 2\n  source doc \"§1\"\n", VOCABULARY, "did you mean 'treated'"),
    ("concept c if stenosis\n  source doc \"§1\"\n", VOCABULARY + "attribute t2: bool\n  applies when t2\n",
     "cannot test 't2' itself"),
    ("concept c if stenosis\n  source doc \"§1\"\n", VOCABULARY + "attribute t2: bool\n  applies when line >= 2\n  applies when ecog <= 1\n",
     "more than one 'applies when' clause"),
    ("concept c if stenosis\n  source doc \"§1\"\n",
     VOCABULARY + "attribute t2: bool\n  applies when t3\nattribute t3: bool\n  applies when t2\n",
     "gates do not chain"),
])
def test_mistakes_are_reported(tmp_path, rules, vocabulary, message):
    with pytest.raises(RuleError) as info:
        oncologic.load(write_kb(tmp_path, rules, vocabulary))
    assert message in str(info.value)
    assert ":" in str(info.value).splitlines()[0]  # FILE:LINE:COL


# ---- relevance first, against the independent oracle -------------------------------------------

def _reads(kb, cond, seen=None) -> set[str]:
    """The attributes a condition reads, through the concepts it refers to."""
    seen = set() if seen is None else seen
    out = set()
    for node in n.walk(cond):
        if isinstance(node, n.ConceptRef) and node.name not in seen:
            seen.add(node.name)
            for rule in kb.rules_for(node.name):
                out |= _reads(kb, rule.condition, seen)
        elif hasattr(node, "attribute") and not isinstance(node, n.IsKnown):
            out.add(node.attribute)
    return out


def _relevance_first(kb, result, oracle) -> list:
    wrong = []
    for entry in result.possible:
        rule = kb.compiled.rule(entry.recommendation.rule.id)
        if rule.gate is not None and oracle.cond(rule.gate) is None:
            extra = set(entry.missing) - _reads(kb.compiled.checked, rule.gate) - {a for p in entry.pending for a in p.missing}
            if extra:
                wrong.append((entry.id, rule.id, sorted(extra)))
    return wrong


def _incomplete():
    from test_exact import incomplete
    return incomplete()


@settings(max_examples=int(os.environ.get("ONCOLOGIC_PROPERTY_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(_incomplete())
def test_an_undecided_gate_is_asked_first(case):
    """For generated patients: a possible recommendation whose rule's gate the independent oracle
    finds undecided names only data its gate reads (and that of undecided contraindications)."""
    record, _ = case
    kb = shipped_kb()
    patient = kb.patient(record)
    assert _relevance_first(kb, kb.evaluate(record), Oracle(kb.compiled, patient)) == []


# ---- the shipped knowledge base on the bundled examples ------------------------------------------

SECTIONS = ("recommendations", "possible", "not_recommended", "contraindicated", "possibly_not_recommended")


@pytest.fixture(scope="module")
def bundled():
    kb = shipped_kb()
    return {p.name: kb.evaluate(p).to_dict() for p in example_files() if p.suffix != ".jsonl"}


def test_no_duplicate_ids_per_section(bundled):
    for name, data in bundled.items():
        for section in SECTIONS:
            counts = collections.Counter(e["id"] for e in data[section])
            assert [i for i, c in counts.items() if c > 1] == [], (name, section)


# The examples whose possible entries stay above 8: each is genuinely undecided for the patient (one
# or two questions decide them all), and no seed makes the rules irrelevant to it. The count and the
# deciding questions are pinned so that a change shows.
ABOVE_EIGHT = {
    # 2nd-line adenocarcinoma, mutations unrecorded: driver-negative rows (Tables 5, seed 001) and
    # the rare-driver rows (Table 4, EGFR 20ins/HER2) all need mutations
    "nsclc_driver_unknown.json": (20, {"mutations"}),
    # on lenvatinib + pembrolizumab with adverse events, latest response unrecorded: before
    # progression (§1.1-§1.3) or after it (§1.4) is the question
    "hcc_ae_irae_colitis.json": (10, {"response"}),
    "hcc_ae_haic_grade2.yaml": (10, {"response"}),
    "hcc_ae_haic_grade3.json": (10, {"response"}),
    "hcc_ae_liver_unclear_grade2.json": (10, {"response"}),
    "hcc_ae_liver_unclear_grade3.yaml": (10, {"response"}),
    # oligoprogression on gefitinib, not yet re-biopsied: transformation and re-testing decide
    "antiangio_after_egfr_tki.json": (9, {"transformation", "rebiopsy_after_progression"}),
}


def test_possible_entries_per_patient(bundled):
    counts = {name: len(data["possible"]) for name, data in bundled.items()}
    assert statistics.median(counts.values()) <= 3
    over = {name: c for name, c in counts.items() if c > 8}
    assert over == {name: c for name, (c, _) in ABOVE_EIGHT.items()}
    for name, (_, questions) in ABOVE_EIGHT.items():
        decided_by = {a for e in bundled[name]["possible"] for a in e["missing"]}
        assert questions <= decided_by, name


@pytest.mark.xfail(strict=True, reason="issue 11 item 3 asks for none above 8; the examples in ABOVE_EIGHT "
                                       "are genuinely undecided and no seed gates them (see bench/RESULTS.md)")
def test_none_above_eight(bundled):
    assert max(len(data["possible"]) for data in bundled.values()) <= 8


def _ids(data, section="possible"):
    return {e["id"] for e in data[section]}


AE = {"corticosteroids", "symptomatic_treatment", "defer_local_therapy", "pause_suspected_drug", "liver_biopsy"}
POST_PROGRESSION = {"second_line_systemic", "resume_original_regimen", "local_therapy", "biopsy_new_lesion",
                    "best_supportive_care"}


def test_hcc_on_targeted_immune_stable(bundled):
    """Response SD on atezolizumab + bevacizumab: no post-progression step (before: four of them,
    "needs progression_timing"); adverse-event management stays possible (it is on the drugs)."""
    data = bundled["hcc_iiia_on_targeted_immune_stable.json"]
    assert _ids(data) == AE
    assert all(e["missing"] == ["adverse_events"] for e in data["possible"])
    assert _ids(data, "recommendations") == {"local_therapy+targeted_immune", "radiotherapy+targeted_immune", "tace"}


def test_hcc_newly_diagnosed_gets_no_adverse_event_management(bundled):
    """No therapy yet (prior_therapies and current_therapy empty): before, five AE entries."""
    data = bundled["hcc_iiia_portal_vein.json"]
    assert _ids(data) == set()
    assert "adverse_events" not in {m["attribute"] for m in data["missing"]}


def test_hcc_progression_steps_ask_for_the_response_first(bundled):
    data = bundled["hcc_ae_irae_colitis.json"]
    steps = [e for e in data["possible"] if e["id"] in POST_PROGRESSION]
    assert {e["id"] for e in steps} == POST_PROGRESSION
    assert all(e["missing"] == ["response"] for e in steps)  # before: progression_timing, treatment_phase, ...


def test_sclc_without_prior_therapies_is_asked_about_its_therapies():
    """An SCLC record without prior_therapies: transformation is asked about only after targeted
    therapy, and the resistance actions only after progression on it; so every question here is
    about the therapies received (and the disease course), none about transformation or re-testing."""
    kb = shipped_kb()
    data = kb.evaluate({"id": "t", "cancer": "lung", "histology": "sclc", "sclc_stage": "extensive",
                        "tfi": "45d", "line": 2, "ecog": 1}).to_dict()
    asked = {a for e in data["possible"] for a in e["missing"]}
    assert "transformation" not in asked and "mutations" not in asked and "rebiopsy_after_progression" not in asked
    resistance = [e for e in data["possible"] if e["recommendation"]["rule"]["id"].startswith("resistance.")]
    assert resistance and all(set(e["missing"]) <= {"prior_therapies", "progression"} for e in resistance)
    # with the therapies recorded (chemo-immunotherapy, no targeted drug) the transformation rows are gone
    data = kb.evaluate({"id": "t", "cancer": "lung", "histology": "sclc", "sclc_stage": "extensive", "tfi": "45d",
                        "line": 2, "ecog": 1, "prior_therapies": ["etoposide", "carboplatin", "atezolizumab"]}).to_dict()
    assert not any(e["recommendation"]["rule"]["id"].startswith("resistance.") for e in data["possible"])
    assert "etoposide+platinum" not in _ids(data)


def test_nsclc_driver_unknown_keeps_every_option_and_names_mutations(bundled):
    """Mutations unrecorded: each driver row is genuinely possible (no seed asks for a driver test
    first), and mutations is the one question that decides them."""
    data = bundled["nsclc_driver_unknown.json"]
    assert {"sunvozertinib", "amivantamab", "pyrotinib", "trastuzumab_deruxtecan", "docetaxel"} <= _ids(data)
    assert data["missing"][0]["attribute"] == "mutations"


# ---- `population`: soft, a flag (issue 11 item 5) -----------------------------------------------

POPULATION_RULES = """
recommendation r.pop
  recommend topotecan
  if histology = sclc
  population line >= 2 "the trial enrolled second-line patients"
  source doc "§1"
"""


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    return oncologic.load(write_kb(tmp_path_factory.mktemp("population"), POPULATION_RULES))


@pytest.mark.parametrize("line, flagged", [(2, False), (1, True), (None, False)])
def test_population_flags_a_row_used_outside_it(populated, line, flagged):
    record = {"id": "t", "cancer": "lung", "histology": "sclc", **({"line": line} if line else {})}
    (rec,) = populated.evaluate(record).recommendations  # the rule fires on its conditions either way
    flags = [f for f in rec.flags if f.kind == "outside_population"]
    assert bool(flags) is flagged
    if flagged:
        assert flags[0].detail == {"rule": "r.pop", "population": "line >= 2",
                                   "description": "the trial enrolled second-line patients"}
        assert json.loads(populated.evaluate(record).to_json())["recommendations"][0]["flags"][0]["kind"] == "outside_population"


def test_population_belongs_to_recommendations(tmp_path):
    with pytest.raises(RuleError) as info:
        oncologic.load(write_kb(tmp_path, 'concept c if stenosis\n  population line >= 2 "x"\n  source doc "§1"\n'))
    assert "'population' belongs to recommendations" in str(info.value)


def test_shipped_alk_transformation_row_is_flagged(bundled):
    (rec,) = [r for r in bundled["nsclc_alk_transformation_sclc.json"]["recommendations"] if r["id"] == "etoposide+platinum"]
    assert [f["detail"]["rule"] for f in rec["flags"] if f["kind"] == "outside_population"] == [
        "nsclc.driver_positive.transformation.etoposide_platinum.alk_ros1"]


def test_population_description_in_languages(kb):
    """`population EXPR en "..." zh "..."`: the JSON flag keeps English, the zh report shows Chinese."""
    from io import StringIO
    from rich.console import Console
    from oncologic.report.text import TextRenderer
    path = "examples/patients/nsclc_alk_transformation_sclc.json"
    res = kb.evaluate(path)
    flag = next(f for rec in res.recommendations for f in rec.flags if f.kind == "outside_population")
    assert flag.detail["description"].startswith("Table 4 and §四(二)1: transformation after")
    console = Console(width=10_000, file=StringIO(), record=True)
    TextRenderer(kb.compiled, "zh", console).result(kb.evaluate(path, "zh"))
    assert "超出来源所述人群：表4及§四(二)1：一/二/三代EGFR-TKI治疗后的转化" in console.export_text()
