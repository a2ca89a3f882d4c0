"""Where documents meet (issue 4): a contraindication of one removes a regimen another
recommends; a resistance alteration found on re-testing decides a stratum of another; a
histological transformation reaches the SCLC-type regimen — all visible in explain/why-not."""
from support import graded, lung

SQUAMOUS_EGFR_EXHAUSTED = lung(histology="squamous", mutations=["egfr_19del"], prior_therapies=["osimertinib"],
                               progression="extensive", rebiopsy_after_progression=True, transformation="none", line=2)
TABLE4_ROW = "bevacizumab+cisplatin+pemetrexed+sintilimab"


def test_seed001_contraindication_removes_a_seed000_table4_row(kb):
    res = kb.evaluate(SQUAMOUS_EGFR_EXHAUSTED)
    assert TABLE4_ROW not in {r.id for r in res.recommendations}
    removed = {c.id: c for c in res.contraindicated}
    row = removed[TABLE4_ROW]
    assert row.rule.id == "antiangiogenic.bevacizumab_squamous" and "squamous" in row.reason
    assert row.source.document == "001_585727c46d7c405b.txt"
    assert row.recommended_by.rule.id == "nsclc.driver_positive.extensive_progression.sintilimab_bevacizumab_chemo"
    assert row.recommended_by.source.document == "000_5cbf5f071b6601f8.txt"
    # the rest of the Table 4 stratum stands
    assert {("cisplatin+pemetrexed", "moderate", "I", 76), ("carboplatin+pemetrexed+toripalimab", "weak", "V", 66),
            ("anlotinib+pd1_inhibitor", "weak", "IV", 60)} <= graded(res)
    assert [n.id for n in res.not_recommended] == ["adc"]


def test_explain_and_why_not_show_the_removal(kb):
    ex = kb.explain(SQUAMOUS_EGFR_EXHAUSTED, TABLE4_ROW)
    assert ex.holds is False and [r.rule.id for r in ex.removed_by] == ["antiangiogenic.bevacizumab_squamous"]
    assert ex.removed_by[0].proof.children[0].conclusion == "squamous_nsclc"
    wn = kb.why_not(SQUAMOUS_EGFR_EXHAUSTED, TABLE4_ROW)
    assert wn.attempts[0].removed_by[0].reason.startswith("not suitable for squamous NSCLC")


def test_a_squamous_transformation_also_contraindicates_bevacizumab(kb):
    record = lung(histology="adenocarcinoma", mutations=["egfr_19del"], prior_therapies=["gefitinib"],
                  transformation="squamous", progression="extensive", line=2)
    res = kb.evaluate(record)
    assert not any("bevacizumab" in r.items for r in res.recommendations)
    assert {c.id for c in res.contraindicated} >= {"bevacizumab+carboplatin+paclitaxel"}


def test_transformation_reaches_the_sclc_type_regimen_across_documents(kb):
    record = lung(histology="adenocarcinoma", mutations=["egfr_19del"], prior_therapies=["gefitinib"],
                  transformation="sclc", progression="extensive", line=2)
    assert ("etoposide+platinum", "moderate", "IV", 97) in graded(kb.evaluate(record))
    proof = kb.explain(record, "etoposide+platinum").proof
    chain, node = [], proof
    while node.children:
        node = next(c for c in node.children if c.children or c.conclusion == "histological_transformation_after_egfr_tki")
        chain.append((node.conclusion, node.source.document))
        if node.conclusion == "histological_transformation_after_egfr_tki":
            break
    assert chain[-1] == ("histological_transformation_after_egfr_tki", "004_8bb2e937b9faae13.txt")
    assert ("refractory_driver_positive_nsclc", "000_5cbf5f071b6601f8.txt") in chain


def test_t790m_blocks_the_no_targeted_option_stratum_and_why_not_names_it(kb):
    record = lung(histology="adenocarcinoma", mutations=["egfr_19del", "egfr_t790m"], prior_therapies=["gefitinib"],
                  progression="extensive", rebiopsy_after_progression=True, transformation="none", line=2)
    res = kb.evaluate(record)
    assert ("osimertinib", None, None, None) in graded(res)
    assert "cisplatin+pemetrexed" not in {r.id for r in res.recommendations}
    text = kb.why_not(record, "extensive_progression_without_targeted_option").to_json()
    assert "egfr_t790m_after_early_generation_tki" in text and "egfr_t790m" in text
