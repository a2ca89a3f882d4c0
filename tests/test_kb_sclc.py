"""Refractory SCLC (seed 000 §二 (1), §三, Table 3) and precision techniques (Table 6): what the
decision tables (facts/lung/sclc.tests.yaml) do not state — notes, sources, explanations, why-not,
labels, the order and counts of the missing data."""
import pytest

from support import EXAMPLES, lung

SECOND_LINE = {
    ("topotecan", "strong", "I", 92), ("amrubicin", "strong", "I", 92),
    ("lurbinectedin", "moderate", "III", 92), ("bendamustine", "moderate", "V", 92),
    ("anlotinib+irinotecan", "weak", "V", 68), ("anlotinib+docetaxel", "weak", "V", 68),
    ("anlotinib+penpulimab", "weak", "III", 62), ("surufatinib+toripalimab", "weak", "III", 62),
    ("apatinib+camrelizumab", "weak", "III", 62), ("anlotinib+sintilimab", "weak", "V", 62),
    ("paclitaxel+pembrolizumab", "weak", "V", 62),
}
TABLE6 = {("organoid_drug_screening", "moderate", "II", 64), ("minipdx_testing", "moderate", "II", 66)}
BRONCHOSCOPY = ("bronchoscopic_intervention", "strong", "II", 90)
# a fully recorded SCLC patient: nothing else is even possible
RECORDED = dict(histology="sclc", sclc_stage="extensive", prior_therapies=["etoposide", "carboplatin", "atezolizumab"],
                mutations=[], central_airway_stenosis=False)


def test_second_line_notes_and_sources(kb):
    res = kb.evaluate(lung(tfi="45d", line=2, **RECORDED))
    notes = {r.id: r.notes for r in res.recommendations}
    assert "tolerate chemotherapy" in notes["anlotinib+irinotecan"][0]
    assert "PD-1" in notes["paclitaxel+pembrolizumab"][0]
    assert {r.source.locator.split(";")[0] for r in res.recommendations if r.id in dict.fromkeys(x[0] for x in SECOND_LINE)} \
        == {"Table 3 (强推荐, 化疗)", "Table 3 (中等推荐, 化疗)", "Table 3 (弱推荐, 抗血管生成药物联合化疗)",
            "Table 3 (弱推荐, 免疫联合抗血管生成药物)", "Table 3 (弱推荐, 免疫联合化疗)"}


def test_third_line_refusals_give_the_reason(kb):
    res = kb.evaluate(lung(tfi="45d", line=3, **RECORDED))
    assert [n.id for n in res.not_recommended] and all("46%" in n.reason for n in res.not_recommended)


def test_tfi_unknown_names_what_decides(kb):
    res = kb.evaluate(lung(line=2, **RECORDED))
    # tfi decides them all, and so does induction_response (pd: progression during first line, refractory)
    deciding = {m.attribute: m.decides for m in res.missing}
    assert deciding["tfi"] == deciding["induction_response"] == len(SECOND_LINE | TABLE6)
    assert res.missing[0].attribute in ("tfi", "induction_response")


def test_airway_stenosis_note(kb):
    res = kb.evaluate(lung(tfi="30d", line=2, **{**RECORDED, "central_airway_stenosis": True}))
    assert "function of the airway" in next(r for r in res.recommendations if r.id == BRONCHOSCOPY[0]).notes[0]


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
def test_progression_during_induction_proof_and_what_is_asked_first(kb):
    proof = kb.explain(lung(line=2, induction_response="pd", **RECORDED), "refractory_sclc").proof
    assert proof.rule.id == "refractory_sclc.progression_during_first_line"
    # a response says nothing of the interval: tfi (or the dates) is asked first
    res = kb.evaluate(lung(line=2, induction_response="sd", **RECORDED))
    assert [m.attribute for m in res.missing][:1] == ["tfi"]


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
