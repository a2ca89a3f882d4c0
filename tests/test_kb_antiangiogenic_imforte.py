"""Seed 001 (anti-angiogenic combinations in NSCLC: facts/lung/antiangiogenic.rules) and seed 002
(IMforte: facts/lung/imforte.rules): one patient per decision point, recommendation sets exact.

Neither source grades its recommendations, so strength, evidence and consensus are None. Sets are
asserted whole, including what other rule files conclude for the same patient (the interaction is
part of what these tests document).
"""
import pytest

from test_kb_sclc import SECOND_LINE, TABLE6
from support import graded, ids, lung

U = (None, None, None)  # ungraded: strength, evidence, consensus

BCP = "bevacizumab+carboplatin+paclitaxel"
BCPem = "bevacizumab+carboplatin+pemetrexed"
ABCP = "atezolizumab+bevacizumab+carboplatin+paclitaxel"
ERLO_BEV = "bevacizumab+erlotinib"
GEF_BEV = "bevacizumab+gefitinib"
PEM_BEV_MAINT = "bevacizumab+pemetrexed"
CAM_APA = "apatinib+camrelizumab"
LURBI_ATEZO = "atezolizumab+lurbinectedin"

SQUAMOUS_RULE = "antiangiogenic.bevacizumab_squamous"


def g(*regimens):
    return {(r, *U) for r in regimens}


def contraindicated(result):
    return {(c.id, c.rule.id, c.recommended_by.rule.id) for c in result.contraindicated}


def rules_of(result):
    return {(rec.id, rec.rule.id) for rec in result.recommendations}


# ---- seed 001: first line ---------------------------------------------------------------------

# A first-line patient records that nothing was received before (prior_therapies: []): it says no
# induction was given yet (nsclc_first_line_initial) and no targeted therapy under which the tumour could
# have transformed to squamous histology (the bevacizumab contraindication). Read differently before: an
# unrecorded induction_regimen counted as "none yet" and unrecorded therapies as "no targeted therapy".
def first_line(**kw):
    return lung(**{"histology": "adenocarcinoma", "line": 1, "ecog": 1, "mutations": [], "prior_therapies": [], **kw})


@pytest.mark.parametrize("histology", ["adenocarcinoma", "large_cell", "nsclc_nos"])
def test_first_line_driver_negative_nonsquamous(kb, histology):
    res = kb.evaluate(first_line(histology=histology))
    assert graded(res) == g(BCP, BCPem, ABCP)
    assert rules_of(res) == {
        (BCP, "antiangiogenic.first_line.bevacizumab_carboplatin_paclitaxel"),
        (BCPem, "antiangiogenic.first_line.bevacizumab_carboplatin_pemetrexed"),
        (ABCP, "antiangiogenic.first_line.atezolizumab_bevacizumab_carboplatin_paclitaxel"),
    }
    assert res.contraindicated == []


def test_first_line_liver_metastasis_is_a_note_not_a_condition(kb):
    with_mets = kb.evaluate(first_line(liver_metastasis=True))
    without = kb.evaluate(first_line(liver_metastasis=False))
    assert graded(with_mets) == graded(without) == g(BCP, BCPem, ABCP)
    abcp = next(r for r in with_mets.recommendations if r.id == ABCP)
    assert any("liver" in note for note in abcp.notes)  # the JSON's note is English; the seed's words in zh
    zh = dict(zip(kb.compiled.rule(abcp.rule.id).notes, kb.compiled.rule(abcp.rule.id).note_labels))
    assert any("liver" in note and "肝转移" in dict(zh[note]).get("zh", "") for note in abcp.notes)
    assert any("IMpower150" in note and "HR 0.62" in note and "HR 0.78" in note for note in abcp.notes)


def test_first_line_pd_l1_does_not_matter(kb):
    assert graded(kb.evaluate(first_line(pd_l1_tps="0%"))) == g(BCP, BCPem, ABCP)
    assert graded(kb.evaluate(first_line(pd_l1_tps="80%"))) == g(BCP, BCPem, ABCP)


def test_first_line_squamous_contraindication(kb):
    res = kb.evaluate(first_line(histology="squamous"))
    assert graded(res) == set()
    assert contraindicated(res) == {
        (BCP, SQUAMOUS_RULE, "antiangiogenic.first_line.bevacizumab_carboplatin_paclitaxel"),
        (BCPem, SQUAMOUS_RULE, "antiangiogenic.first_line.bevacizumab_carboplatin_pemetrexed"),
        (ABCP, SQUAMOUS_RULE, "antiangiogenic.first_line.atezolizumab_bevacizumab_carboplatin_paclitaxel"),
    }
    for c in res.contraindicated:
        assert "cavitation, necrosis and bleeding" in c.reason
        assert "空洞、坏死和出血的肺鳞癌" in dict(kb.compiled.rule(c.rule.id).reason_labels)["zh"]
        assert c.source.document == "001_585727c46d7c405b.txt"
    assert "squamous_nsclc" in res.derived


def test_squamous_contraindication_explained(kb):
    exp = kb.explain(first_line(histology="squamous"), BCP)
    assert exp.holds is False
    assert [rm.rule.id for rm in exp.removed_by] == [SQUAMOUS_RULE]


@pytest.mark.parametrize("mutation", ["egfr_19del", "egfr_l858r"])
def test_first_line_egfr_sensitising(kb, mutation):
    res = kb.evaluate(first_line(mutations=[mutation]))
    assert graded(res) == g(ERLO_BEV, GEF_BEV)
    gef = next(r for r in res.recommendations if r.id == GEF_BEV)
    assert gef.grade.startswith("II级推荐")
    erlo = next(r for r in res.recommendations if r.id == ERLO_BEV)
    assert erlo.grade is None
    assert any("CTONG1509" in n for n in erlo.notes)
    assert any("NEJ026" in n for n in erlo.notes)
    assert any("JO25567" in n for n in erlo.notes)
    assert any("NMPA" in n and "2019" in n for n in erlo.notes)


def test_first_line_egfr_exon20ins_is_not_sensitising(kb):
    # exon 20 insertion: driver-positive but not an EGFR-sensitising mutation -> no TKI +
    # bevacizumab; seed 000 counts it as refractory driver-positive NSCLC, so Table 6 applies
    assert graded(kb.evaluate(first_line(mutations=["egfr_exon20ins"]))) == {
        ("organoid_drug_screening", "moderate", "II", 64), ("minipdx_testing", "moderate", "II", 66)}


def test_first_line_egfr_squamous_contraindicated(kb):
    res = kb.evaluate(first_line(histology="squamous", mutations=["egfr_l858r"]))
    assert graded(res) == set()
    assert {c.id for c in res.contraindicated} == {ERLO_BEV, GEF_BEV}


def test_first_line_needs_molecular_result(kb):
    # mutations unknown: driver status unknown -> the regimens are possible, not recommended
    res = kb.evaluate(lung(histology="adenocarcinoma", line=1))
    assert graded(res) == set()
    possible = {p.id for p in res.possible}
    assert {BCP, BCPem, ABCP, ERLO_BEV, GEF_BEV} <= possible
    assert "mutations" in {m.attribute for m in res.missing}


def test_second_line_is_not_first_line(kb):
    assert graded(kb.evaluate(first_line(line=2))) == set()


# nsclc_first_line_initial: line 1 and no induction given yet — induction_regimen: [] recorded, or, with no
# induction recorded, prior_therapies: [] (an induction's drugs are prior therapies). Unrecorded, it is unknown.
@pytest.mark.parametrize("record, verdict, missing", [
    (dict(prior_therapies=[]), "holds", None),
    (dict(prior_therapies=[], induction_regimen=[]), "holds", None),
    # first line, but the therapies unrecorded: a squamous transformation after targeted therapy stays
    # possible; the therapies are asked first (transformation applies only after targeted therapy)
    (dict(prior_therapies=None, induction_regimen=[]), "holds", {"prior_therapies"}),
    (dict(prior_therapies=None), "undecided", {"induction_regimen", "prior_therapies"}),   # read differently before: holds
    (dict(prior_therapies=["cisplatin", "pemetrexed"]), "undecided", {"induction_regimen"}),  # e.g. adjuvant chemo
    (dict(prior_therapies=None, induction_regimen=["pemetrexed", "carboplatin"]), "fails", None),  # after induction
    (dict(prior_therapies=[], induction_regimen=["pemetrexed", "carboplatin"]), "fails", None),    # the regimen decides
    (dict(prior_therapies=[], line=None), "undecided", {"line"}),
])
def test_first_line_initial_boundary(kb, record, verdict, missing):
    rec = {k: v for k, v in first_line(**record).items() if v is not None}
    assert kb.explain(rec, "nsclc_first_line_initial").verdict == verdict
    res = kb.evaluate(rec)
    if verdict == "holds" and missing is None:
        assert graded(res) == g(BCP, BCPem, ABCP)
    elif missing:
        assert not {BCP, BCPem, ABCP} & ids(res)
        assert missing <= set({p.id: p.missing for p in res.possible}[BCP])
    else:
        assert not {BCP, BCPem, ABCP} & (ids(res) | {p.id for p in res.possible})


def test_first_line_after_adjuvant_targeted_therapy_needs_transformation(kb):
    # induction_regimen: [] says first line; an adjuvant EGFR-TKI given before is a targeted therapy, under
    # which the tumour may have transformed to squamous histology: the bevacizumab regimens are possible
    # until the transformation is recorded
    rec = first_line(mutations=["egfr_19del"], prior_therapies=["osimertinib"], induction_regimen=[])
    res = kb.evaluate(rec)
    assert not {ERLO_BEV, GEF_BEV} & ids(res)
    assert {p.id: p.missing for p in res.possible}[ERLO_BEV] == ["transformation"]
    assert {ERLO_BEV, GEF_BEV} <= ids(kb.evaluate({**rec, "transformation": "none"}))
    assert {ERLO_BEV, GEF_BEV} <= {c.id for c in kb.evaluate({**rec, "transformation": "squamous"}).contraindicated}


# ---- seed 001: maintenance ----------------------------------------------------------------------

def maintenance(**kw):
    # the induction's drugs are the prior therapies (none targeted: no transformation after one)
    regimen = kw.get("induction_regimen", ["pemetrexed", "carboplatin", "bevacizumab"])
    return first_line(**{"induction_regimen": regimen, "prior_therapies": regimen,
                         "induction_cycles": 4, "induction_response": "pr", **kw})


@pytest.mark.parametrize("response", ["cr", "pr", "sd"])
def test_maintenance_after_bevacizumab_platinum_induction(kb, response):
    res = kb.evaluate(maintenance(induction_response=response))
    # after induction, the first-line (induction) regimens are no longer proposed
    assert graded(res) == g(PEM_BEV_MAINT)
    notes = next(r for r in res.recommendations if r.id == PEM_BEV_MAINT).notes
    assert any("POINTBREAK" in n for n in notes) and any("AVAPERL" in n for n in notes)


def test_maintenance_without_line_is_possible(kb):
    # 维持治疗 is still first line; the induction data stay in the record after progression, so they do not
    # imply the line (read differently before: an unrecorded line counted as first line, certain)
    rec = maintenance()
    del rec["line"]
    res = kb.evaluate(rec)
    assert graded(res) == set()
    assert {p.id: p.missing for p in res.possible}[PEM_BEV_MAINT] == ["line"]
    assert kb.explain(rec, "nsclc_maintenance_after_bevacizumab_platinum").verdict == "undecided"


def test_maintenance_cisplatin_paclitaxel_induction(kb):
    rec = maintenance(induction_regimen=["paclitaxel", "cisplatin", "bevacizumab"])
    assert graded(kb.evaluate(rec)) == g(PEM_BEV_MAINT)


@pytest.mark.parametrize("change", [
    {"induction_response": "pd"},                                  # progression on induction
    {"induction_regimen": ["pemetrexed", "carboplatin"]},          # no bevacizumab in induction
    {"induction_regimen": ["pemetrexed", "bevacizumab"]},          # no platinum doublet
    {"line": 2},                                                   # a later line, not maintenance
])
def test_no_maintenance(kb, change):
    assert PEM_BEV_MAINT not in ids(kb.evaluate(maintenance(**change)))


def test_maintenance_squamous_contraindicated(kb):
    res = kb.evaluate(maintenance(histology="squamous"))
    assert graded(res) == set()
    assert contraindicated(res) == {(PEM_BEV_MAINT, SQUAMOUS_RULE, "antiangiogenic.maintenance.pemetrexed_bevacizumab")}


# ---- seed 001: later lines -----------------------------------------------------------------------

def test_after_first_line_targeted_therapy(kb):
    # progression not recorded: only this file's rules decide (seed 004's need `progression`); re-biopsied,
    # no transformation: still the non-squamous NSCLC of §4.1
    res = kb.evaluate(lung(histology="adenocarcinoma", line=2, mutations=["egfr_19del"], prior_therapies=["gefitinib"],
                           transformation="none"))
    assert graded(res) == g(BCP, BCPem)
    assert {r.rule.id for r in res.recommendations} == {"antiangiogenic.after_targeted.bevacizumab_platinum_doublet"}


def test_after_first_line_targeted_therapy_with_oligoprogression(kb):
    # the same patient with oligoprogression: seed 004 adds confirming progression and continuing
    # the TKI with local therapy
    res = kb.evaluate(lung(histology="adenocarcinoma", line=2, mutations=["egfr_19del"], prior_therapies=["gefitinib"],
                           progression="oligo", transformation="none"))
    # transformation "none" is a re-biopsy result (rebiopsy_done) with no new target: seed 004 §七 chemotherapy too
    assert graded(res) == g(BCP, BCPem, "confirm_progression", "continue_tki+local_therapy", "chemotherapy")


# Issue 10: a small-cell transformation is not the 晚期非鳞NSCLC of seed 001 §4.1; its chemotherapy is seed 000
# Table 4 组织学转化 (etoposide + platinum). Transformation unrecorded after a TKI: the setting is undecided.
@pytest.mark.parametrize("transformation, bevacizumab", [("none", True), ("sclc", False), (None, None), ("squamous", False)])
def test_after_targeted_therapy_transformation_boundary(kb, transformation, bevacizumab):
    res = kb.evaluate(lung(histology="adenocarcinoma", line=2, mutations=["egfr_19del"], prior_therapies=["gefitinib"],
                           transformation=transformation))
    got, possible = ids(res), {p.id for p in res.possible}
    removed = {c.id for c in res.contraindicated}
    if bevacizumab is True:
        assert {BCP, BCPem} <= got
    elif bevacizumab is None:
        assert {BCP, BCPem} <= possible and not {BCP, BCPem} & got
        assert "transformation" in next(p for p in res.possible if p.id == BCPem).missing
    elif transformation == "sclc":
        assert not {BCP, BCPem} & (got | possible | removed)
        assert "driver_positive_nsclc_after_targeted_therapy" not in res.derived
    else:  # squamous: the setting holds, the §4.1 contraindication removes the regimens, with the reason
        assert not {BCP, BCPem} & got and {BCP, BCPem} <= removed


def test_issue10_small_cell_transformation_gets_no_bevacizumab_doublet(kb):
    record = {"id": "p", "cancer": "lung", "histology": "adenocarcinoma", "mutations": ["egfr_19del"], "line": 2,
              "prior_therapies": ["osimertinib"], "progression": "extensive", "transformation": "sclc",
              "rebiopsy_after_progression": True, "first_line_end_date": "2025-06-01", "progression_date": "2025-06-01"}
    res = kb.evaluate(record)
    assert not {BCP, BCPem} & (ids(res) | {p.id for p in res.possible})
    assert ("etoposide+platinum", "moderate", "IV", 97) in graded(res)
    assert not any("bevacizumab" in r.items for r in res.recommendations)


@pytest.mark.parametrize("record, expected", [
    # third line after osimertinib and chemotherapy, transformed to SCLC: no seed-001 NSCLC third line
    (dict(transformation="sclc"), set()),
    (dict(transformation="none"), {"anlotinib", "apatinib", CAM_APA}),
    (dict(transformation="squamous"), {"anlotinib", CAM_APA}),      # apatinib: 晚期非鳞NSCLC only
])
def test_third_line_after_tki_transformation(kb, record, expected):
    res = kb.evaluate(lung(histology="adenocarcinoma", line=3, mutations=["egfr_19del"],
                           prior_therapies=["osimertinib", "carboplatin", "pemetrexed"], **record))
    seed001 = {r.id for r in res.recommendations if any(s.source.document == "001_585727c46d7c405b.txt" for s in r.support)}
    assert seed001 - {BCP, BCPem} == expected


def test_after_first_line_immunotherapy(kb):
    res = kb.evaluate(lung(histology="adenocarcinoma", line=2, mutations=[],
                           prior_therapies=["pembrolizumab", "carboplatin", "pemetrexed"]))
    # the ICI was given with chemotherapy: camrelizumab + apatinib (after chemotherapy) too
    assert graded(res) == g(BCP, BCPem, CAM_APA)
    assert {r.rule.id for r in res.recommendations if r.id in (BCP, BCPem)} == {
        "antiangiogenic.after_immunotherapy.bevacizumab_platinum_doublet"}


# A tester's finding: examples/patients/antiangio_after_immunotherapy.json gets both doublets as certain, and
# the record completed with transformation: squamous contraindicates them. The verdict is right for the record
# as it is: its prior therapies are recorded and hold no targeted drug, and a histological transformation is
# one after targeted therapy (CONTRACT §1 transformation; seed 004 §三: 肺腺癌在靶向药压力下，可能部分转变为小细胞
# 肺癌或鳞癌; seed 000 §二 (2): 驱动基因阳性NSCLC靶向治疗后组织学转化), so no completion consistent with the record
# holds one. A transformation recorded anyway counts (the record states squamous histology now, §4.1: 并不适用于
# 易发生空洞、坏死和出血的肺鳞癌). With the therapies unrecorded, or after targeted therapy, it stays undecided.
def test_tester_after_immunotherapy_example(kb):
    from support import EXAMPLES
    import json
    rec = json.loads((EXAMPLES / "antiangio_after_immunotherapy.json").read_text())
    res = kb.evaluate(rec)
    assert {BCP, BCPem} <= ids(res) and res.possible == [] and res.missing == []
    assert kb.explain(rec, "squamous_transformation").verdict == "fails"
    recorded = kb.evaluate({**rec, "transformation": "squamous"})
    assert {BCP, BCPem} <= {c.id for c in recorded.contraindicated}
    # the therapies unrecorded: the setting and the transformation are both undecided
    unrecorded = {k: v for k, v in rec.items() if k != "prior_therapies"}
    res = kb.evaluate(unrecorded)
    assert not {BCP, BCPem} & ids(res)
    assert "prior_therapies" in {p.id: p.missing for p in res.possible}[BCP]
    assert kb.explain(unrecorded, "squamous_transformation").verdict == "undecided"


def test_after_immunotherapy_monotherapy_only(kb):
    res = kb.evaluate(lung(histology="adenocarcinoma", line=2, mutations=[], prior_therapies=["pembrolizumab"]))
    assert graded(res) == g(BCP, BCPem)


def test_after_immunotherapy_squamous(kb):
    res = kb.evaluate(lung(histology="squamous", line=2, mutations=[],
                           prior_therapies=["pembrolizumab", "carboplatin", "paclitaxel"]))
    assert graded(res) == g(CAM_APA)
    assert {c.id for c in res.contraindicated} == {BCP, BCPem}


def test_after_chemotherapy_second_line(kb):
    res = kb.evaluate(lung(histology="adenocarcinoma", line=2, mutations=[], prior_therapies=["cisplatin", "pemetrexed"]))
    assert graded(res) == g(CAM_APA)
    notes = res.recommendations[0].notes
    assert any("250 mg" in n for n in notes)


def test_no_camrelizumab_apatinib_without_prior_chemotherapy(kb):
    res = kb.evaluate(lung(histology="adenocarcinoma", line=2, mutations=["egfr_l858r"], prior_therapies=["erlotinib"]))
    assert CAM_APA not in ids(res)


@pytest.mark.parametrize("histology,expected", [
    ("adenocarcinoma", {"anlotinib", "apatinib", CAM_APA}),
    ("squamous", {"anlotinib", CAM_APA}),             # apatinib was studied in non-squamous NSCLC
])
def test_third_line(kb, histology, expected):
    res = kb.evaluate(lung(histology=histology, line=3, mutations=[],
                           prior_therapies=["carboplatin", "pemetrexed", "docetaxel"]))
    assert graded(res) == g(*expected)


def test_fourth_line_is_third_line_or_later(kb):
    res = kb.evaluate(lung(histology="adenocarcinoma", line=4, mutations=[], prior_therapies=["carboplatin", "docetaxel"]))
    assert graded(res) == g("anlotinib", "apatinib", CAM_APA)


def test_second_line_is_not_third_line(kb):
    res = kb.evaluate(lung(histology="adenocarcinoma", line=2, mutations=[], prior_therapies=["carboplatin", "docetaxel"]))
    assert {"anlotinib", "apatinib"}.isdisjoint(ids(res))


def test_anlotinib_notes_alter0303(kb):
    res = kb.evaluate(lung(histology="adenocarcinoma", line=3, mutations=[], prior_therapies=["docetaxel"]))
    anlo = next(r for r in res.recommendations if r.id == "anlotinib")
    assert anlo.rule.id == "antiangiogenic.third_line.anlotinib"
    assert any("ALTER0303" in n for n in anlo.notes)


# ---- seed 002: IMforte --------------------------------------------------------------------------

# The induction's drugs are recorded as prior therapies (no targeted drug): 初治 ES-SCLC, not a small-cell
# transformation after targeted therapy (read differently before: unrecorded therapies counted as none).
def es_sclc(**kw):
    return lung(**{"histology": "sclc", "sclc_stage": "extensive", "line": 1, "ecog": 1,
                   "induction_regimen": ["atezolizumab", "carboplatin", "etoposide"],
                   "prior_therapies": ["atezolizumab", "carboplatin", "etoposide"],
                   "induction_cycles": 4, "induction_response": "pr", **kw})


@pytest.mark.parametrize("response", ["cr", "pr", "sd"])
def test_imforte_maintenance(kb, response):
    res = kb.evaluate(es_sclc(induction_response=response))
    assert graded(res) == g(LURBI_ATEZO)
    rec = res.recommendations[0]
    assert rec.rule.id == "imforte.maintenance.lurbinectedin_atezolizumab"
    assert rec.setting == "es_sclc_first_line_maintenance"
    assert rec.source.document == "002_02962377e6049bbb.txt"
    assert any("5.4 vs 2.1" in n and "HR 0.54" in n and "13.2 vs 10.6" in n and "HR 0.73" in n for n in rec.notes)
    assert any("83.5%" in n and "25.6%" in n for n in rec.notes)


def test_imforte_without_line_is_possible(kb):
    # 一线维持治疗: line 1 must be recorded (read differently before: an unrecorded line counted as first line)
    rec = es_sclc()
    del rec["line"]
    res = kb.evaluate(rec)
    assert graded(res) == set()
    assert {p.id: p.missing for p in res.possible}[LURBI_ATEZO] == ["line"]


def test_imforte_without_prior_therapies_is_possible(kb):
    # therapies unrecorded: the SCLC may have transformed after targeted therapy (not 初治); recorded without
    # a targeted drug, or transformation: none, it is the trial's population
    rec = es_sclc()
    del rec["prior_therapies"]
    res = kb.evaluate(rec)
    assert graded(res) == set()
    # relevance first: transformation applies only after targeted therapy, so the therapies are the question
    assert set({p.id: p.missing for p in res.possible}[LURBI_ATEZO]) == {"prior_therapies"}
    assert LURBI_ATEZO in ids(kb.evaluate({**rec, "transformation": "none"}))


@pytest.mark.parametrize("change", [
    {"induction_response": "pd"},                                            # progression
    {"sclc_stage": "limited"},                                               # limited stage
    {"induction_regimen": ["durvalumab", "carboplatin", "etoposide"]},      # other ICI
    {"induction_regimen": ["atezolizumab", "cisplatin", "etoposide"]},      # cisplatin, not carboplatin
    {"induction_regimen": ["carboplatin", "etoposide"]},                    # chemotherapy alone
    {"induction_cycles": 3},                                                 # fewer cycles
    {"induction_cycles": 5},                                                 # not the trial's four cycles
    {"line": 2},                                                             # a later line, not maintenance
    {"histology": "adenocarcinoma"},                                         # not SCLC
])
def test_imforte_does_not_fire(kb, change):
    res = kb.evaluate(es_sclc(**change))
    if change == {"induction_response": "pd"}:
        # progression during first-line induction is primary-refractory SCLC (seed 000 §二 (1), issue 10):
        # refractory lung cancer, so Table 6 applies; still no maintenance, and no Table 3 row at line 1
        assert graded(res) == TABLE6
    else:
        assert graded(res) == set()


@pytest.mark.parametrize("cycles,fires", [(3, False), (4, True), (5, False)])
def test_imforte_cycle_boundary(kb, cycles, fires):
    assert (LURBI_ATEZO in ids(kb.evaluate(es_sclc(induction_cycles=cycles)))) is fires


def test_imforte_missing_response_is_possible(kb):
    rec = es_sclc()
    del rec["induction_response"]
    res = kb.evaluate(rec)
    assert graded(res) == set()
    assert [p.missing for p in res.possible if p.id == LURBI_ATEZO] == [["induction_response"]]


def test_imforte_refractory_relapse_is_not_maintenance(kb):
    # the same patient later: relapsed 45 days after first line, choosing second line -> Table 3
    # of seed 000 (and Table 6 for any refractory lung cancer), no maintenance
    res = kb.evaluate(es_sclc(line=2, tfi="45d", prior_therapies=["atezolizumab", "carboplatin", "etoposide"]))
    assert LURBI_ATEZO not in ids(res)
    assert graded(res) == SECOND_LINE | TABLE6  # seed 000 Table 3 (second line) and Table 6
