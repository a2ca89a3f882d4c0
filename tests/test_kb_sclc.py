"""Refractory SCLC (seed 000 §二 (1), §三, Table 3) and precision techniques (Table 6):
exact recommendation sets per stratum, and the boundaries of the definition."""
import pytest

from support import EXAMPLES, graded, lung

SECOND_LINE = {
    ("topotecan", "strong", "I", 92), ("amrubicin", "strong", "I", 92),
    ("lurbinectedin", "moderate", "III", 92), ("bendamustine", "moderate", "V", 92),
    ("anlotinib+irinotecan", "weak", "V", 68), ("anlotinib+docetaxel", "weak", "V", 68),
    ("anlotinib+penpulimab", "weak", "III", 62), ("surufatinib+toripalimab", "weak", "III", 62),
    ("apatinib+camrelizumab", "weak", "III", 62), ("anlotinib+sintilimab", "weak", "V", 62),
    ("paclitaxel+pembrolizumab", "weak", "V", 62),
}
THIRD_LINE = {("anlotinib", "strong", "I", 96), ("apatinib", "moderate", "V", 96)}
TABLE6 = {("organoid_drug_screening", "moderate", "II", 64), ("minipdx_testing", "moderate", "II", 66)}
BRONCHOSCOPY = ("bronchoscopic_intervention", "strong", "II", 90)
# a fully recorded SCLC patient: nothing else is even possible
RECORDED = dict(histology="sclc", sclc_stage="extensive", prior_therapies=["etoposide", "carboplatin", "atezolizumab"],
                mutations=[], central_airway_stenosis=False)


def test_second_line(kb):
    res = kb.evaluate(lung(tfi="45d", line=2, **RECORDED))
    assert graded(res) == SECOND_LINE | TABLE6
    assert res.not_recommended == [] and res.contraindicated == [] and res.possible == []
    assert {"refractory_sclc", "refractory_lung_cancer", "refractory_sclc_second_line"} <= set(res.derived)
    notes = {r.id: r.notes for r in res.recommendations}
    assert "tolerate chemotherapy" in notes["anlotinib+irinotecan"][0]
    assert "PD-1" in notes["paclitaxel+pembrolizumab"][0]
    assert {r.source.locator.split(";")[0] for r in res.recommendations if r.id in dict.fromkeys(x[0] for x in SECOND_LINE)} \
        == {"Table 3 (强推荐, 化疗)", "Table 3 (中等推荐, 化疗)", "Table 3 (弱推荐, 抗血管生成药物联合化疗)",
            "Table 3 (弱推荐, 免疫联合抗血管生成药物)", "Table 3 (弱推荐, 免疫联合化疗)"}


@pytest.mark.parametrize("line", [3, 4, 6])
def test_third_line_or_later(kb, line):
    res = kb.evaluate(lung(tfi="45d", line=line, **RECORDED))
    assert graded(res) == THIRD_LINE | TABLE6
    assert {(n.id, n.consensus) for n in res.not_recommended} == {("dual_ici", 46), ("ici_monotherapy", 46)}
    assert all("46%" in n.reason for n in res.not_recommended)


def test_first_line_is_neither_stratum(kb):
    res = kb.evaluate(lung(tfi="45d", line=1, **RECORDED))
    assert graded(res) == TABLE6  # refractory all the same: Table 6 applies to any refractory lung cancer
    assert "refractory_sclc_second_line" not in res.derived


@pytest.mark.parametrize("tfi, refractory", [("89d", True), ("90d", False), ("91d", False), (89, True),
                                             ("12wk", True), ("13wk", False), ("3mo", False), ("0d", True)])
def test_tfi_boundary(kb, tfi, refractory):
    res = kb.evaluate(lung(tfi=tfi, line=2, **RECORDED))
    assert ("refractory_sclc" in res.derived) is refractory
    assert graded(res) == (SECOND_LINE | TABLE6 if refractory else set())


@pytest.mark.parametrize("progression_date, refractory", [("2026-04-14", True), ("2026-04-15", False), ("2026-04-16", False)])
def test_tfi_from_dates(kb, progression_date, refractory):
    # 2026-01-15 + 89 d = 2026-04-14; + 90 d = 2026-04-15
    res = kb.evaluate(lung(first_line_end_date="2026-01-15", progression_date=progression_date, line=2, **RECORDED))
    assert ("refractory_sclc" in res.derived) is refractory


def test_tfi_unknown_makes_everything_possible_not_false(kb):
    res = kb.evaluate(lung(line=2, **RECORDED))
    assert graded(res) == set()
    assert {p.id for p in res.possible} == {x[0] for x in SECOND_LINE | TABLE6}
    # tfi decides them all, and so does induction_response (pd: progression during first line, refractory)
    deciding = {m.attribute: m.decides for m in res.missing}
    assert deciding["tfi"] == deciding["induction_response"] == len(SECOND_LINE | TABLE6)
    assert res.missing[0].attribute in ("tfi", "induction_response")


def test_airway_stenosis(kb):
    res = kb.evaluate(lung(tfi="30d", line=2, **{**RECORDED, "central_airway_stenosis": True}))
    assert graded(res) == SECOND_LINE | TABLE6 | {BRONCHOSCOPY}
    assert "function of the airway" in next(r for r in res.recommendations if r.id == BRONCHOSCOPY[0]).notes[0]


def test_not_sclc_or_not_lung(kb):
    assert graded(kb.evaluate(lung(histology="adenocarcinoma", tfi="30d", line=2, mutations=[]))) == set()
    hcc = kb.evaluate({"id": "h", "cancer": "hcc", "histology": "sclc", "tfi": "30d", "line": 2})
    assert "refractory_sclc" not in hcc.derived and graded(hcc) == set()


def test_explain_shows_actual_values_and_sources(kb):
    ex = kb.explain(EXAMPLES / "sclc_dates.json", "anlotinib+irinotecan")
    assert ex.holds and ex.proof.rule.id == "sclc.second_line.anti_angiogenic_chemo"
    assert ex.proof.source.document == "000_5cbf5f071b6601f8.txt" and ex.proof.source.locator.startswith("Table 3")
    setting = ex.proof.children[0]
    refractory = next(c for c in setting.children if c.conclusion == "refractory_sclc")
    tfi = next(c for c in refractory.conditions if c.attribute == "tfi")
    assert tfi.text == "tfi < 90 d (patient: 45 d); holds when progression_date is before 2026-04-15"
    assert tfi.changes_on == "2026-04-15"
    assert ex.proof.weakest_link.evidence == "V" and ex.proof.weakest_link.consensus == 68


def test_why_not_at_90_days_says_what_would_change_it(kb):
    wn = kb.why_not(EXAMPLES / "sclc_tfi_90d.json", "topotecan")
    (attempt,) = wn.attempts
    assert [(c.attribute, c.action, c.value) for c in attempt.to_hold] == [("tfi", "set", "89d")]
    deepest = attempt.children[0].children[0]
    assert [c.text for c in deepest.failed] == ["tfi < 90 d (patient: 90 d)"]


def test_chinese_labels(kb):
    res = kb.evaluate(lung(tfi="45d", line=2, **RECORDED), lang="zh")
    assert next(r for r in res.recommendations if r.id == "anlotinib+irinotecan").labels == \
        {"anlotinib": "安罗替尼", "irinotecan": "伊立替康"}


# ---- §二: a small-cell transformation after targeted therapy is subtype (2), not refractory SCLC -------
# Seed 000 §二 (1) 难治性SCLC: 一线标准治疗结束到疾病进展的时间间隔<90 d 的 SCLC — the first line is SCLC's
# (§三); (2) 难治性驱动基因阳性NSCLC: …驱动基因阳性NSCLC靶向治疗后组织学转化 — Table 4, 组织学转化（二线）.
TRANSFORMATION_ROW = ("etoposide+platinum", "moderate", "IV", 97)
SEED_004_AFTER_RETEST = {("confirm_progression", None, None, None), ("chemotherapy", None, None, None)}
ISSUE10_TRANSFORMED = {"id": "p", "cancer": "lung", "histology": "sclc", "mutations": ["egfr_19del"], "line": 2,
                       "prior_therapies": ["osimertinib"], "progression": "extensive", "transformation": "sclc",
                       "rebiopsy_after_progression": True, "first_line_end_date": "2025-06-01",
                       "progression_date": "2025-06-01"}


def test_issue10_transformed_sclc_is_not_refractory_sclc(kb):
    res = kb.evaluate(ISSUE10_TRANSFORMED)
    assert "refractory_sclc" not in res.derived and "refractory_sclc_second_line" not in res.derived
    assert {"small_cell_transformation", "refractory_driver_positive_nsclc", "nsclc_transformation_second_line"} <= set(res.derived)
    assert graded(res) == {TRANSFORMATION_ROW} | TABLE6 | SEED_004_AFTER_RETEST
    assert res.not_recommended == []
    # unrecorded airway stenosis (Table 6) and PD-L1 (seed 004 §七): possible, and nothing of Table 3
    assert {p.id: p.missing for p in res.possible} == {"bronchoscopic_intervention": ["central_airway_stenosis"],
                                                      "immune_checkpoint_inhibitor": ["pd_l1_tps"]}
    why = kb.why_not(ISSUE10_TRANSFORMED, "topotecan")
    assert why.holds is False


@pytest.mark.parametrize("change, table3", [
    (dict(transformation="sclc"), False),                                            # transformed: Table 4
    (dict(transformation="none", prior_therapies=["etoposide", "carboplatin"], mutations=[]), True),
    (dict(transformation=None, prior_therapies=["etoposide", "carboplatin", "atezolizumab"]), True),
    (dict(transformation=None, prior_therapies=None, mutations=None, progression=None,
          rebiopsy_after_progression=None), None),     # therapies unrecorded: a transformation is possible
    (dict(transformation="none", prior_therapies=None, mutations=None, progression=None,
          rebiopsy_after_progression=None), True),     # recorded: no transformation, whatever the therapies
    (dict(transformation=None), None),                                               # after osimertinib, unrecorded
])
def test_transformation_boundary_for_table3(kb, change, table3):
    res = kb.evaluate({**ISSUE10_TRANSFORMED, **change})
    second_line = {x[0] for x in SECOND_LINE}
    got = {r.id for r in res.recommendations}
    possible = {p.id for p in res.possible}
    if table3 is True:
        assert second_line <= got and "refractory_sclc" in res.derived
    elif table3 is False:
        assert not second_line & (got | possible)
    else:
        assert second_line <= possible and not second_line & got
        missing = next(p for p in res.possible if p.id == "topotecan").missing
        # therapies unrecorded: they are data to record (read differently before: the record counted as
        # de novo, Table 3 certain), and they are asked first — transformation applies only after targeted
        # therapy (its `applies when`; asked as well before issue 11); osimertinib recorded: only the
        # transformation is missing
        unrecorded = "prior_therapies" in change and change["prior_therapies"] is None
        assert ("prior_therapies" in missing) is unrecorded
        assert ("transformation" in missing) is not unrecorded


def test_transformed_sclc_third_line_gets_table4_not_table3(kb):
    res = kb.evaluate({**ISSUE10_TRANSFORMED, "line": 3, "prior_therapies": ["osimertinib", "etoposide", "carboplatin"]})
    assert ("anlotinib", "moderate", "I", 72) in graded(res)          # Table 4 ≥三线
    assert ("anlotinib", "strong", "I", 96) not in graded(res)        # Table 3 ≥三线
    assert res.not_recommended == []                                  # Table 3's 46% refusals are SCLC's


def test_transformed_sclc_is_not_imforte_population(kb):
    # IMforte: 初治的广泛期小细胞肺癌患者 — not an SCLC transformed after osimertinib
    base = dict(histology="sclc", sclc_stage="extensive", induction_regimen=["atezolizumab", "carboplatin", "etoposide"],
                induction_cycles=4, induction_response="pr", line=1)
    assert "atezolizumab+lurbinectedin" in {r.id for r in kb.evaluate(lung(prior_therapies=["carboplatin", "etoposide", "atezolizumab"], **base)).recommendations}
    res = kb.evaluate(lung(prior_therapies=["osimertinib", "carboplatin", "etoposide", "atezolizumab"], transformation="sclc",
                           mutations=["egfr_19del"], **base))
    assert "atezolizumab+lurbinectedin" not in {r.id for r in res.recommendations} | {p.id for p in res.possible}


# ---- primary-refractory SCLC: progression during first-line induction (issue 10) ---------------------
# §二 (1): 一线标准治疗结束到疾病进展的时间间隔 <90 d — progressing during first-line therapy is before its end.
@pytest.mark.parametrize("response, refractory", [("pd", True), ("sd", None), ("pr", None), ("cr", None)])
def test_progression_during_induction_is_refractory_without_tfi(kb, response, refractory):
    res = kb.evaluate(lung(line=2, induction_response=response, **RECORDED))
    if refractory:
        assert "refractory_sclc" in res.derived
        assert graded(res) == SECOND_LINE | TABLE6 and res.possible == []
        assert kb.explain(lung(line=2, induction_response=response, **RECORDED), "refractory_sclc").proof.rule.id \
            == "refractory_sclc.progression_during_first_line"
    else:
        # a response or stable disease says nothing of the interval: tfi (or the dates) still decide
        assert graded(res) == set()
        assert {p.id for p in res.possible} == {x[0] for x in SECOND_LINE | TABLE6}
        assert [m.attribute for m in res.missing][:1] == ["tfi"]


@pytest.mark.parametrize("tfi, refractory", [("89d", True), ("90d", False)])
def test_recorded_tfi_decides_even_with_induction_pd(kb, tfi, refractory):
    # a recorded interval says first-line therapy ended before progression: the tfi statement decides
    res = kb.evaluate(lung(line=2, induction_response="pd", tfi=tfi, **RECORDED))
    assert ("refractory_sclc" in res.derived) is refractory
    assert graded(res) == (SECOND_LINE | TABLE6 if refractory else set())


def test_primary_refractory_example(kb):
    res = kb.evaluate(EXAMPLES / "sclc_primary_refractory.json")
    assert graded(res) == SECOND_LINE | TABLE6
    assert res.possible == [] and res.missing == []


def test_primary_refractory_after_transformation_is_not_refractory_sclc(kb):
    res = kb.evaluate(lung(line=2, induction_response="pd", histology="sclc", transformation="sclc",
                           prior_therapies=["osimertinib", "carboplatin", "etoposide"], mutations=["egfr_19del"]))
    assert "refractory_sclc" not in res.derived


# ---- absence is not a fact: an SCLC record without its prior therapies may be a transformation -------
# A tester's record: second line, progression during induction, nothing else. Completed with osimertinib,
# EGFR 19del, extensive progression and transformation sclc it is a small-cell transformation (Table 4,
# seed 000 §二 (2); 004 §三 在靶向药压力下…转变为小细胞肺癌), where Table 3 does not apply. Read differently
# before: `prior_therapies is known and …` made the unrecorded therapies "no targeted therapy", so
# refractory_sclc, topotecan and all of Table 3 were certain.
TESTER_SCLC = {"id": "s", "cancer": "lung", "histology": "sclc", "line": 2, "induction_response": "pd"}


def test_tester_sclc_without_prior_therapies_is_possible(kb):
    res = kb.evaluate(TESTER_SCLC)
    assert graded(res) == set()
    assert "refractory_sclc" not in res.derived
    possible = {p.id: p.missing for p in res.possible}
    assert {x[0] for x in SECOND_LINE | TABLE6} <= set(possible)
    for rid in (x[0] for x in SECOND_LINE):  # relevance first: transformation only after targeted therapy
        assert "prior_therapies" in possible[rid] and "transformation" not in possible[rid]
    asked = {m.attribute for m in res.missing}
    assert "prior_therapies" in asked and "transformation" not in asked
    exp = kb.explain(TESTER_SCLC, "refractory_sclc")
    assert exp.verdict == "undecided" and exp.holds is None
    assert kb.explain(TESTER_SCLC, "small_cell_transformation").verdict == "undecided"


def test_tester_sclc_completed_as_a_transformation_is_table4(kb):
    res = kb.evaluate({**TESTER_SCLC, "prior_therapies": ["osimertinib"], "mutations": ["egfr_19del"],
                       "progression": "extensive", "transformation": "sclc"})
    assert "small_cell_transformation" in res.derived and "refractory_sclc" not in res.derived
    assert TRANSFORMATION_ROW in graded(res)
    assert not {x[0] for x in SECOND_LINE} & ({r.id for r in res.recommendations} | {p.id for p in res.possible})


@pytest.mark.parametrize("record", [
    dict(prior_therapies=["carboplatin", "etoposide", "atezolizumab"]),   # therapies recorded, none targeted
    dict(prior_therapies=[]),                                              # recorded: nothing before
    dict(transformation="none"),                                           # no transformation recorded
])
def test_tester_sclc_with_the_data_recorded_is_table3(kb, record):
    res = kb.evaluate({**TESTER_SCLC, **record})
    assert "refractory_sclc" in res.derived
    assert {x[0] for x in SECOND_LINE} <= {r.id for r in res.recommendations}


# small_cell_transformation / squamous_transformation (resistance.rules): a recorded transformation counts;
# unrecorded, it is possible only after targeted therapy, and undecided while the therapies are unrecorded.
@pytest.mark.parametrize("concept, value", [("small_cell_transformation", "sclc"), ("squamous_transformation", "squamous")])
@pytest.mark.parametrize("transformation, prior, verdict", [
    ("VALUE", ["osimertinib"], "holds"),
    ("VALUE", ["carboplatin", "etoposide"], "holds"),   # recorded: counts (the record states the transformation)
    ("VALUE", None, "holds"),
    ("none", ["osimertinib"], "fails"),
    ("none", None, "fails"),
    (None, ["osimertinib"], "undecided"),               # after targeted therapy, not re-biopsied: may have transformed
    (None, ["gefitinib", "carboplatin"], "undecided"),
    (None, ["carboplatin", "etoposide"], "fails"),      # no targeted therapy: no transformation after one
    (None, [], "fails"),
    (None, None, "undecided"),                          # therapies unrecorded (read differently before: fails)
])
def test_transformation_concepts_boundary(kb, concept, value, transformation, prior, verdict):
    histology = "sclc" if value == "sclc" else "adenocarcinoma"
    record = lung(histology=histology, line=2, transformation=value if transformation == "VALUE" else transformation,
                  prior_therapies=prior)
    record = {k: v for k, v in record.items() if v is not None}
    assert kb.explain(record, concept).verdict == verdict
