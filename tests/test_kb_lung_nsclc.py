"""Refractory NSCLC (seed 000 §二 (2)(3), §四, §五, Tables 4 and 5) and strategies after resistance
to targeted therapy (seed 004).

Every stratum has a patient whose recommendation set (id, strength, evidence, consensus) is asserted
exactly. Other files of the knowledge base (e.g. seed 001, anti-angiogenic combinations) also speak
of NSCLC; the exact sets here are over the recommendations citing seeds 000 and 004, the two
documents these rules encode, so that another document's rules do not change them.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from support import EXAMPLES, graded, ids, lung

SEED_000 = "000_5cbf5f071b6601f8.txt"
SEED_004 = "004_8bb2e937b9faae13.txt"

# Table 6 rows that fire for every refractory lung cancer (central_airway_stenosis false).
PRECISION = {
    ("organoid_drug_screening", "moderate", "II", 64),
    ("minipdx_testing", "moderate", "II", 66),
}
CONFIRM = ("confirm_progression", None, None, None)          # 004 §一, any progression on TKI
NO_TARGET_CHEMO = ("chemotherapy", None, None, None)         # 004 §七

EXON20INS = {
    ("sunvozertinib", "moderate", "V", 96),
    ("amivantamab", "moderate", "III", 84),
}
HER2 = {
    ("pyrotinib", "moderate", "V", 86),
    ("trastuzumab_deruxtecan", "moderate", "III", 96),
    ("trastuzumab_emtansine", "moderate", "III", 96),
}
TRANSFORMATION = {("etoposide+platinum", "moderate", "IV", 97)}
EXTENSIVE_NO_TARGET = {
    ("cisplatin+pemetrexed", "moderate", "I", 76),
    ("bevacizumab+cisplatin+pemetrexed+sintilimab", "moderate", "I", 77),
    ("carboplatin+pemetrexed+toripalimab", "weak", "V", 66),
    ("anlotinib+pd1_inhibitor", "weak", "IV", 60),
}
DP_THIRD_LINE = {("anlotinib", "moderate", "I", 72)}
DN_SWITCH = {
    ("docetaxel", "strong", "II", 98),
    ("anlotinib+docetaxel", "strong", "II", 92),
    ("docetaxel+nintedanib", "moderate", "III", 92),
    ("docetaxel+ramucirumab", "moderate", "IV", 92),
}
DN_CROSS_LINE = {
    ("pembrolizumab+ramucirumab", "strong", "II", 80),
    ("chemotherapy+pembrolizumab", "strong", "II", 88),
    ("anlotinib+sintilimab", "moderate", "V", 80),
    ("anlotinib+pembrolizumab", "moderate", "V", 80),
    ("anlotinib+tislelizumab", "moderate", "V", 80),
    ("anlotinib+durvalumab", "moderate", "V", 80),
}
DN_THIRD_LINE = {("anlotinib", "strong", "I", 90)}


def ours(result):
    """The recommendations that cite seed 000 or seed 004, in a result-like object for `graded`."""
    keep = [r for r in result.recommendations if r.source.document in (SEED_000, SEED_004)]
    return SimpleNamespace(recommendations=keep)


def graded_ours(kb, record) -> set[tuple]:
    return graded(ours(kb.evaluate(record)))


def not_recommended(result) -> set[tuple]:
    return {(r.id, r.consensus) for r in result.not_recommended}


def possible_ids(result) -> set[str]:
    return {p.id for p in result.possible}


def texts(node) -> list[str]:
    """Every condition text of a why-not answer, depth first (attempts, proofs and children)."""
    out = []
    for cond in list(getattr(node, "failed", [])) + list(getattr(node, "conditions", [])):
        out.append(cond.text)
    for child in list(getattr(node, "attempts", [])) + list(getattr(node, "children", [])):
        out.extend(texts(child))
    return out


# ---- patients -------------------------------------------------------------------------------

def egfr_after_tki(**attrs) -> dict:
    """EGFR-mutant adenocarcinoma, extensive progression on osimertinib, re-tested, no new target."""
    base = dict(histology="adenocarcinoma", mutations=["egfr_l858r"], prior_therapies=["osimertinib"],
                progression="extensive", rebiopsy_after_progression=True, transformation="none",
                central_airway_stenosis=False, pd_l1_tps="10%", line=2, ecog=1)
    base.update(attrs)
    return lung(**base)


def driver_negative(**attrs) -> dict:
    """Driver-negative adenocarcinoma, extensive progression after first-line ICI + chemotherapy."""
    base = dict(histology="adenocarcinoma", mutations=[], prior_therapies=["pembrolizumab", "carboplatin", "pemetrexed"],
                progression="extensive", central_airway_stenosis=False, line=2, ecog=1)
    base.update(attrs)
    return lung(**base)


def rare_driver(mutation: str, **attrs) -> dict:
    base = dict(histology="adenocarcinoma", mutations=[mutation], prior_therapies=["carboplatin", "pemetrexed"],
                progression="extensive", central_airway_stenosis=False, line=2, ecog=1)
    base.update(attrs)
    return lung(**base)


# ---- definitions (§二 (2)(3)) --------------------------------------------------------------------

# The decision tables (patient -> recommendations, concepts) are in facts/lung/nsclc_*.tests.yaml and
# facts/lung/resistance.tests.yaml; here: which rule proves what, why-not texts, notes, sources, catalogue.

def test_rare_drivers_are_refractory_driver_positive(kb):
    proof = kb.explain(rare_driver("egfr_exon20ins"), "refractory_driver_positive_nsclc")
    assert proof.holds and proof.proof.rule.id == "refractory_driver_positive_nsclc.rare_driver"


def test_refractory_lung_cancer_holds_for_each_nsclc_subtype(kb):
    for record, rule in ((rare_driver("her2_mutation"), "refractory_lung_cancer.driver_positive"),
                         (driver_negative(), "refractory_lung_cancer.driver_negative")):
        proof = kb.explain(record, "refractory_lung_cancer")
        assert proof.holds and proof.proof.rule.id == rule


def test_transformation_with_histology_recorded_as_sclc(kb):
    """After transformation the record may name the new histology; the EGFR-TKI stands for the driver."""
    res = kb.evaluate(egfr_after_tki(histology="sclc", transformation="sclc"))
    assert "nsclc" not in res.derived
    assert {"refractory_driver_positive_nsclc", "nsclc_transformation_second_line"} <= set(res.derived)
    assert TRANSFORMATION <= graded_ours(kb, egfr_after_tki(histology="sclc", transformation="sclc"))


# ---- Table 4 strata ------------------------------------------------------------------------------

def test_extensive_progression_lacking_targets_proof(kb):
    record = egfr_after_tki()
    proof = kb.explain(record, "refractory_driver_positive_nsclc")
    assert proof.proof.rule.id == "refractory_driver_positive_nsclc.extensive_progression"


# ---- Table 5 strata ------------------------------------------------------------------------------

# ---- unknowns ------------------------------------------------------------------------------------

def test_no_rebiopsy_does_not_conclude_lacking_targets(kb):
    # no re-biopsy: no transformation status either (a recorded one implies the re-biopsy, see below)
    record = egfr_after_tki(mutations=["egfr_19del"], prior_therapies=["gefitinib"], rebiopsy_after_progression=False,
                            transformation=None)
    res = kb.evaluate(record)
    assert "targeted_options_exhausted" not in res.derived
    assert "refractory_driver_positive_nsclc" not in res.derived
    assert not {r[0] for r in EXTENSIVE_NO_TARGET} & (ids(res) | possible_ids(res))
    assert graded(ours(res)) == {CONFIRM, ("rebiopsy", None, None, None)}
    assert not_recommended(res) == set()
    why = kb.why_not(record, "cisplatin+pemetrexed")
    assert not why.holds
    assert any(t.startswith("rebiopsy_after_progression") for t in texts(why))


# Data that implies other data (issue 10): what only a re-test after progression can find means the
# re-test was done (seed 004 §二, §三, §六) — rebiopsy_done, declared in resistance.rules.


# ---- seed 004: resistance --------------------------------------------------------------------------

def test_t790m_blocks_the_lacking_targets_stratum(kb):
    record = egfr_after_tki(mutations=["egfr_19del", "egfr_t790m"], prior_therapies=["gefitinib"])
    for goal in ("cisplatin+pemetrexed", "nsclc_extensive_progression_no_targeted_option_second_line",
                 "refractory_driver_positive_nsclc"):
        why = kb.why_not(record, goal)
        assert not why.holds
        assert "not egfr_t790m_after_early_generation_tki (holds)" in texts(why), goal
    proof = kb.explain(record, "later_line_targeted_option")
    assert proof.proof.rule.id == "later_line_targeted_option.egfr_t790m"


@pytest.mark.parametrize("mutation, concept, regimen, prior", [
    ("met_amplification", "met_amplification_after_egfr_tki", "egfr_tki+met_inhibitor", ["osimertinib"]),
    ("braf_v600e", "braf_v600e_after_egfr_tki", "braf_inhibitor+mek_inhibitor", ["afatinib"]),
])
def test_bypass_and_cross_pathway_alterations(kb, mutation, concept, regimen, prior):
    record = egfr_after_tki(mutations=["egfr_19del", mutation], prior_therapies=prior)
    res = kb.evaluate(record)
    why = kb.why_not(record, "cisplatin+pemetrexed")
    assert f"not {concept} (holds)" in texts(why)
    rec = next(r for r in res.recommendations if r.id == regimen)
    assert rec.source.document == SEED_004 and rec.strength is None and rec.evidence is None and rec.notes


def test_acquired_her2_after_egfr_tki_is_the_no_target_stratum_with_its_adc_refusal(kb):
    """Issue 10: Table 4's HER2 row is for 对标准治疗反应低 rare-driver NSCLC (§四: HER2 as the primary driver,
    first line as for driver-negative NSCLC, ORR<30%). A HER2 mutation acquired next to EGFR L858R after
    osimertinib is 靶向治疗进展后 — extensive progression with no seed-000 targeted regimen — so it is the
    广泛进展缺乏后线靶向治疗方案 stratum, with its ADC not-recommendation (§四(二)2(5), 54%).
    (Before, it was sent to the HER2 row at that row's grading and escaped the refusal.)
    (The decision itself: facts/lung/resistance.tests.yaml; here the refusal's note.)"""
    record = egfr_after_tki(mutations=["egfr_l858r", "her2_mutation"])
    res = kb.evaluate(record)
    adc = res.not_recommended[0]
    assert any("acquired on an EGFR-TKI" in n for n in adc.notes)


def test_her2_with_unknown_prior_therapies_leaves_the_adc_refusal_pending(kb):
    """No EGFR driver: the HER2 row applies whatever was given. But with prior therapies unknown
    the patient may have progressed on an EGFR-TKI, where §四(二)2(5) does not recommend ADCs
    (54%): the ADC rows stay recommended (their own rule holds), each naming that statement as
    pending, and the statement itself is possibly not recommended, naming the data."""
    res = kb.evaluate(rare_driver("her2_mutation", prior_therapies=None))
    for rec in res.recommendations:
        if rec.id in ("trastuzumab_deruxtecan", "trastuzumab_emtansine"):
            assert [(x.kind, x.rule.id) for x in rec.pending] == [
                ("not_recommended", "nsclc.driver_positive.extensive_progression.not_recommended.adc")]
            assert "prior_therapies" in rec.pending[0].missing
        else:
            assert rec.pending == []


def test_every_alteration_keeps_later_line_option_and_exhausted_in_step(kb):
    """targeted_options_exhausted spells out `not later_line_targeted_option`: the two must agree."""
    cases = [(["egfr_19del", "egfr_t790m"], ["gefitinib"]), (["egfr_19del", "egfr_t790m"], ["afatinib"]),
             (["egfr_19del", "egfr_t790m"], ["gefitinib", "osimertinib"]), (["egfr_19del", "met_amplification"], ["osimertinib"]),
             (["egfr_19del", "braf_v600e"], ["osimertinib"]), (["egfr_19del", "her2_mutation"], ["osimertinib"]),
             (["egfr_19del", "egfr_c797s"], ["osimertinib"]), (["egfr_19del"], ["gefitinib"])]
    for mutations, prior in cases:
        derived = set(kb.evaluate(egfr_after_tki(mutations=mutations, prior_therapies=prior)).derived)
        assert ("later_line_targeted_option" in derived) != ("targeted_options_exhausted" in derived), (mutations, prior)


def test_resistance_rules_cite_seed_004_ungraded(kb):
    res = kb.evaluate(egfr_after_tki(progression="oligo", pd_l1_tps="80%"))
    for rec in res.recommendations:
        if rec.rule.id.startswith("resistance."):
            assert rec.source.document == SEED_004
            assert (rec.strength, rec.evidence, rec.consensus) == (None, None, None)


# ---- the bundled examples ---------------------------------------------------------------------------

# ---- ALK and ROS1 (issue 10): §二's definitions are not EGFR-only ------------------------------------
# Seed 000 §二 (2): 驱动基因阳性NSCLC靶向治疗后组织学转化、广泛进展后缺乏后线靶向治疗方案 — any driver;
# seed 004 §四: 针对ALK、ROS1等靶点的药物也发展出了二代、三代，专门应对不同的耐药突变.
ALK_NEXT = ("alk_tki_third_generation", None, None, None)
ALK_SECOND = ("alk_tki_second_generation", None, None, None)
ROS1_NEXT = ("ros1_tki_next_generation", None, None, None)


def alk_after(prior, **attrs) -> dict:
    return egfr_after_tki(mutations=["alk_fusion"], prior_therapies=prior, **attrs)


def test_alk_after_lorlatinib_third_line_example(kb):
    assert kb.explain(EXAMPLES / "nsclc_alk_after_lorlatinib_third_line.yaml", "targeted_options_exhausted").proof.rule.id \
        == "targeted_options_exhausted.alk"


def test_alk_transformation_uses_the_egfr_row_with_a_note(kb):
    record = alk_after(["alectinib"], histology="sclc", transformation="sclc")
    res = kb.evaluate(record)
    row = next(r for r in res.recommendations if r.id == "etoposide+platinum")
    assert row.rule.id == "nsclc.driver_positive.transformation.etoposide_platinum.alk_ros1"
    assert any(n.startswith("outside the row's population") for n in row.notes)
    # after an EGFR-TKI the row is used as written, without that note
    egfr = kb.evaluate(egfr_after_tki(transformation="sclc"))
    row = next(r for r in egfr.recommendations if r.id == "etoposide+platinum")
    assert row.rule.id == "nsclc.driver_positive.transformation.etoposide_platinum"
    assert not any("outside" in n for n in row.notes)


def test_catalogue_has_alk_ros1_tkis_and_sorafenib(kb):
    checked = kb.compiled.checked
    expected = {"crizotinib": ("克唑替尼", {"alk_tki", "ros1_tki", "met_inhibitor"}),
                "alectinib": ("阿来替尼", {"alk_tki_second_generation"}),
                "brigatinib": ("布格替尼", {"alk_tki_second_generation"}),
                "ceritinib": ("塞瑞替尼", {"alk_tki_second_generation"}),
                "ensartinib": ("恩沙替尼", {"alk_tki_second_generation"}),
                "lorlatinib": ("洛拉替尼", {"alk_tki_third_generation", "ros1_tki"}),
                "entrectinib": ("恩曲替尼", {"ros1_tki"}),
                "sorafenib": ("索拉非尼", {"anti_angiogenic", "targeted_therapy"})}
    for drug, (zh, classes) in expected.items():
        item = checked.items[drug]
        assert item.kind == "drug" and dict(item.labels)["zh"] == zh, drug
        assert classes <= set(checked.ancestors(drug)), drug
        assert "targeted_therapy" in checked.ancestors(drug)
    for cls in ("alk_tki", "ros1_tki"):
        assert checked.items[cls].kind == "class" and "zh" in dict(checked.items[cls].labels)


def test_every_drug_the_seeds_name_is_in_the_catalogue(kb):
    """Every drug and class of the catalogue has a zh label; the seeds' drug names (zh) are all there."""
    import glob
    import re
    labels = {dict(i.labels).get("zh") for i in kb.compiled.checked.items.values()}
    assert None not in labels
    text = "".join(open(f, encoding="utf-8").read() for f in glob.glob("/work/shared/seeds/*.txt")) \
        if glob.glob("/work/shared/seeds/*.txt") else ""
    text = re.sub(r"\s", "", text)
    named = ["拓扑替康", "氨柔比星", "卢比替定", "苯达莫司汀", "伊立替康", "多西他赛", "紫杉醇", "依托泊苷", "培美曲塞",
             "顺铂", "卡铂", "吉西他滨", "环磷酰胺", "多柔比星", "长春新碱", "安罗替尼", "阿帕替尼", "索凡替尼", "贝伐珠单抗",
             "雷莫西尤单抗", "尼达尼布", "仑伐替尼", "派安普利单抗", "特瑞普利单抗", "卡瑞利珠单抗", "信迪利单抗",
             "帕博利珠单抗", "替雷利珠单抗", "度伐利尤单抗", "阿替利珠单抗", "纳武利尤单抗", "吉非替尼", "厄洛替尼",
             "阿法替尼", "奥希替尼", "舒沃替尼", "吡咯替尼", "德喜曲妥珠单抗", "恩美曲妥珠单抗"]
    for name in named:
        if text:
            assert name in text, name        # the list is the seeds' own words
        assert name in labels, name
