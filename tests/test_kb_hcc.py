"""HCC: targeted-immune therapy combined with local therapy (seed 003, facts/hcc/*.rules): what the
decision tables (facts/hcc/*.tests.yaml) do not state — supports, notes, sources, JSON fields, the
isolation from lung patients, and the grids over which strategies stay exclusive.

The source is an interpretation of the consensus: it names the consensus's grading system
(evidence 1-5, A strong / B moderate / C weak) but grades no single recommendation, so every
HCC recommendation has strength, evidence and consensus null.
"""
import itertools

import pytest

from support import hcc, ids, lung, shipped_kb


# ---- patients (the decision points themselves: facts/hcc/*.tests.yaml) ---------------------------
NOT_RADICAL = dict(radical_therapy_suitable=False)
FIT = dict(child_pugh_score=6, ecog=1)
# Stage of care (issue 10): the initial-treatment decision points (§1.2 在初始治疗时, 初诊时; §1.1) need to
# know that no targeted-immune therapy was given — the record lists its therapies.
INITIAL = dict(prior_therapies=[], current_therapy=[])


def test_haic_grade_1_2_says_no_dose_adjustment(kb):
    result = kb.evaluate(hcc(current_therapy=["haic"], adverse_events=[{"type": "other", "grade": 1, "cause": "local"}]))
    rules = {s.rule.id for r in result.recommendations for s in r.support}  # one entry, both rules in support
    assert rules == {"hcc.ae.local_symptomatic", "hcc.ae.haic.grade_1_2"}
    assert [r.id for r in result.recommendations] == ["symptomatic_treatment"]
    (entry,) = result.recommendations  # the notes of every supporting rule are kept
    assert any("no dose adjustment" in note for note in entry.notes)


def test_child_pugh_score_is_needed_for_the_classes(kb):
    result = kb.evaluate(hcc())
    needed = {m.attribute: m.needed_for for m in result.missing}
    assert {"child_pugh_a", "child_pugh_b", "child_pugh_c"} <= set(needed["child_pugh_score"])


# ---- grading, sources ---------------------------------------------------------------------------
def test_every_hcc_recommendation_is_ungraded_and_cites_seed_003():
    kb = shipped_kb()
    hcc_rules = [r for r in kb.compiled.checked.rules if r.pos.file.startswith("facts/hcc/")]
    assert len(hcc_rules) > 30
    for rule in hcc_rules:
        assert rule.sources and rule.sources[0].document == "hcc_targeted_immune_local", rule.id
        assert rule.sources[0].locator, rule.id
        if rule.kind == "recommendation":
            assert (rule.strength, rule.evidence, rule.grade, rule.consensus) == (None, None, None, None), rule.id


def test_recommendation_json_fields(kb):
    result = kb.evaluate(hcc(cnlc_stage="IIIa", vascular_invasion="portal_vein", **NOT_RADICAL, **FIT, **INITIAL))
    rec = next(r for r in result.recommendations if r.id == "haic+targeted_immune")
    assert rec.items == ["haic", "targeted_immune"]
    assert rec.setting == "hcc_ti_local_candidate"
    assert rec.source.document == "003_d328b6d4692885f0.txt"
    assert rec.source.locator.startswith("§1.2")
    assert (rec.strength, rec.evidence, rec.consensus, rec.grade) == (None, None, None, None)


# ---- lung patients never see HCC rules ------------------------------------------------------------
def _hcc_names(kb):
    rules = [r for r in kb.compiled.checked.rules if r.pos.file.startswith("facts/hcc/")]
    names = {r.name for r in rules if r.kind in ("concept", "setting")}
    regimens = {"+".join(sorted(reg)) for r in rules if r.kind == "recommendation" for reg in r.regimens}
    attrs = {a.name for a in kb.compiled.checked.attributes.values() if a.pos.file.startswith("facts/hcc/")}
    return {r.id for r in rules}, names, regimens, attrs


@pytest.mark.parametrize("record", [
    lung(histology="sclc", sclc_stage="extensive", tfi="45d", line=2, ecog=1,
         prior_therapies=["etoposide", "carboplatin", "atezolizumab"]),
    lung(histology="adenocarcinoma", line=2, ecog=3,
         adverse_events=[{"type": "colitis", "grade": 3, "cause": "immune"},
                         {"type": "hepatitis", "grade": 3, "cause": "unknown"},
                         {"type": "other", "grade": 3, "cause": "local"}],
         current_therapy=["pembrolizumab", "bevacizumab"]),
    lung(),
])
def test_lung_patient_gets_nothing_from_hcc(kb, record):
    rule_ids, concept_names, _, hcc_attrs = _hcc_names(kb)
    result = kb.evaluate(record)
    assert not {r.rule.id for r in result.recommendations} & rule_ids
    assert not {p.recommendation.rule.id for p in result.possible} & rule_ids
    assert not set(result.derived) & concept_names
    for m in result.missing:
        assert m.attribute not in hcc_attrs, m
        assert not {g for g in m.needed_for} & concept_names, m
    ev = kb.run(record)
    for rule_id in rule_ids:
        assert ev.value(kb.compiled.rule_node[rule_id]) is False, rule_id


def test_hcc_rules_are_decided_false_for_lung_even_without_data(kb):
    """cancer is required, so the `hcc` gate is always decided."""
    ev = kb.run(lung())
    assert ev.value(kb.compiled.concept_node["hcc"]) is False


# ---- stage of care (issue 10): §1.2 初始治疗/初诊时, §1.1 on treatment, §1.4 after progression ---------------
INITIAL_COMBINATIONS = {"local_therapy+targeted_immune", "tace", "tace+targeted_immune", "haic+targeted_immune",
                        "radiotherapy+targeted_immune"}


# Strategies of different stages never both certain, over a grid of records.
EXCLUSIVE = [({"second_line_systemic"}, INITIAL_COMBINATIONS), ({"best_supportive_care"}, INITIAL_COMBINATIONS),
             ({"best_supportive_care"}, {"second_line_systemic"})]
# (TACE alone and TACE + TI are alternatives at initial treatment of Ⅲa/Ⅲb; after TACE failure only the
# latter — facts/hcc/tace.tests.yaml "TACE refractory gets TACE + TI, not TACE alone")


@pytest.mark.parametrize("stage", ["Ia", "Ib", "IIa", "IIb", "IIIa", "IIIb"])
@pytest.mark.parametrize("timing", [None, "after_response", "on_treatment"])
@pytest.mark.parametrize("score, ecog", [(6, 1), (8, 1), (6, 2), (11, 3)])
@pytest.mark.parametrize("tace", [(0, "sd", []), (3, "pd", ["tace"])])
def test_exclusive_strategies_never_both_certain(kb, stage, timing, score, ecog, tace):
    sessions, response, prior = tace
    record = hcc(cnlc_stage=stage, radical_therapy_suitable=False, vascular_invasion="portal_vein",
                 high_tumor_burden=True, intrahepatic_predominant=True, child_pugh_score=score, ecog=ecog,
                 tace_sessions=sessions, response=response, prior_therapies=prior,
                 current_therapy=["lenvatinib", "sintilimab"] if timing else [],
                 progression_timing=timing, treatment_phase="full" if timing else None)
    got = ids(kb.evaluate(record))
    for a, b in EXCLUSIVE:
        assert not (a & got and b & got), (a & got, b & got)


# ---- TACE group 1: Ⅰa、Ⅰb和Ⅱa (issue 10): the note says why the stages differ from the text ---------------
def test_tace_group1_notes_the_stages_as_printed_and_as_quoted(kb):
    res = kb.evaluate(hcc(cnlc_stage="Ib", radical_therapy_suitable=False, high_tumor_burden=False, tace_sessions=0,
                          **FIT, **INITIAL))
    notes = next(r for r in res.recommendations if r.id == "tace").notes
    assert any("Ⅰa、Ⅱb 和Ⅱa" in n and "Ⅰa、Ⅰb和Ⅱa" in n for n in notes)


# ---- issue 10 item 6: the strategy families of the stages of care, never two certain at once ---------------
# Which recommendation ids belong to each family, from the rules:
STRATEGY_FAMILIES = {
    # §1.1/§1.2, before progression on targeted-immune therapy (hcc_ti_local_candidate, and TACE alone through
    # hcc_before_progression_on_targeted_immune): hcc.population.local_plus_targeted_immune, hcc.tace.*,
    # hcc.haic.*, hcc.radiotherapy.*
    "initial_targeted_immune_local": {"local_therapy+targeted_immune", "tace+targeted_immune",
                                      "haic+targeted_immune", "radiotherapy+targeted_immune", "tace"},
    # §1.2 HAIC ¶ / §1.3: hcc.conversion.resection, .resection_after_haic, .ablation
    "conversion": {"resection", "ablation"},
    # §1.4: hcc.progression.after_response.*, hcc.progression.on_treatment.fit
    "post_progression": {"second_line_systemic", "resume_original_regimen", "local_therapy", "biopsy_new_lesion"},
    # §1.4: hcc.progression.on_treatment.unfit
    "best_supportive_care": {"best_supportive_care"},
}
# Adverse-event management (§1.1 ¶2-3, §1.2 HAIC ¶) goes along with any stage: in no family.
AE_MANAGEMENT = {"corticosteroids", "symptomatic_treatment", "defer_local_therapy", "pause_suspected_drug",
                 "liver_biopsy", "adjust_haic_dose+stop_haic_infusion"}


def test_strategy_families_cover_every_hcc_recommendation(kb):
    _, _, regimens, _ = _hcc_names(kb)
    families = set().union(*STRATEGY_FAMILIES.values())
    assert families | AE_MANAGEMENT == regimens
    assert sum(len(f) for f in STRATEGY_FAMILIES.values()) == len(families)  # disjoint


GRID_THERAPIES = {
    "none": dict(prior_therapies=[], current_therapy=[]),
    "targeted_immune": dict(prior_therapies=["lenvatinib", "sintilimab"], current_therapy=["lenvatinib", "sintilimab"]),
    "haic_alone": dict(prior_therapies=["haic"], current_therapy=["haic"]),
    "tace_x3": dict(prior_therapies=["tace"], current_therapy=[], tace_sessions=3),
}
# Every conversion criterion met (tumour thrombus regressed, 3 cm, 2 tumours, remnant 50%, R0, SD 4 months)
# and every HAIC/radiotherapy population feature present: the records most likely to reach several families.
GRID_FIXED = dict(vascular_invasion="portal_vein", tumor_thrombus_regressed=True, max_tumor_diameter="3cm",
                  tumor_count=2, residual_liver_volume="50%", r0_achievable=True, surgical_contraindication=False,
                  stable_disease_duration="4mo", radical_therapy_suitable=False, high_tumor_burden=True,
                  intrahepatic_predominant=True, oligometastasis=True, lymph_node_metastasis="hilar")


@pytest.mark.parametrize("therapies", sorted(GRID_THERAPIES))
@pytest.mark.parametrize("stage", ["Ia", "Ib", "IIa", "IIb", "IIIa", "IIIb", "IV"])
def test_grid_strategy_families_mutually_exclusive(kb, stage, therapies):
    """7 stages x 4 therapy histories x 4 responses x 3 progression timings x 4 treatment phases x
    Child-Pugh (6, 8, 11) x ECOG (1, 3) = 8064 records; in none are two families certain."""
    for response, timing, phase, score, ecog in itertools.product(
            ["cr", "pr", "sd", "pd"], [None, "after_response", "on_treatment"], [None, "full", "reduced", "stopped"],
            [6, 8, 11], [1, 3]):
        record = hcc(cnlc_stage=stage, response=response, child_pugh_score=score, ecog=ecog,
                     **GRID_FIXED, **GRID_THERAPIES[therapies])
        if timing:
            record["progression_timing"] = timing
        if phase:
            record["treatment_phase"] = phase
        got = ids(kb.evaluate(record))
        certain = sorted(name for name, family in STRATEGY_FAMILIES.items() if family & got)
        assert len(certain) <= 1, (record, {n: STRATEGY_FAMILIES[n] & got for n in certain})


@pytest.mark.parametrize("family, point", [
    ("initial_targeted_immune_local", dict(response="sd", therapies="none")),
    ("conversion", dict(response="pr", therapies="targeted_immune")),
    ("conversion", dict(response="sd", therapies="haic_alone")),
    ("post_progression", dict(response="pd", progression_timing="on_treatment", treatment_phase="full",
                              therapies="targeted_immune")),
    ("best_supportive_care", dict(response="pd", progression_timing="on_treatment", treatment_phase="full",
                                  therapies="targeted_immune", child_pugh_score=8)),
])
def test_grid_reaches_every_family(kb, family, point):
    """Not vacuous: each family is certain for some point of the grid."""
    point = dict(point)
    record = hcc(**{**dict(cnlc_stage="IIIa", child_pugh_score=6, ecog=1), **GRID_FIXED,
                    **GRID_THERAPIES[point.pop("therapies")], **point})
    got = ids(kb.evaluate(record))
    assert [name for name, fam in STRATEGY_FAMILIES.items() if fam & got] == [family]

