"""HCC: targeted-immune therapy combined with local therapy (seed 003, facts/hcc/*.rules).

The source is an interpretation of the consensus: it names the consensus's grading system
(evidence 1-5, A strong / B moderate / C weak) but grades no single recommendation, so every
HCC recommendation has strength, evidence and consensus null.
"""
import itertools

import pytest

from support import graded, hcc, ids, lung, shipped_kb


def ungraded(*regimens):
    """The expected graded set when the source states no grade: (id, None, None, None)."""
    return {(r, None, None, None) for r in regimens}


def derived(kb, record):
    return set(kb.evaluate(record).derived)


def possible_ids(result):
    return {p.id for p in result.possible}


# ---- patients that the decision points are stated for ---------------------------------------
NOT_RADICAL = dict(radical_therapy_suitable=False)
FIT = dict(child_pugh_score=6, ecog=1)
ON_TI = dict(current_therapy=["lenvatinib", "camrelizumab"])
# Conversion (§1.3) is after a response: CR/PR/SD on targeted-immune therapy, no progression recorded (issue 10
# item 6 — before, the ablation route asked for no response and a patient progressing on treatment got it).
RESPONDING_ON_TI = dict(response="pr", **ON_TI)
# Stage of care (issue 10): the initial-treatment decision points (§1.2 在初始治疗时, 初诊时; §1.1) need to
# know that no targeted-immune therapy was given — the record lists its therapies.
INITIAL = dict(prior_therapies=[], current_therapy=[])
AFTER_TACE = dict(prior_therapies=["tace"], current_therapy=[])

DECISIONS = {
    # §1.2 TACE group 1 as written: Ⅰa (and Ⅱa, Ⅱb), radical therapy indicated but not done.
    "tace_ia_radical_declined": (
        hcc(cnlc_stage="Ia", **NOT_RADICAL, **INITIAL, **FIT),
        {"tace"}),
    # Ⅰa with radical therapy feasible and accepted: nothing from this source.
    "ia_radical_suitable": (
        hcc(cnlc_stage="Ia", radical_therapy_suitable=True, **FIT),
        set()),
    # Ⅰb not fit for radical therapy: the population of §1.1 and TACE group 1, which the guideline the
    # text quotes reads Ⅰa、Ⅰb和Ⅱa (the text prints Ⅰa、Ⅱb和Ⅱa; issue 10 — before, Ⅰb got no TACE); no TACE history yet.
    "ib_not_radical": (
        hcc(cnlc_stage="Ib", tace_sessions=0, **NOT_RADICAL, **FIT, **INITIAL),
        {"local_therapy+targeted_immune", "tace"}),
    # Ⅱa: TACE (group 1) and radiotherapy + targeted-immune.
    "iia_not_radical": (
        hcc(cnlc_stage="IIa", tace_sessions=0, **NOT_RADICAL, **FIT, **INITIAL),
        {"local_therapy+targeted_immune", "tace", "radiotherapy+targeted_immune"}),
    # §1.2: Ⅰb~Ⅱb progressing after 2~3 TACE sessions -> TACE + targeted-immune (TACE alone no longer:
    # 应考虑联合靶免治疗 — before, plain TACE was listed as well).
    "tace_refractory_ib": (
        hcc(cnlc_stage="Ib", tace_sessions=2, response="pd", **NOT_RADICAL, **FIT, **AFTER_TACE),
        {"local_therapy+targeted_immune", "tace+targeted_immune"}),
    "tace_refractory_iib": (
        hcc(cnlc_stage="IIb", tace_sessions=3, response="pd", high_tumor_burden=False, **NOT_RADICAL, **FIT, **AFTER_TACE),
        {"local_therapy+targeted_immune", "tace+targeted_immune", "radiotherapy+targeted_immune"}),
    # Not progressing after 3 sessions: no switch.
    "tace_responding_iib": (
        hcc(cnlc_stage="IIb", tace_sessions=3, response="pr", high_tumor_burden=False, **NOT_RADICAL, **FIT, **AFTER_TACE),
        {"local_therapy+targeted_immune", "tace", "radiotherapy+targeted_immune"}),
    # §1.2 HAIC: large-burden Ⅱb.
    "haic_iib_high_burden": (
        hcc(cnlc_stage="IIb", tace_sessions=0, high_tumor_burden=True, **NOT_RADICAL, **FIT, **INITIAL),
        {"local_therapy+targeted_immune", "tace", "haic+targeted_immune", "radiotherapy+targeted_immune"}),
    # §1.2: Ⅲa with portal-vein thrombus: TACE + TI from the start, HAIC + TI, RT + TI, TACE.
    "iiia_portal_vein": (
        hcc(cnlc_stage="IIIa", vascular_invasion="portal_vein", **NOT_RADICAL, **FIT, **INITIAL),
        {"local_therapy+targeted_immune", "tace", "tace+targeted_immune", "haic+targeted_immune",
         "radiotherapy+targeted_immune"}),
    "iiia_hepatic_vein": (
        hcc(cnlc_stage="IIIa", vascular_invasion="hepatic_vein", **NOT_RADICAL, **FIT, **INITIAL),
        {"local_therapy+targeted_immune", "tace", "tace+targeted_immune", "haic+targeted_immune",
         "radiotherapy+targeted_immune"}),
    # §1.2: Ⅲb mainly intrahepatic with hilar nodes.
    "iiib_intrahepatic_hilar_nodes": (
        hcc(cnlc_stage="IIIb", intrahepatic_predominant=True, oligometastasis=False,
            lymph_node_metastasis="hilar", **NOT_RADICAL, **FIT, **INITIAL),
        {"local_therapy+targeted_immune", "tace", "tace+targeted_immune", "haic+targeted_immune",
         "radiotherapy+targeted_immune"}),
    # §1.2: Ⅲb oligometastasis, not mainly intrahepatic, no nodes.
    "iiib_oligometastasis": (
        hcc(cnlc_stage="IIIb", intrahepatic_predominant=False, oligometastasis=True,
            lymph_node_metastasis="none", **NOT_RADICAL, **FIT, **INITIAL),
        {"local_therapy+targeted_immune", "tace", "tace+targeted_immune", "radiotherapy+targeted_immune"}),
    # §1.1: Ⅲb widespread metastasis (neither intrahepatic-predominant nor oligo, no nodes):
    # local therapy for palliation; TACE (部分Ⅲb) and TACE + TI still listed; no HAIC, no RT.
    "iiib_widespread": (
        hcc(cnlc_stage="IIIb", intrahepatic_predominant=False, oligometastasis=False,
            lymph_node_metastasis="none", **NOT_RADICAL, **FIT, **INITIAL),
        {"local_therapy+targeted_immune", "tace", "tace+targeted_immune"}),
    # Ⅲb with retroperitoneal nodes.
    "iiib_retroperitoneal_nodes": (
        hcc(cnlc_stage="IIIb", intrahepatic_predominant=False, oligometastasis=False,
            lymph_node_metastasis="retroperitoneal", **NOT_RADICAL, **FIT, **INITIAL),
        {"local_therapy+targeted_immune", "tace", "tace+targeted_immune", "radiotherapy+targeted_immune"}),
    # §1.3 conversion to resection (CR/PR, remnant ≥ 40%, R0, no contraindication).
    "conversion_resection_pr": (
        hcc(response="pr", residual_liver_volume="45%", r0_achievable=True, surgical_contraindication=False, **ON_TI),
        {"resection"}),
    "conversion_resection_cr": (
        hcc(response="cr", residual_liver_volume="60%", r0_achievable=True, surgical_contraindication=False, **ON_TI),
        {"resection"}),
    "conversion_no_r0": (
        hcc(response="pr", residual_liver_volume="45%", r0_achievable=False, surgical_contraindication=False, **ON_TI),
        set()),
    "conversion_contraindication": (
        hcc(response="pr", residual_liver_volume="45%", r0_achievable=True, surgical_contraindication=True, **ON_TI),
        set()),
    # §1.3 only CR/PR: SD without HAIC does not qualify ...
    "conversion_sd_without_haic": (
        hcc(response="sd", stable_disease_duration="6mo", residual_liver_volume="45%", r0_achievable=True,
            surgical_contraindication=False, **ON_TI, prior_therapies=["tace"]),
        set()),
    # ... §1.2: after HAIC, SD ≥ 3 months does.
    "conversion_sd_after_haic": (
        hcc(response="sd", stable_disease_duration="4mo", residual_liver_volume="45%", r0_achievable=True,
            surgical_contraindication=False, current_therapy=["haic", "lenvatinib", "camrelizumab"]),
        {"resection"}),
    "conversion_pd_after_haic": (
        hcc(response="pd", residual_liver_volume="45%", r0_achievable=True,
            surgical_contraindication=False, prior_therapies=["haic"], current_therapy=[]),
        set()),
    # §1.3 conversion to ablation.
    "conversion_ablation_thrombus_regressed": (
        hcc(vascular_invasion="portal_vein", tumor_thrombus_regressed=True, max_tumor_diameter="3cm",
            tumor_count=3, child_pugh_score=8, **RESPONDING_ON_TI),
        {"ablation"}),
    "conversion_ablation_no_thrombus": (
        hcc(vascular_invasion="none", max_tumor_diameter="4cm", tumor_count=1, child_pugh_score=5, **RESPONDING_ON_TI),
        {"ablation"}),
    "conversion_ablation_thrombus_persists": (
        hcc(vascular_invasion="portal_vein", tumor_thrombus_regressed=False, max_tumor_diameter="3cm",
            tumor_count=1, child_pugh_score=5, **RESPONDING_ON_TI),
        set()),
    "conversion_ablation_four_tumours": (
        hcc(vascular_invasion="none", max_tumor_diameter="3cm", tumor_count=4, child_pugh_score=5, **RESPONDING_ON_TI),
        set()),
    "conversion_ablation_child_pugh_c": (
        hcc(vascular_invasion="none", max_tumor_diameter="3cm", tumor_count=1, child_pugh_score=10, **RESPONDING_ON_TI),
        set()),
    # Without targeted-immune therapy the conversion rules do not apply ("靶免联合治疗后").
    "ablation_criteria_without_targeted_immune": (
        hcc(vascular_invasion="none", max_tumor_diameter="3cm", tumor_count=1, child_pugh_score=5, response="pr",
            prior_therapies=["tace"], current_therapy=[]),
        set()),
    # §1.4 progression after response.
    "progression_after_response_full": (
        hcc(progression_timing="after_response", treatment_phase="full"),
        {"second_line_systemic", "local_therapy", "biopsy_new_lesion"}),
    "progression_after_response_reduced": (
        hcc(progression_timing="after_response", treatment_phase="reduced"),
        {"resume_original_regimen", "second_line_systemic", "local_therapy", "biopsy_new_lesion"}),
    "progression_after_response_stopped": (
        hcc(progression_timing="after_response", treatment_phase="stopped"),
        {"resume_original_regimen", "second_line_systemic", "local_therapy", "biopsy_new_lesion"}),
    # §1.4 progression on treatment.
    "progression_on_treatment_fit": (
        hcc(progression_timing="on_treatment", child_pugh_score=7, ecog=1),
        {"second_line_systemic"}),
    "progression_on_treatment_child_pugh_b8": (
        hcc(progression_timing="on_treatment", child_pugh_score=8, ecog=0),
        {"best_supportive_care"}),
    "progression_on_treatment_ecog2": (
        hcc(progression_timing="on_treatment", child_pugh_score=5, ecog=2),
        {"best_supportive_care"}),
    # ECOG ≥ 2 decides even when the Child-Pugh score is not known.
    "progression_on_treatment_ecog3_no_score": (
        hcc(progression_timing="on_treatment", ecog=3),
        {"best_supportive_care"}),
    # §1.1 adverse events.
    "irae_colitis_grade3": (
        hcc(adverse_events=[{"type": "colitis", "grade": 3, "cause": "immune"}]),
        {"corticosteroids", "defer_local_therapy"}),
    "irae_endocrine_grade3": (
        hcc(adverse_events=[{"type": "endocrine", "grade": 3, "cause": "immune"}]),
        {"defer_local_therapy"}),
    "irae_pneumonitis_grade2": (
        hcc(adverse_events=[{"type": "pneumonitis", "grade": 2, "cause": "immune"}]),
        {"defer_local_therapy"}),
    "targeted_ae": (
        hcc(adverse_events=[{"type": "rash", "grade": 3, "cause": "targeted"}]),
        {"symptomatic_treatment", "defer_local_therapy"}),
    "local_ae_after_tace": (
        hcc(current_therapy=["tace"], adverse_events=[{"type": "other", "grade": 3, "cause": "local"}]),
        {"symptomatic_treatment"}),
    "liver_injury_unclear_grade1": (
        hcc(adverse_events=[{"type": "hepatitis", "grade": 1, "cause": "unknown"}]),
        {"pause_suspected_drug"}),
    "liver_injury_unclear_grade2": (
        hcc(adverse_events=[{"type": "hepatitis", "grade": 2, "cause": "unknown"}]),
        {"pause_suspected_drug"}),
    "liver_injury_unclear_grade3": (
        hcc(adverse_events=[{"type": "hepatitis", "grade": 3, "cause": "unknown"}]),
        {"corticosteroids", "liver_biopsy"}),
    "liver_injury_unclear_grade4": (
        hcc(adverse_events=[{"type": "hepatitis", "grade": 4, "cause": "unknown"}]),
        {"corticosteroids", "liver_biopsy"}),
    # Immune hepatitis grade 3: the irAE rule (not the unclear-cause rule).
    "immune_hepatitis_grade3": (
        hcc(adverse_events=[{"type": "hepatitis", "grade": 3, "cause": "immune"}]),
        {"corticosteroids", "defer_local_therapy"}),
    # §1.2 HAIC adverse events.
    "haic_ae_grade2": (
        hcc(current_therapy=["haic"], adverse_events=[{"type": "other", "grade": 2, "cause": "local"}]),
        {"symptomatic_treatment"}),
    "haic_ae_grade3": (
        hcc(current_therapy=["haic"], adverse_events=[{"type": "other", "grade": 3, "cause": "local"}]),
        {"symptomatic_treatment", "adjust_haic_dose+stop_haic_infusion"}),
    "haic_ae_grade4": (
        hcc(current_therapy=["haic"], adverse_events=[{"type": "other", "grade": 4, "cause": "local"}]),
        {"symptomatic_treatment", "adjust_haic_dose+stop_haic_infusion"}),
}


@pytest.mark.parametrize("name", sorted(DECISIONS))
def test_decision_point(kb, name):
    record, expected = DECISIONS[name]
    assert graded(kb.evaluate(record)) == ungraded(*expected)


def test_haic_grade_1_2_says_no_dose_adjustment(kb):
    result = kb.evaluate(hcc(current_therapy=["haic"], adverse_events=[{"type": "other", "grade": 1, "cause": "local"}]))
    rules = {s.rule.id for r in result.recommendations for s in r.support}  # one entry, both rules in support
    assert rules == {"hcc.ae.local_symptomatic", "hcc.ae.haic.grade_1_2"}
    assert [r.id for r in result.recommendations] == ["symptomatic_treatment"]
    (entry,) = result.recommendations  # the notes of every supporting rule are kept
    assert any("no dose adjustment" in note for note in entry.notes)


# ---- Child-Pugh class -----------------------------------------------------------------------
@pytest.mark.parametrize("score, cls", [(5, "a"), (6, "a"), (7, "b"), (8, "b"), (9, "b"), (10, "c"), (15, "c")])
def test_child_pugh_class(kb, score, cls):
    classes = derived(kb, hcc(child_pugh_score=score)) & {"child_pugh_a", "child_pugh_b", "child_pugh_c"}
    assert classes == {f"child_pugh_{cls}"}


def test_child_pugh_class_unknown_without_score(kb):
    result = kb.evaluate(hcc())
    assert not set(result.derived) & {"child_pugh_a", "child_pugh_b", "child_pugh_c"}
    needed = {m.attribute: m.needed_for for m in result.missing}
    assert {"child_pugh_a", "child_pugh_b", "child_pugh_c"} <= set(needed["child_pugh_score"])


# ---- boundaries ---------------------------------------------------------------------------------
ABLATION = dict(vascular_invasion="none", tumor_count=1, child_pugh_score=6, **RESPONDING_ON_TI)


@pytest.mark.parametrize("diameter, ok", [("5cm", True), ("50mm", True), ("4.9cm", True), ("51mm", False), ("5.1cm", False)])
def test_ablation_diameter_5cm(kb, diameter, ok):
    assert ("ablation" in ids(kb.evaluate(hcc(max_tumor_diameter=diameter, **ABLATION)))) is ok


@pytest.mark.parametrize("count, ok", [(1, True), (3, True), (4, False)])
def test_ablation_tumour_count_3(kb, count, ok):
    rec = dict(ABLATION, tumor_count=count)
    assert ("ablation" in ids(kb.evaluate(hcc(max_tumor_diameter="2cm", **rec)))) is ok


@pytest.mark.parametrize("score, ok", [(9, True), (10, False)])
def test_ablation_child_pugh_a_or_b(kb, score, ok):
    rec = dict(ABLATION, child_pugh_score=score)
    assert ("ablation" in ids(kb.evaluate(hcc(max_tumor_diameter="2cm", **rec)))) is ok


RESECTION = dict(response="pr", r0_achievable=True, surgical_contraindication=False, **ON_TI)


@pytest.mark.parametrize("volume, ok", [("39%", False), ("39.9%", False), ("40%", True), ("41%", True)])
def test_resection_residual_liver_40_percent(kb, volume, ok):
    assert ("resection" in ids(kb.evaluate(hcc(residual_liver_volume=volume, **RESECTION)))) is ok


# "稳定的疾病状态维持3个月以上": ≥ 3 months, 3mo = 91.3125 d in this engine, so 90d and 91d fall short.
HAIC_SD = dict(response="sd", residual_liver_volume="45%", r0_achievable=True, surgical_contraindication=False,
               current_therapy=["haic", "lenvatinib", "camrelizumab"])


@pytest.mark.parametrize("duration, ok", [("2mo", False), ("90d", False), ("91d", False), ("3mo", True),
                                          ("92d", True), ("13wk", False), ("14wk", True), ("6mo", True)])
def test_conversion_stable_disease_3_months(kb, duration, ok):
    assert ("resection" in ids(kb.evaluate(hcc(stable_disease_duration=duration, **HAIC_SD)))) is ok


def test_conversion_stable_disease_duration_missing_is_possible(kb):
    result = kb.evaluate(hcc(**HAIC_SD))
    assert "resection" not in ids(result)
    assert "resection" in possible_ids(result)
    assert any(m.attribute == "stable_disease_duration" and "resection" in m.needed_for for m in result.missing)


@pytest.mark.parametrize("score, expected", [(7, "second_line_systemic"), (8, "best_supportive_care"),
                                              (9, "best_supportive_care"), (10, "best_supportive_care")])
def test_on_treatment_progression_child_pugh_b8(kb, score, expected):
    assert ids(kb.evaluate(hcc(progression_timing="on_treatment", child_pugh_score=score, ecog=0))) == {expected}


@pytest.mark.parametrize("ecog, expected", [(0, "second_line_systemic"), (1, "second_line_systemic"),
                                             (2, "best_supportive_care"), (3, "best_supportive_care")])
def test_on_treatment_progression_ecog_2(kb, ecog, expected):
    assert ids(kb.evaluate(hcc(progression_timing="on_treatment", child_pugh_score=5, ecog=ecog))) == {expected}


def test_on_treatment_progression_fit_needs_both_scores(kb):
    result = kb.evaluate(hcc(progression_timing="on_treatment", ecog=1))
    assert ids(result) == set()
    assert {"second_line_systemic", "best_supportive_care"} <= possible_ids(result)


# TACE: Child-Pugh A/B and ECOG 0-2 for Ⅱb/Ⅲa/Ⅲb.
@pytest.mark.parametrize("ecog, ok", [(0, True), (2, True), (3, False)])
def test_tace_ecog_0_to_2(kb, ecog, ok):
    result = kb.evaluate(hcc(cnlc_stage="IIIa", radical_therapy_suitable=True, child_pugh_score=6, ecog=ecog, **INITIAL))
    assert ("tace" in ids(result)) is ok


@pytest.mark.parametrize("score, ok", [(6, True), (7, True), (9, True), (10, False)])
def test_tace_child_pugh_a_or_b(kb, score, ok):
    result = kb.evaluate(hcc(cnlc_stage="IIIa", radical_therapy_suitable=True, child_pugh_score=score, ecog=0, **INITIAL))
    assert ("tace" in ids(result)) is ok


# "经过2~3次TACE治疗后，肿瘤仍继续进展": from the 2nd session on; 2~3 is no upper limit.
@pytest.mark.parametrize("sessions, ok", [(0, False), (1, False), (2, True), (3, True), (4, True), (6, True)])
def test_tace_refractory_sessions(kb, sessions, ok):
    result = kb.evaluate(hcc(cnlc_stage="IIa", tace_sessions=sessions, response="pd", **NOT_RADICAL, **FIT, **AFTER_TACE))
    assert ("tace+targeted_immune" in ids(result)) is ok


@pytest.mark.parametrize("stage, ok", [("Ia", False), ("Ib", True), ("IIa", True), ("IIb", True)])
def test_tace_refractory_stages(kb, stage, ok):
    result = kb.evaluate(hcc(cnlc_stage=stage, tace_sessions=2, response="pd", high_tumor_burden=False,
                             **NOT_RADICAL, **FIT, **AFTER_TACE))
    assert ("tace+targeted_immune" in ids(result)) is ok


def test_radical_therapy_suitable_iiia_gets_no_combination(kb):
    result = kb.evaluate(hcc(cnlc_stage="IIIa", vascular_invasion="portal_vein", radical_therapy_suitable=True, **FIT, **INITIAL))
    assert graded(result) == ungraded("tace")


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
PROGRESSING_IIIA = dict(cnlc_stage="IIIa", vascular_invasion="portal_vein", radical_therapy_suitable=False,
                        current_therapy=["lenvatinib", "sintilimab"], progression_timing="on_treatment",
                        treatment_phase="full", child_pugh_score=6, ecog=1)
INITIAL_COMBINATIONS = {"local_therapy+targeted_immune", "tace", "tace+targeted_immune", "haic+targeted_immune",
                        "radiotherapy+targeted_immune"}


@pytest.mark.parametrize("change, expected", [
    # issue 10: IIIa with portal-vein thrombus progressing on lenvatinib + sintilimab at full dose
    ({}, {"second_line_systemic"}),                                        # CP 6, ECOG 1: §1.4 fit
    (dict(child_pugh_score=7), {"second_line_systemic"}),
    (dict(child_pugh_score=8), {"best_supportive_care"}),                  # issue 10: CP 8 — BSC only
    (dict(ecog=2), {"best_supportive_care"}),
    (dict(progression_timing="after_response"), {"second_line_systemic", "local_therapy", "biopsy_new_lesion"}),
    (dict(progression_timing="after_response", treatment_phase="reduced"),
     {"resume_original_regimen", "second_line_systemic", "local_therapy", "biopsy_new_lesion"}),
    (dict(response="pd", prior_therapies=["lenvatinib", "sintilimab"]), {"second_line_systemic"}),
])
def test_issue10_progression_on_targeted_immune_gets_only_section_1_4(kb, change, expected):
    res = kb.evaluate(hcc(**{**PROGRESSING_IIIA, **change}))
    assert graded(res) == ungraded(*expected)
    assert not INITIAL_COMBINATIONS & possible_ids(res)
    assert "hcc_before_progression_on_targeted_immune" not in res.derived


def test_issue10_progressing_example(kb):
    res = kb.evaluate("examples/patients/hcc_iiia_portal_vein_progressing_on_targeted_immune.json")
    assert graded(res) == ungraded("second_line_systemic")


@pytest.mark.parametrize("therapies, expected, undecided", [
    # initial treatment: no targeted-immune therapy yet — every §1.1/§1.2 decision point of IIIa + PVTT
    (dict(prior_therapies=[], current_therapy=[]), INITIAL_COMBINATIONS, set()),
    # on targeted-immune therapy with stable disease: local therapy on its basis (§1.1), TACE and
    # radiotherapy; not the initial-treatment TACE + TI (在初始治疗时) nor HAIC (初诊时). The thrombus persists,
    # so no conversion to ablation (§1.3: 瘤栓（如果有）退缩消失), and SD is not resection's CR/PR.
    (dict(prior_therapies=[], current_therapy=["atezolizumab", "bevacizumab"], response="sd",
          tumor_thrombus_regressed=False),
     {"local_therapy+targeted_immune", "tace", "radiotherapy+targeted_immune"}, set()),
    # the same without the thrombus recorded: it might have regressed, making the patient a conversion
    # candidate (§1.3 建议尽早手术; issue 10 item 6: conversion and §1.1/§1.2 never both certain) — undecided
    (dict(prior_therapies=[], current_therapy=["atezolizumab", "bevacizumab"], response="sd"),
     set(), {"local_therapy+targeted_immune", "tace", "radiotherapy+targeted_immune", "ablation"}),
    # therapies not recorded: the stage is unknown, so all of them are only possible
    (dict(), set(), INITIAL_COMBINATIONS),
])
def test_stage_decides_the_initial_combinations(kb, therapies, expected, undecided):
    res = kb.evaluate(hcc(cnlc_stage="IIIa", vascular_invasion="portal_vein", radical_therapy_suitable=False,
                          tace_sessions=0, child_pugh_score=6, ecog=1, **therapies))
    assert ids(res) == expected
    assert undecided <= possible_ids(res)
    # §1.4 needs a progression on targeted-immune therapy: never certain here
    assert not {"second_line_systemic", "best_supportive_care"} & ids(res)


def test_section_1_4_is_decided_false_at_initial_treatment(kb):
    res = kb.evaluate(hcc(cnlc_stage="IIIa", vascular_invasion="portal_vein", radical_therapy_suitable=False,
                          tace_sessions=0, child_pugh_score=6, ecog=1, prior_therapies=[], current_therapy=[]))
    assert not {"second_line_systemic", "best_supportive_care", "resume_original_regimen", "local_therapy",
                "biopsy_new_lesion"} & possible_ids(res)


def test_progression_timing_implies_targeted_immune_treated(kb):
    assert "hcc_targeted_immune_treated" in derived(kb, hcc(progression_timing="on_treatment"))
    assert "hcc_targeted_immune_treated" in derived(kb, hcc(treatment_phase="stopped"))


# Strategies of different stages never both certain, over a grid of records.
EXCLUSIVE = [({"second_line_systemic"}, INITIAL_COMBINATIONS), ({"best_supportive_care"}, INITIAL_COMBINATIONS),
             ({"best_supportive_care"}, {"second_line_systemic"})]
# (TACE alone and TACE + TI are alternatives at initial treatment of Ⅲa/Ⅲb; after TACE failure only the
# latter — test_tace_refractory_gets_tace_with_targeted_immune_not_tace_alone)


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


# ---- TACE group 1: Ⅰa、Ⅰb和Ⅱa (issue 10), with Child-Pugh A/B and ECOG 0~2 on every TACE rule ----------
def test_issue10_iib_child_pugh_11_ecog_3_gets_no_tace(kb):
    res = kb.evaluate(hcc(cnlc_stage="IIb", radical_therapy_suitable=False, child_pugh_score=11, ecog=3, **INITIAL))
    assert not {"tace", "tace+targeted_immune"} & (ids(res) | possible_ids(res))


@pytest.mark.parametrize("stage, fit, tace", [
    ("Ia", True, True), ("Ib", True, True), ("IIa", True, True),      # group 1 (guideline: Ⅰa、Ⅰb和Ⅱa)
    ("IIb", True, True),                                               # group 2 (Ⅱb、Ⅲa、部分Ⅲb)
    ("Ia", False, False), ("Ib", False, False), ("IIb", False, False),
])
def test_tace_group1_stages_and_limits(kb, stage, fit, tace):
    scores = FIT if fit else dict(child_pugh_score=11, ecog=3)
    res = kb.evaluate(hcc(cnlc_stage=stage, radical_therapy_suitable=False, high_tumor_burden=False, tace_sessions=0,
                          **scores, **INITIAL))
    assert ("tace" in ids(res)) is tace
    if tace and stage != "IIb":
        rule = next(r for r in res.recommendations if r.id == "tace").rule.id
        assert rule == "hcc.tace.radical_declined"
        notes = next(r for r in res.recommendations if r.id == "tace").notes
        assert any("Ⅰa、Ⅱb 和Ⅱa" in n and "Ⅰa、Ⅰb和Ⅱa" in n for n in notes)


@pytest.mark.parametrize("score, ok", [(9, True), (10, False)])
@pytest.mark.parametrize("stage", ["Ia", "Ib"])
def test_tace_group1_child_pugh_9_vs_10(kb, stage, score, ok):
    res = kb.evaluate(hcc(cnlc_stage=stage, radical_therapy_suitable=False, child_pugh_score=score, ecog=0, **INITIAL))
    assert ("tace" in ids(res)) is ok


@pytest.mark.parametrize("ecog, ok", [(2, True), (3, False)])
@pytest.mark.parametrize("stage", ["Ia", "IIa"])
def test_tace_group1_ecog_2_vs_3(kb, stage, ecog, ok):
    res = kb.evaluate(hcc(cnlc_stage=stage, radical_therapy_suitable=False, child_pugh_score=6, ecog=ecog, **INITIAL))
    assert ("tace" in ids(res)) is ok


@pytest.mark.parametrize("score, ecog, ok", [(9, 2, True), (10, 2, False), (9, 3, False)])
def test_tace_with_targeted_immune_keeps_the_limits(kb, score, ecog, ok):
    initial = kb.evaluate(hcc(cnlc_stage="IIIa", radical_therapy_suitable=False, child_pugh_score=score, ecog=ecog,
                              **INITIAL))
    refractory = kb.evaluate(hcc(cnlc_stage="Ib", radical_therapy_suitable=False, tace_sessions=2, response="pd",
                                 child_pugh_score=score, ecog=ecog, **AFTER_TACE))
    assert ("tace+targeted_immune" in ids(initial)) is ok
    assert ("tace+targeted_immune" in ids(refractory)) is ok


def test_tace_refractory_gets_tace_with_targeted_immune_not_tace_alone(kb):
    res = kb.evaluate(hcc(cnlc_stage="IIa", radical_therapy_suitable=False, tace_sessions=2, response="pd", **FIT,
                          **AFTER_TACE))
    assert "tace+targeted_immune" in ids(res) and "tace" not in ids(res) | possible_ids(res)
    # one session, still progressing: not yet refractory, TACE group 1 stands
    res = kb.evaluate(hcc(cnlc_stage="IIa", radical_therapy_suitable=False, tace_sessions=1, response="pd", **FIT,
                          **AFTER_TACE))
    assert "tace" in ids(res) and "tace+targeted_immune" not in ids(res)


# ---- the `is known` tests of the stage of care read no fact from an absence (base.rules) -----------------
# A recorded progression_timing / treatment_phase implies the therapy and excludes the stages before progression;
# without them the recorded therapies decide "not yet treated", and the latest response "not progressing".
@pytest.mark.parametrize("record, initial, on_without_progression", [
    (dict(prior_therapies=[], current_therapy=[]), "holds", "fails"),
    (dict(prior_therapies=[]), "undecided", "undecided"),                   # current therapy unrecorded
    (dict(), "undecided", "undecided"),                                      # no therapy recorded: stage unknown
    (dict(prior_therapies=[], current_therapy=[], progression_timing="on_treatment"), "fails", "fails"),
    (dict(current_therapy=["lenvatinib", "sintilimab"]), "fails", "undecided"),           # response unrecorded
    (dict(current_therapy=["lenvatinib", "sintilimab"], response="sd"), "fails", "holds"),
    (dict(current_therapy=["lenvatinib", "sintilimab"], response="pd"), "fails", "fails"),
    (dict(current_therapy=["lenvatinib", "sintilimab"], response="sd", progression_timing="after_response"),
     "fails", "fails"),
    (dict(treatment_phase="stopped"), "fails", "undecided"),                # the phase implies the therapy
])
def test_stage_of_care_boundary(kb, record, initial, on_without_progression):
    rec = hcc(cnlc_stage="IIIa", **record)
    assert kb.explain(rec, "hcc_initial_treatment").verdict == initial
    assert kb.explain(rec, "hcc_on_targeted_immune_without_progression").verdict == on_without_progression


# ---- issue 10 item 6: conversion (§1.3) is for a response, never after progression (§1.4) ------------------
TESTER_H1 = dict(id="h1", cnlc_stage="IIIa", vascular_invasion="portal_vein", child_pugh_score=6, ecog=1,
                 response="pd", progression_timing="on_treatment", treatment_phase="full",
                 tumor_thrombus_regressed=True, max_tumor_diameter="3cm", tumor_count=2,
                 current_therapy=["lenvatinib", "sintilimab"], prior_therapies=["lenvatinib", "sintilimab"])


def test_issue10_item6_progressing_on_treatment_gets_no_ablation(kb):
    res = kb.evaluate(hcc(**TESTER_H1))
    assert graded(res) == ungraded("second_line_systemic")
    assert not {"ablation", "resection"} & possible_ids(res)


@pytest.mark.parametrize("response, ok", [("cr", True), ("pr", True), ("sd", True), ("pd", False)])
def test_conversion_ablation_response_sd_vs_pd(kb, response, ok):
    rec = {k: v for k, v in TESTER_H1.items() if k not in ("progression_timing", "treatment_phase")}
    res = kb.evaluate(hcc(**{**rec, "response": response}))
    assert ("ablation" in ids(res)) is ok
    assert "ablation" not in possible_ids(res)  # decided either way


@pytest.mark.parametrize("timing", ["after_response", "on_treatment"])
@pytest.mark.parametrize("route", ["ablation", "resection", "resection_after_haic"])
def test_conversion_never_with_progression_recorded(kb, timing, route):
    """Even a record whose latest response is still CR/PR: a recorded progression sends it to §1.4."""
    base = dict(response="pr", progression_timing=timing, treatment_phase="full", child_pugh_score=6, ecog=1)
    route_data = {
        "ablation": dict(vascular_invasion="none", max_tumor_diameter="3cm", tumor_count=1, **ON_TI),
        "resection": dict(residual_liver_volume="45%", r0_achievable=True, surgical_contraindication=False, **ON_TI),
        "resection_after_haic": dict(residual_liver_volume="45%", r0_achievable=True, surgical_contraindication=False,
                                     current_therapy=["haic", "lenvatinib", "camrelizumab"]),
    }[route]
    res = kb.evaluate(hcc(**base, **route_data))
    assert not {"ablation", "resection"} & (ids(res) | possible_ids(res))
    assert "second_line_systemic" in ids(res)


# ---- issue 10 item 6: every targeted-immune + local rule within Child-Pugh A/B and ECOG PS 0~2 -------------
# (hcc_systemic_fit: §1.1 能够耐受联合治疗的前提下; the numbers of §1.2 TACE ¶, 肝功能Child-Pugh A/B级、ECOG PS 0~2)
TI_LOCAL = {"local_therapy+targeted_immune", "tace+targeted_immune", "haic+targeted_immune",
            "radiotherapy+targeted_immune"}
TI_LOCAL_RECORDS = {   # each reaches every TI + local rule it can when fit
    "IIa": dict(cnlc_stage="IIa", radical_therapy_suitable=False, **INITIAL),
    "IIb": dict(cnlc_stage="IIb", radical_therapy_suitable=False, high_tumor_burden=True, **INITIAL),
    "IIIa": dict(cnlc_stage="IIIa", radical_therapy_suitable=False, vascular_invasion="portal_vein", **INITIAL),
    "IIIb": dict(cnlc_stage="IIIb", intrahepatic_predominant=True, oligometastasis=True,
                 lymph_node_metastasis="hilar", **INITIAL),
    "IIb_tace_refractory": dict(cnlc_stage="IIb", radical_therapy_suitable=False, high_tumor_burden=False,
                                tace_sessions=3, response="pd", **AFTER_TACE),
    "IIIa_on_ti": dict(cnlc_stage="IIIa", radical_therapy_suitable=False, vascular_invasion="portal_vein",
                       tumor_thrombus_regressed=False, response="sd", prior_therapies=[],
                       current_therapy=["lenvatinib", "sintilimab"]),
}


def test_issue10_iia_iib_child_pugh_11_ecog_3_gets_no_targeted_immune_local(kb):
    for stage in ("IIa", "IIb"):
        res = kb.evaluate(hcc(**TI_LOCAL_RECORDS[stage], child_pugh_score=11, ecog=3))
        assert not TI_LOCAL & (ids(res) | possible_ids(res)), stage
        # the text names best supportive care only after progression on treatment (§1.4)
        assert "best_supportive_care" not in ids(res) | possible_ids(res)


@pytest.mark.parametrize("score, ok", [(9, True), (10, False)])
@pytest.mark.parametrize("name", sorted(TI_LOCAL_RECORDS))
def test_targeted_immune_local_child_pugh_9_vs_10(kb, name, score, ok):
    got = ids(kb.evaluate(hcc(**TI_LOCAL_RECORDS[name], child_pugh_score=score, ecog=1))) & TI_LOCAL
    assert bool(got) is ok
    if ok:
        assert "local_therapy+targeted_immune" in got


@pytest.mark.parametrize("ecog, ok", [(2, True), (3, False)])
@pytest.mark.parametrize("name", sorted(TI_LOCAL_RECORDS))
def test_targeted_immune_local_ecog_2_vs_3(kb, name, ecog, ok):
    got = ids(kb.evaluate(hcc(**TI_LOCAL_RECORDS[name], child_pugh_score=6, ecog=ecog))) & TI_LOCAL
    assert bool(got) is ok


@pytest.mark.parametrize("name", sorted(TI_LOCAL_RECORDS))
def test_targeted_immune_local_needs_the_scores(kb, name):
    res = kb.evaluate(hcc(**TI_LOCAL_RECORDS[name]))
    assert not TI_LOCAL & ids(res)
    assert "local_therapy+targeted_immune" in possible_ids(res)


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


@pytest.mark.parametrize("regressed, expected", [
    (True, {"ablation"}),                                                        # conversion (§1.3)
    (False, {"local_therapy+targeted_immune", "tace", "radiotherapy+targeted_immune"}),  # thrombus persists
])
def test_conversion_candidate_leaves_the_initial_combinations(kb, regressed, expected):
    """A IIIa responder on targeted-immune therapy: conversion, once its criteria hold (§1.3 建议尽早手术), in place
    of another round of §1.1/§1.2; the grid found both certain before."""
    res = kb.evaluate(hcc(cnlc_stage="IIIa", radical_therapy_suitable=False, vascular_invasion="portal_vein",
                          tumor_thrombus_regressed=regressed, max_tumor_diameter="3cm", tumor_count=2, response="pr",
                          r0_achievable=False,  # not a resection candidate either way
                          child_pugh_score=6, ecog=1, prior_therapies=[], current_therapy=["lenvatinib", "sintilimab"]))
    assert ids(res) == expected
    # PR, but R0 not recorded: resection (§1.3) undecided, so whether it is conversion or §1.1/§1.2 is undecided
    res = kb.evaluate(hcc(cnlc_stage="IIIa", radical_therapy_suitable=False, vascular_invasion="portal_vein",
                          tumor_thrombus_regressed=False, response="pr", child_pugh_score=6, ecog=1,
                          prior_therapies=[], current_therapy=["lenvatinib", "sintilimab"]))
    assert not {"resection", "local_therapy+targeted_immune", "tace"} & ids(res)
    assert {"resection", "local_therapy+targeted_immune", "tace"} <= possible_ids(res)
